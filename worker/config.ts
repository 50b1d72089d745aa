/**
 * Worker configuration: wrangler.toml `[vars]` plus the `BRIDGE_SECRET`
 * secret, validated with zod once per env object (workerd hands every request
 * of an isolate the same env, so this runs once per isolate).
 *
 * A bad value must not turn into odd routing at 3 a.m.: every request then
 * gets a 500 `bad-config` and a log line naming the field, the value (never
 * for secrets) and what is allowed.
 */
// zod/mini: same validators, tree-shakable; the classic API alone would be
// ~750 KB of the bundle, parsed at every cold start.
import * as z from "zod/mini";
import { ipRestriction } from "hono/ip-restriction";
import { ConfigError, type ConfigProblem } from "../common/errors.ts";
import { canonicalPath } from "./canonical.ts";
import { OX_PREFIXES } from "../common/prefixes.ts";
import { PRESET_NAMES, resolvePaths, type PathMap } from "../common/path-map.ts";
import { SECRET_RULE, secretProblem } from "../common/secret.ts";
import { bridgeListProblem, MAX_BRIDGE_WEIGHT, parseBridgeEntry, type BridgeEntry } from "./bridges.ts";

/** The static-assets binding; structurally a Workers `Fetcher`. */
export interface AssetsBinding {
  fetch(request: Request): Promise<Response>;
}

export interface Env {
  ASSETS?: AssetsBinding;
  BRIDGE_SECRET?: string;
  ACCESS_CLIENT_ID?: string;
  ACCESS_CLIENT_SECRET?: string;
  [name: string]: unknown;
}

export interface Config {
  /** Bridge origins (no trailing slash) with their weights, in config order (worker/bridges.ts). */
  bridges: BridgeEntry[];
  /** The origins alone, in config order. */
  bridgeUrls: string[];
  bridgeSecret: string;
  /** Cloudflare Access service token sent on every hand-off, when the bridge's hostname is behind Access. */
  access: { clientId: string; clientSecret: string } | undefined;
  /** What each path is and who may reach it (common/path-map.ts): routing, access and rewrite use only this. */
  paths: PathMap;
  /** Said once per isolate when the config is first used (reply timeouts the edge cannot keep). */
  warnings: string[];
  /** The map's forwarded prefixes: the view CLUSTER_PREFIXES gave, for tools and tests. */
  clusterPrefixes: string[];
  /** The map's internal prefixes: the view PROVISIONING_PATH gave, for tools and tests. */
  provisioningPaths: string[];
  /** IPs / CIDRs, as `hono/ip-restriction` rules: the allow-list of internal rules without their own. Empty = nobody. */
  provisioningAllow: string[];
  stickyCookies: string[];
  stickyPathParam: string;
  stickyQueryParam: string;
  hstsMaxAge: number;
  hstsIncludeSubdomains: boolean;
  debugHeaders: boolean;
  bridgeRetrySkipSeconds: number;
  staticMaxAge: number;
}

export const DEFAULT_CLUSTER_PREFIXES = OX_PREFIXES.join(",");

export { ConfigError };

/** wrangler passes TOML numbers and booleans through as JSON values. */
function text(def: string) {
  return z.pipe(
    z.transform((v: unknown) => (v === undefined || v === null ? def : typeof v === "number" || typeof v === "boolean" ? String(v) : v)),
    z.string("not a string"),
  );
}

const list = (s: string): string[] =>
  s
    .split(",")
    .map((t) => t.trim())
    .filter((t) => t.length > 0);

function listOf<T extends z.ZodMiniType<unknown, string>>(def: string, item: T, minItems: number) {
  return z.pipe(
    z.pipe(text(def), z.transform(list)),
    z.array(item).check(z.minLength(minItems, minItems === 1 ? "empty list" : "too few items")),
  );
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/; // RFC 6265 cookie-name / RFC 9110 token
const PARAM = /^[A-Za-z0-9._~-]*$/;

function integer(def: number, min: number, max: number) {
  return z.pipe(
    z.pipe(text(String(def)).check(z.regex(/^\s*\d+\s*$/, "not a whole number")), z.transform((s: string) => Number(s))),
    z.number().check(z.gte(min, `below ${min}`), z.lte(max, `above ${max}`)),
  );
}

const FLAG_VALUES = ["true", "false", "1", "0", "on", "off", "yes", "no"] as const;

function flag(def: boolean) {
  return z.pipe(
    z.pipe(
      z.pipe(text(def ? "true" : "false"), z.transform((s: string) => s.trim().toLowerCase())),
      z.enum(FLAG_VALUES, "not a boolean"),
    ),
    z.transform((s: (typeof FLAG_VALUES)[number]) => s === "true" || s === "1" || s === "on" || s === "yes"),
  );
}

function param(def: string) {
  return z.pipe(
    z.pipe(text(def), z.transform((s: string) => s.trim())),
    z.string().check(z.regex(PARAM, "invalid parameter name")),
  );
}

/** A path rule is only sound if it is already canonical; otherwise it could never match. */
const canonicalRule = z.string().check(
  z.refine((p: string) => {
    const c = canonicalPath(p, "");
    return c.ok && c.path === p && c.decoded === p && p !== "/" && !p.endsWith("/");
  }, "not a canonical path"),
);

/** One BRIDGE_URLS item, `origin [weight]`; the rule itself is worker/bridges.ts's. */
const bridgeItem = z.string().check(
  z.superRefine((item: string, ctx) => {
    const e = parseBridgeEntry(item);
    if (typeof e === "string") ctx.issues.push({ code: "custom", message: e, input: item });
  }),
);

/** The worker↔bridge secret: common/secret.ts's rule, the bridge applies the same. */
const bridgeSecret = z.string({ error: (iss) => `${iss.input === undefined ? "missing" : "not a string"}; it must be ${SECRET_RULE}` }).check(
  z.superRefine((secret: string, ctx) => {
    const p = secretProblem(secret);
    if (p) ctx.issues.push({ code: "custom", message: p, input: "" });
  }),
);

const optionalSecret = z.optional(z.string("not a string").check(z.minLength(1, "empty")));

function ipRuleValid(rule: string): boolean {
  try {
    // hono/ip-restriction parses rules when the middleware is built and throws
    // on a bad one; reuse that parser instead of keeping a second one here.
    ipRestriction(() => "", { allowList: [rule] });
    return rule !== "*";
  } catch {
    return false;
  }
}

const ipRule = z.string().check(z.refine(ipRuleValid, "not an IP address or CIDR"));
const cookieName = z.string().check(z.regex(TOKEN, "not a cookie name"));

interface FieldSpec {
  schema: z.ZodMiniType;
  allowed: string;
  secret?: boolean;
}

const FIELDS = {
  BRIDGE_URLS: {
    schema: listOf("", bridgeItem, 1),
    allowed: `comma-separated http(s) origins without path, each with an optional weight 0–${MAX_BRIDGE_WEIGHT} after a space (default 1; 0 = standby), e.g. "https://bridge1.example.net 3, https://bridge2.example.net 1"`,
  },
  BRIDGE_SECRET: {
    schema: bridgeSecret,
    allowed: "the bridge's secret, set with `wrangler secret put BRIDGE_SECRET` (locally in .dev.vars)",
    secret: true,
  },
  ACCESS_CLIENT_ID: {
    schema: optionalSecret,
    allowed: "the Client ID of a Cloudflare Access service token (with ACCESS_CLIENT_SECRET), or unset; `wrangler secret put ACCESS_CLIENT_ID`",
    secret: true,
  },
  ACCESS_CLIENT_SECRET: {
    schema: optionalSecret,
    allowed: "the Client Secret of that service token (with ACCESS_CLIENT_ID), or unset; `wrangler secret put ACCESS_CLIENT_SECRET`",
    secret: true,
  },
  // A preset name or a list of rules: JSON text (dashboard, .dev.vars) or, from wrangler.toml, a
  // TOML array of inline tables, which wrangler hands over as JSON. Either way the same rules and
  // field names as the bridge's `paths`, so one map can be copied between the two.
  PATH_MAP: {
    schema: z.optional(z.union([z.string(), z.array(z.unknown())])),
    allowed: `a preset (${PRESET_NAMES.join(", ")}; empty = ox6) or a JSON list of rules like [{"prefix":"/ajax","cluster":true}], optionally starting with a preset name (docs/paths.md)`,
  },
  CLUSTER_PREFIXES: {
    schema: listOf(DEFAULT_CLUSTER_PREFIXES, canonicalRule, 1),
    allowed: "comma-separated canonical paths like /ajax (no trailing /, no %-escapes of unreserved chars, no dot segments); only with the ox6 preset",
  },
  PROVISIONING_PATH: {
    schema: listOf("/servlet/axis2", canonicalRule, 1),
    allowed: "comma-separated canonical paths like /servlet/axis2 (string-prefix match, like httpd <Location>); only with the ox6 preset",
  },
  PROVISIONING_ALLOW: {
    schema: listOf("", ipRule, 0),
    allowed: "comma-separated IPv4/IPv6 addresses or CIDRs (e.g. 192.0.2.10,10.0.0.0/8,2001:db8::/32), or empty for nobody; the allow-list of every internal path without its own",
  },
  STICKY_COOKIES: {
    schema: listOf("JSESSIONID", cookieName, 1),
    allowed: "comma-separated cookie names (HTTP tokens), e.g. JSESSIONID",
  },
  STICKY_PATH_PARAM: {
    schema: param("jsessionid"),
    allowed: "a path parameter name like jsessionid ([A-Za-z0-9._~-]), or empty to ignore path parameters",
  },
  STICKY_QUERY_PARAM: {
    schema: param("jsessionid"),
    allowed: "a query parameter name like jsessionid ([A-Za-z0-9._~-]), or empty to ignore the query",
  },
  HSTS_MAX_AGE: { schema: integer(31536000, 0, 2 ** 31 - 1), allowed: "seconds, 0 to 2147483647 (0 tells browsers to forget HSTS)" },
  HSTS_INCLUDE_SUBDOMAINS: { schema: flag(false), allowed: "true or false" },
  DEBUG_HEADERS: { schema: flag(false), allowed: "true or false" },
  BRIDGE_RETRY_SKIP_SECONDS: { schema: integer(10, 0, 3600), allowed: "seconds, 0 to 3600" },
  STATIC_MAX_AGE: { schema: integer(3600, 0, 31536000), allowed: "seconds, 0 to 31536000" },
} satisfies Record<string, FieldSpec>;

type FieldName = keyof typeof FIELDS;

/** Every var and secret the worker reads, for tools (npm run check:worker). */
export const WORKER_VARS: readonly string[] = Object.keys(FIELDS);
/** The ones that are secrets: `wrangler secret put`, never in wrangler.toml. */
export const WORKER_SECRETS: readonly string[] = (Object.keys(FIELDS) as FieldName[]).filter((n) => (FIELDS[n] as FieldSpec).secret);

function show(name: FieldName, value: unknown): string {
  if ((FIELDS[name] as FieldSpec).secret) {
    return value === undefined ? "(unset)" : `(secret, ${typeof value === "string" ? value.length : "?"} chars)`;
  }
  return value === undefined ? "(unset)" : JSON.stringify(value);
}

export interface ParseOptions {
  /**
   * Validate everything but an unset BRIDGE_SECRET (npm run check:worker: the secret lives in
   * Cloudflare, not in wrangler.toml); the Config then has an empty bridgeSecret.
   */
  secretMayBeUnset?: boolean;
}

/** Parse and validate; throws one ConfigError naming every bad field (the first is `field`). */
export function parseConfig(env: Env, o: ParseOptions = {}): Config {
  const out: Record<string, unknown> = {};
  const problems: ConfigProblem[] = [];
  const bad = (name: FieldName, problem: string) =>
    problems.push({ field: name, value: show(name, env[name]), rule: `${problem ? `${problem}; ` : ""}allowed: ${FIELDS[name].allowed}` });
  for (const name of Object.keys(FIELDS) as FieldName[]) {
    const raw = env[name];
    if (name === "BRIDGE_SECRET" && raw === undefined && o.secretMayBeUnset) {
      out[name] = "";
      continue;
    }
    const r = (FIELDS[name] as FieldSpec).schema.safeParse(raw);
    if (!r.success) {
      const issue = r.error.issues[0];
      let problem = issue?.message && issue.message !== "Invalid input" ? issue.message : "";
      const index = issue?.path[0];
      // In a list, say which item is wrong (never for secrets: none is a list).
      if (typeof index === "number" && typeof raw === "string") problem = `item ${JSON.stringify(list(raw)[index])}: ${problem}`;
      bad(name, problem);
      continue;
    }
    out[name] = r.data;
  }
  let bridges: BridgeEntry[] = [];
  if (out.BRIDGE_URLS) {
    bridges = (out.BRIDGE_URLS as string[]).map((item) => parseBridgeEntry(item) as BridgeEntry);
    const p = bridgeListProblem(bridges);
    if (p) bad("BRIDGE_URLS", p);
  }
  if ((out.ACCESS_CLIENT_ID === undefined) !== (out.ACCESS_CLIENT_SECRET === undefined) && !problems.some((p) => p.field.startsWith("ACCESS_"))) {
    bad(out.ACCESS_CLIENT_ID === undefined ? "ACCESS_CLIENT_ID" : "ACCESS_CLIENT_SECRET", "a service token is both ACCESS_CLIENT_ID and ACCESS_CLIENT_SECRET; only the other one is set");
  }
  if (problems.length) throw new ConfigError("invalid worker config", problems);
  const paths = pathsFrom(env, out);
  const clientId = out.ACCESS_CLIENT_ID as string | undefined;
  const clientSecret = out.ACCESS_CLIENT_SECRET as string | undefined;
  return {
    bridges,
    bridgeUrls: bridges.map((b) => b.url),
    bridgeSecret: out.BRIDGE_SECRET as string,
    access: clientId !== undefined && clientSecret !== undefined ? { clientId, clientSecret } : undefined,
    paths: paths.map,
    warnings: paths.warnings,
    clusterPrefixes: paths.map.clusterPrefixes,
    provisioningPaths: paths.map.internalPrefixes,
    provisioningAllow: out.PROVISIONING_ALLOW as string[],
    stickyCookies: out.STICKY_COOKIES as string[],
    stickyPathParam: out.STICKY_PATH_PARAM as string,
    stickyQueryParam: out.STICKY_QUERY_PARAM as string,
    hstsMaxAge: out.HSTS_MAX_AGE as number,
    hstsIncludeSubdomains: out.HSTS_INCLUDE_SUBDOMAINS as boolean,
    debugHeaders: out.DEBUG_HEADERS as boolean,
    bridgeRetrySkipSeconds: out.BRIDGE_RETRY_SKIP_SECONDS as number,
    staticMaxAge: out.STATIC_MAX_AGE as number,
  };
}

/**
 * PATH_MAP with the older vars (precedence in resolvePaths): CLUSTER_PREFIXES
 * and PROVISIONING_PATH count only when set, so a deployment that never named
 * them can move to another preset without a word about them.
 */
function pathsFrom(env: Env, out: Record<string, unknown>): { map: PathMap; warnings: string[] } {
  let value = out.PATH_MAP;
  if (typeof value === "string") {
    const t = value.trim();
    if (t === "") value = undefined;
    else if (!t.startsWith("[")) value = t;
    else {
      try {
        value = JSON.parse(t);
      } catch (e) {
        throw new ConfigError("invalid worker config", [{ field: "PATH_MAP", value: show("PATH_MAP", env.PATH_MAP), rule: `not valid JSON (${(e as Error).message}); allowed: ${FIELDS.PATH_MAP.allowed}` }]);
      }
    }
  }
  const given = (name: "CLUSTER_PREFIXES" | "PROVISIONING_PATH") => (env[name] === undefined ? undefined : { field: name, value: out[name] as string[] });
  const r = resolvePaths({
    field: "PATH_MAP",
    value,
    ip: ipRule,
    defaultAllow: out.PROVISIONING_ALLOW as string[],
    cluster: given("CLUSTER_PREFIXES"),
    internal: given("PROVISIONING_PATH"),
  });
  if (!r.ok) {
    // A var as a whole is shown as written and with what it allows, like every other var.
    const problems = r.problems.map((p) => {
      if (!(p.field in FIELDS)) return p;
      const name = p.field as FieldName;
      return { ...p, value: show(name, env[name]), rule: `${p.rule}; allowed: ${FIELDS[name].allowed}` };
    });
    throw new ConfigError("invalid worker config", problems);
  }
  return r;
}

const cache = new WeakMap<object, Config | ConfigError>();

/**
 * parseConfig, memoised per env object; a bad config stays bad (and cached) until redeploy.
 * workerd hands every request of an isolate the same env object, so the warnings are logged
 * once per isolate, on its first request.
 */
export function configFor(env: Env): Config {
  let c = cache.get(env);
  if (!c) {
    try {
      c = parseConfig(env);
      for (const w of c.warnings) console.warn(`oxedge-worker warning ${w}`);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      c = e;
    }
    cache.set(env, c);
  }
  if (c instanceof ConfigError) throw c;
  return c;
}
