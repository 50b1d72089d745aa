import { readFileSync } from "node:fs";
import { parse as parseToml } from "smol-toml";
// zod/mini: the same validators without the method-chaining classes; full zod was
// ~580 KB of the ~850 KB bridge bundle and ~5 MiB of resident memory at start.
import * as z from "zod/mini";
// zod/mini loads no locale (messages would be "Invalid input"); the English one
// is passed per parse so the field errors read as before, without global config.
import en from "zod/v4/locales/en.js";
import { isIP } from "node:net";
import type { PoolOptions } from "./ajp/pool.ts";
import type { MemberSpec } from "./balancer.ts";
import { duplicateRoute, lbsetSchema, loadfactorSchema, redirectProblem, routeSchema, statusSchema } from "./member-rules.ts";
import { MAX_PACKET_SIZE, MIN_PACKET_SIZE } from "./ajp/codes.ts";
import { ConfigError, type ConfigProblem } from "../common/errors.ts";
import { secretProblem } from "../common/secret.ts";
import { resolvePaths, type PathMap } from "../common/path-map.ts";
import { LOG_LEVELS, type LogLevel } from "./log.ts";

/**
 * The bridge's whole configuration, declared once. Names follow Apache's
 * BalancerMember/ProxySet keys (timeout, ttl, smax, retry, loadfactor, route,
 * lbset, status, ping, connectiontimeout) so an Apache config maps line by line;
 * durations are in seconds like Apache's, fractions allowed.
 *
 * Secrets never live in the file: it names environment variables instead.
 */

const seconds = (max: number) => z.number().check(z.gte(0), z.lte(max));
const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/;
const hostPortPattern = z.regex(HOST_PORT, 'expected "host:port", e.g. "10.20.30.213:8009" or "[::1]:8009"');
const portIn = (lo: number) =>
  z.refine((v: unknown) => {
    const s = String(v);
    const port = Number(s.slice(s.lastIndexOf(":") + 1));
    return port >= lo && port <= 65535;
  }, `port must be ${lo}..65535`);
/** Where to listen: port 0 = any free one. */
const hostPort = z.string().check(hostPortPattern, portIn(0));
/** A node: `ajp://host:port`, `http://host:port`, or plain `host:port` (AJP, as configs before HTTP members). */
const nodeAddress = z.string().check(
  z.refine(
    (v: unknown) => HOST_PORT.test(String(v).replace(/^(ajp|http):\/\//, "")),
    'expected "ajp://host:port", "http://host:port" or "host:port" (AJP), e.g. "http://10.20.30.213:8009"',
  ),
  portIn(1),
);
export type MemberKind = "ajp" | "http";
/** Options that only an AJP member has; on an HTTP member they would silently mean nothing. */
const AJP_ONLY = ["secret_env", "ping", "packet_size", "smax"] as const;
/** Options that only an HTTP member has. */
const HTTP_ONLY = ["probe", "probe_timeout"] as const;
const probeSpec = z.string().check(z.regex(/^(GET|HEAD|OPTIONS) \/[^\s]*$/, 'expected "METHOD /path" with GET, HEAD or OPTIONS, e.g. "GET /"'));

/** An address or a CIDR block, IPv4 or IPv6, as BlockList takes them. */
const ipOrCidr = z.string().check(
  z.refine((v) => {
    const [addr, bits, extra] = v.split("/");
    const family = isIP(addr);
    if (!family || extra !== undefined) return false;
    if (bits === undefined) return true;
    return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 6 ? 128 : 32);
  }, 'expected an IP address or a CIDR block, e.g. "192.168.0.0/16" or "2001:db8::/32"'),
);
const envName = z.string().check(z.regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "expected an environment variable name"));
const pathPrefix = z.string().check(z.regex(/^\/[^/?#;%]*(\/[^/?#;%]+)*$/, 'expected an absolute path like "/ajax", no trailing slash'));
/** Classic zod's `z.number().int().min(lo).max(hi)`. */
const intIn = (lo: number, hi: number) => z.number().check(z.int(), z.gte(lo), z.lte(hi));

/**
 * One member, validated and turned into what its users take: the balancer's
 * spec and the transport's pool options. A new member option is its line
 * here and its use where it matters; nothing copies it on the way.
 */
const memberSchema = z.pipe(
  z.strictObject({
    route: routeSchema,
    address: nodeAddress,
    loadfactor: z._default(loadfactorSchema, 1),
    lbset: z._default(lbsetSchema, 0),
    /** Apache's status flags, e.g. "+H" (member-rules.ts). */
    status: z.prefault(statusSchema, ""),
    redirect: z.optional(routeSchema),
    /** AJP secret (Tomcat's connector `secret`), taken from this environment variable. */
    secret_env: z.optional(envName),
    /** Reply timeout: longest wait for the next packet (AJP) or the headers and each body read (HTTP). */
    timeout: z._default(seconds(86_400), 100),
    connectiontimeout: z._default(seconds(600), 5),
    /** Idle connections older than this are closed (keep below the node's keep-alive). */
    ttl: z._default(seconds(86_400), 60),
    /** Idle AJP connections kept regardless of ttl. */
    smax: z.optional(intIn(0, 10_000)),
    /** Hard cap of connections to this node. */
    max: z._default(intIn(1, 10_000), 64),
    /** CPing timeout before each reuse of a pooled AJP connection; 0 = off (Apache's `ping`). */
    ping: z.optional(seconds(60)),
    /** How long a request may wait for a free connection when all `max` are busy. */
    acquire: z._default(seconds(600), 5),
    /** How many requests may wait for a connection at once; beyond that 503 at once. */
    queue: z._default(intIn(0, 100_000), 256),
    packet_size: z.optional(intIn(MIN_PACKET_SIZE, MAX_PACKET_SIZE)),
    /** HTTP members: the health request (instead of CPing), e.g. "GET /healthcheck". */
    probe: z.optional(probeSpec),
    /** HTTP members: seconds the health request may take. */
    probe_timeout: z.optional(z.number().check(z.gt(0), z.lte(60))),
  }),
  z.transform((m, ctx) => {
    const kind: MemberKind = m.address.startsWith("http://") ? "http" : "ajp";
    for (const key of kind === "http" ? AJP_ONLY : HTTP_ONLY) {
      if (m[key] !== undefined) ctx.issues.push({ code: "custom", path: [key], input: m[key], message: `only ${kind === "http" ? "AJP" : "HTTP"} members have ${key} (this member's address is ${kind})` });
    }
    const { host, port } = splitHostPort(m.address);
    const packetSize = m.packet_size ?? 8192;
    const [probeMethod, probePath] = (m.probe ?? "GET /").split(" ");
    return {
      route: m.route,
      kind,
      host,
      port,
      secretEnv: m.secret_env,
      spec: { route: m.route, loadfactor: m.loadfactor, lbset: m.lbset, status: m.status, redirect: m.redirect } satisfies MemberSpec,
      timeoutMs: m.timeout * 1000,
      packetSize,
      pool: {
        host,
        port,
        packetSize,
        max: m.max,
        smax: m.smax ?? 0,
        ttlMs: m.ttl * 1000,
        connectTimeoutMs: m.connectiontimeout * 1000,
        pingMs: (m.ping ?? 0) * 1000,
        acquireMs: m.acquire * 1000,
        queue: m.queue,
      } satisfies PoolOptions,
      probe: { method: probeMethod, path: probePath, timeoutMs: (m.probe_timeout ?? 2) * 1000 },
    };
  }),
);

/** Exported for the keys it knows (bridge.example.toml must say each: config-example.test.ts). */
export const configSchema = z.strictObject({
  listen: z._default(hostPort, "127.0.0.1:8009"),
  /** HMAC secret shared with the worker (wrangler secret BRIDGE_SECRET). */
  secret_env: z._default(envName, "OXEDGE_BRIDGE_SECRET"),
  /** Accepted clock skew for the worker's timestamp. */
  signature_window: z._default(seconds(600), 30),
  /** Status JSON and member changes (balancer-manager); off unless set. Keep it on loopback or the LAN. */
  admin_listen: z.optional(hostPort),
  /** Bearer token for admin changes (without it the admin listener is read-only). */
  admin_token_env: z.optional(envName),
  /** Admin changes are kept here and applied over the config file at start (docs/manager.md, State file). */
  admin_state_file: z.optional(z.string().check(z.regex(/^\/[^\0]*[^/]$/, 'expected an absolute file path, e.g. "/var/lib/oxedge/state.json"'))),
  /** Log one line per request (errors are always logged). */
  access_log: z._default(z.boolean(), false),
  /** Lines below this level are not written (debug adds failed health checks of members already down). */
  log_level: z._default(z.enum(LOG_LEVELS), "info"),
  // ---- Paths: what goes to the cluster, what is internal, per-prefix timeouts (common/path-map.ts,
  // docs/paths.md). `paths` is a preset name ("ox6", "appsuite7") or [[paths]] tables (a list may
  // start with a preset name); the older keys below still work with the ox6 preset. Which of them
  // combine, and how, is decided in resolvePaths, so the worker's vars combine the same way.
  paths: z.optional(z.unknown()),
  /** Old form: the cluster prefixes (ox6 preset only). */
  prefixes: z.optional(z.array(pathPrefix).check(z.minLength(1))),
  provisioning: z.optional(
    z.strictObject({
      /** Old form: the internal prefix (ox6 preset only). */
      path: z.optional(pathPrefix),
      /** The allow-list of every internal path without its own. */
      allow: z._default(z.array(ipOrCidr), []),
    }),
  ),
  /**
   * Per-prefix overrides: `timeout` replaces the member's reply timeout (e.g.
   * ActiveSync long polls); `deadline` bounds the whole exchange (a node that
   * drips its answer within `timeout` forever); 0 = no deadline. With a preset
   * name (or none) they change its timeouts; with a list, say them there.
   */
  timeouts: z.optional(z.array(z.strictObject({ prefix: pathPrefix, timeout: z.optional(seconds(86_400)), deadline: z._default(seconds(86_400), 0) }))),
  // ---- end of the path settings
  /**
   * What one client connection may hold (mod_reqtimeout's and Apache's
   * defaults where they have one): the edge is trusted to sign, not to be
   * quick, and a signature says nothing about how slowly a body arrives.
   */
  limits: z.prefault(
    z.strictObject({
      /** From connect (or the end of the previous request) to the end of the request headers. */
      header_timeout: z._default(z.number().check(z.gt(0), z.lte(600)), 20),
      /**
       * An idle keep-alive connection is closed after this long. Whole seconds at least: clients
       * are told `Keep-Alive: timeout=<s>` rounded down, and timeout=0 makes them not reuse it.
       */
      keepalive_timeout: z._default(z.number().check(z.gte(1), z.lte(3600)), 65),
      /** A request body may pause this long; and it must arrive by this long plus 1 s per body_min_rate bytes. */
      body_timeout: z._default(z.number().check(z.gt(0), z.lte(3600)), 20),
      /** Bytes per second a request body must average (0 = only body_timeout between bytes). */
      body_min_rate: z._default(intIn(0, 1_000_000_000), 500),
      /** Client connections at once; beyond it a new connection gets 503 and is closed. */
      max_connections: z._default(intIn(1, 1_000_000), 4096),
      /** A WebSocket side that sends nothing for this long, pings unanswered, is closed. */
      websocket_idle: z._default(z.number().check(z.gt(0), z.lte(86_400)), 60),
      /** Seconds between the pings the bridge sends both ways on a WebSocket (socket.io's own are 25 s). */
      websocket_ping: z._default(z.number().check(z.gt(0), z.lte(3600)), 25),
    }),
    {},
  ),
  balancer: z.prefault(
    z.strictObject({
      retry: z._default(seconds(86_400), 60),
      nofailover: z._default(z.boolean(), false),
      forcerecovery: z._default(z.boolean(), true),
      maxattempts: z.optional(intIn(0, 99)),
      /** Seconds between CPing health checks of every member; 0 = off (a request is the probe, as in Apache). */
      healthcheck: z._default(seconds(3600), 5),
      /** Node-side request failures in a row (protocol error, abort, timeout) that put a member in error for `retry`; 0 = off. */
      fails: z._default(intIn(0, 1000), 5),
    }),
    {},
  ),
  /** Stopping (SIGTERM) and draining removed members: docs/lifecycle.md. */
  lifecycle: z.prefault(
    z.strictObject({
      /** Seconds in-flight requests and WebSockets get to finish before they are cut. */
      grace: z._default(seconds(3600), 30),
    }),
    {},
  ),
  members: z.array(memberSchema).check(z.minLength(1)),
});

/** English issue messages, as full zod gives by default. */
const localeError = en().localeError;

export type BridgeConfigInput = z.input<typeof configSchema>;
type Parsed = z.output<typeof configSchema>;

export type MemberConfig = z.output<typeof memberSchema> & {
  /** The node's AJP secret, from the environment variable secretEnv names. */
  secret: string | undefined;
};

export interface BridgeConfig {
  listenHost: string;
  listenPort: number;
  admin: { host: string; port: number; token: string | undefined; stateFile: string | undefined } | undefined;
  secret: string;
  signatureWindowS: number;
  accessLog: boolean;
  logLevel: LogLevel;
  /** What each path is, who may reach it, per-prefix timeouts: from `paths`, `prefixes`, `provisioning`, `timeouts`. */
  paths: PathMap;
  /** Logged at start: reply timeouts the edge cannot keep. */
  warnings: string[];
  limits: {
    headerTimeoutMs: number;
    keepAliveTimeoutMs: number;
    bodyTimeoutMs: number;
    bodyMinRate: number;
    maxConnections: number;
    websocketIdleMs: number;
    websocketPingMs: number;
  };
  balancer: { retryMs: number; nofailover: boolean; forceRecovery: boolean; maxAttempts?: number; healthcheckMs: number; fails: number };
  lifecycle: { graceMs: number };
  members: MemberConfig[];
}

export { ConfigError };

const INVALID = "invalid bridge config";

function splitHostPort(address: string): { host: string; port: number } {
  const s = address.replace(/^(ajp|http):\/\//, "");
  const i = s.lastIndexOf(":");
  const host = s.slice(0, i).replace(/^\[(.*)\]$/, "$1");
  return { host, port: Number(s.slice(i + 1)) };
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = input;
  for (const k of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
}

function fieldName(path: readonly PropertyKey[]): string {
  return path.reduce<string>((s, k) => (typeof k === "number" ? `${s}[${k}]` : s ? `${s}.${String(k)}` : String(k)), "") || "(top level)";
}

/** Validate a parsed config object; env supplies the secrets it names. Throws ConfigError naming field, value and rule. */
export function buildConfig(input: unknown, env: NodeJS.ProcessEnv = process.env): BridgeConfig {
  const r = configSchema.safeParse(input, { error: localeError });
  if (!r.success) {
    const problems = r.error.issues.map((i) => {
      const value = valueAt(input, i.path);
      return { field: fieldName(i.path), value: value === undefined ? "(missing)" : JSON.stringify(value), rule: i.message };
    });
    throw new ConfigError(INVALID, problems);
  }
  return resolve(r.data, env);
}

function resolve(c: Parsed, env: NodeJS.ProcessEnv): BridgeConfig {
  const problems: ConfigProblem[] = [];
  const secret = env[c.secret_env];
  if (!secret) problems.push({ field: `secret_env`, value: `"${c.secret_env}"`, rule: `that environment variable is empty or unset (it holds the worker↔bridge HMAC secret)` });
  else {
    const weak = secretProblem(secret);
    if (weak) problems.push({ field: `secret_env`, value: `"${c.secret_env}"`, rule: weak });
  }

  const members: MemberConfig[] = c.members.map((m, i) => {
    let secret: string | undefined;
    if (m.secretEnv) {
      secret = env[m.secretEnv];
      if (!secret) problems.push({ field: `members[${i}].secret_env`, value: `"${m.secretEnv}"`, rule: `that environment variable is empty or unset` });
      else if (!/^[\x20-\x7e]+$/.test(secret)) problems.push({ field: `members[${i}].secret_env`, value: `"${m.secretEnv}"`, rule: `an AJP secret must be printable ASCII (Tomcat compares it as such)` });
    }
    return { ...m, secret };
  });
  const paths = resolvePaths({
    field: "paths",
    value: c.paths,
    ip: ipOrCidr,
    defaultAllow: c.provisioning?.allow ?? [],
    cluster: c.prefixes && { field: "prefixes", value: c.prefixes },
    internal: c.provisioning?.path === undefined ? undefined : { field: "provisioning.path", value: [c.provisioning.path] },
    timeouts: c.timeouts && { field: "timeouts", value: c.timeouts },
  });
  if (!paths.ok) problems.push(...paths.problems);
  const dup = duplicateRoute(members.map((m) => m.route));
  if (dup >= 0) problems.push({ field: `members[${dup}].route`, value: `"${members[dup].route}"`, rule: `routes must be unique` });
  const routes = new Set(members.map((m) => m.route));
  members.forEach((m, i) => {
    const p = m.spec.redirect === undefined ? undefined : redirectProblem(m.route, m.spec.redirect, routes);
    if (p) problems.push({ field: `members[${i}].redirect`, value: `"${m.spec.redirect}"`, rule: `${p}` });
  });
  if (c.limits.websocket_ping >= c.limits.websocket_idle) {
    problems.push({ field: "limits.websocket_ping", value: String(c.limits.websocket_ping), rule: `must be shorter than limits.websocket_idle (${c.limits.websocket_idle}): the pings are what a live peer answers` });
  }
  // A WebSocket needs a member that can carry one: AJP has no upgrade.
  const upgraded = paths.ok ? paths.map.rules.filter((r) => r.websocket && r.cluster).map((r) => r.prefix) : [];
  if (upgraded.length > 0 && !members.some((m) => m.kind === "http")) {
    problems.push({ field: "paths", value: JSON.stringify(upgraded), rule: "WebSocket prefixes need at least one HTTP member (AJP carries no WebSocket); add an http:// member or a map without them" });
  }
  if (problems.length || !paths.ok) throw new ConfigError(INVALID, problems);

  let admin: BridgeConfig["admin"];
  if (c.admin_listen) {
    const token = c.admin_token_env ? env[c.admin_token_env] : undefined;
    if (c.admin_token_env && (!token || token.length < 16)) {
      throw new ConfigError(INVALID, [{ field: "admin_token_env", value: `"${c.admin_token_env}"`, rule: "that environment variable must hold at least 16 characters" }]);
    }
    admin = { ...splitHostPort(c.admin_listen), token, stateFile: c.admin_state_file };
  } else if (c.admin_state_file) {
    throw new ConfigError(INVALID, [{ field: "admin_state_file", value: JSON.stringify(c.admin_state_file), rule: "needs admin_listen: the state file keeps the admin listener's changes" }]);
  }
  const listen = splitHostPort(c.listen);
  return {
    listenHost: listen.host,
    listenPort: listen.port,
    admin,
    secret: secret!,
    signatureWindowS: c.signature_window,
    accessLog: c.access_log,
    logLevel: c.log_level,
    paths: paths.map,
    warnings: paths.warnings,
    limits: {
      headerTimeoutMs: c.limits.header_timeout * 1000,
      keepAliveTimeoutMs: c.limits.keepalive_timeout * 1000,
      bodyTimeoutMs: c.limits.body_timeout * 1000,
      bodyMinRate: c.limits.body_min_rate,
      maxConnections: c.limits.max_connections,
      websocketIdleMs: c.limits.websocket_idle * 1000,
      websocketPingMs: c.limits.websocket_ping * 1000,
    },
    balancer: {
      retryMs: c.balancer.retry * 1000,
      nofailover: c.balancer.nofailover,
      forceRecovery: c.balancer.forcerecovery,
      maxAttempts: c.balancer.maxattempts,
      healthcheckMs: c.balancer.healthcheck * 1000,
      fails: c.balancer.fails,
    },
    lifecycle: { graceMs: c.lifecycle.grace * 1000 },
    members,
  };
}

/** Read a TOML (or .json) file and validate it. */
export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): BridgeConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new ConfigError("cannot use the config file", [{ field: "file", value: JSON.stringify(file), rule: `cannot read it: ${(e as Error).message}` }]);
  }
  let data: unknown;
  try {
    data = file.endsWith(".json") ? JSON.parse(text) : parseToml(text);
  } catch (e) {
    throw new ConfigError("cannot use the config file", [{ field: "file", value: JSON.stringify(file), rule: `not valid ${file.endsWith(".json") ? "JSON" : "TOML"}: ${(e as Error).message}` }]);
  }
  return buildConfig(data, env);
}
