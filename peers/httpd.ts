/**
 * Apache httpd (Debian apache2) with mod_proxy_balancer, on a free loopback port and with its
 * own base directory under `<repo>/.tmp/`, configured like one of the incumbent OX front ends:
 *
 * - AJP members (the default kind): mod_proxy_ajp, like an OX installation's proxy_ajp.conf.
 *   A real AJP client for the demo node, and the incumbent in the AJP benchmarks.
 * - HTTP members (`kind: "http"`): mod_proxy_http to each node's HTTP listener, as OX App
 *   Suite's guide fronts Grizzly: sticky on `JSESSIONID|jsessionid` with `scolonpathdelim`,
 *   `/appsuite/api` mapped to `/ajax`, and WebSocket push on `/socket.io` through a second
 *   balancer of `ws://` members (mod_proxy_wstunnel) with the same routes.
 *
 * See docs/testing.md, Apache httpd. Every response carries `X-Served-Route` (the balancer
 * member's route) so tests can see which member answered; a WebSocket's 101 does not.
 *
 * @example
 * const httpd = await startHttpd({ members: [{ host: "127.0.0.1", ajpPort: ox1.port, route: "OX1", secret: "s" }] });
 * const appsuite = await startHttpd({ members: [{ kind: "http", host: "127.0.0.1", httpPort: node.httpPort, route: "OX1" }] });
 * await fetch(`http://127.0.0.1:${httpd.port}/ajax/echo`);
 * await Promise.all([httpd.stop(), appsuite.stop()]);
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import { atExit, waitExit } from "./exit-hooks.ts";
import { canConnect, freePort } from "./ports.ts";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { childrenOf, cmdlineMentions, orphanedDirs, pidAlive, readPid } from "./processes.ts";

/** BalancerMember parameters both kinds share; unset ones get the OX guides' values. */
interface HttpdMemberParams {
  host: string;
  route: string;
  /** Default 50. */
  loadfactor?: number;
  /** s to wait for the node's answer; default 100. */
  timeout?: number;
  /** s a member stays in error; default 60. */
  retry?: number;
  /** s an idle connection is kept; default 60. */
  ttl?: number;
  /** Default 0. */
  smax?: number;
}

/** A member spoken to over AJP13 (mod_proxy_ajp). */
export interface HttpdAjpMember extends HttpdMemberParams {
  kind?: "ajp";
  ajpPort: number;
  secret?: string;
}

/** A member spoken to over HTTP/1.1 (mod_proxy_http), and over `ws://` for `/socket.io`. */
export interface HttpdHttpMember extends HttpdMemberParams {
  kind: "http";
  httpPort: number;
}

export type HttpdMember = HttpdAjpMember | HttpdHttpMember;

export interface Httpd {
  port: number;
  pid: number;
  baseDir: string;
  stop(): Promise<void>;
  errorLog(): string;
}

export interface HttpdOptions {
  /** All of one kind: AJP (the default) or HTTP. */
  members: HttpdMember[];
  /**
   * Paths proxied to the balancer. Default for AJP members the six OX prefixes; for HTTP
   * members App Suite's (`APP_SUITE_PREFIXES`), next to which `/appsuite/api` goes to `/ajax`.
   */
  prefixes?: string[];
  /**
   * HTTP members only: the path whose WebSocket upgrades go through the `ws://` balancer
   * (default "/socket.io"); false for none.
   */
  webSocketPath?: string | false;
  /**
   * Who may reach /servlet/axis2/services (the SOAP provisioning API; with HTTP members also
   * /webservices); default 127.0.0.1 as in the OX config.
   */
  provisioningAllow?: string[];
  /** Appended at the end of the generated config (server context). */
  extraConf?: string;
  /** ProxyIOBufferSize, i.e. the AJP packet size httpd uses (8192 default; must match the nodes). */
  iobuffersize?: number;
}

export const APACHE_BIN = process.env.OXEDGE_APACHE_BIN ?? "/usr/sbin/apache2";
export const APACHE_MODULES = process.env.OXEDGE_APACHE_MODULES ?? "/usr/lib/apache2/modules";
const DEFAULT_PREFIXES = ["/ajax", "/servlet", "/infostore", "/publications", "/Microsoft-Server-ActiveSync", "/usm-json"];
/** The paths App Suite's Apache configuration proxies to the nodes over HTTP (besides /appsuite/api and /socket.io). */
export const APP_SUITE_PREFIXES = [
  "/ajax",
  "/drive",
  "/infostore",
  "/publications",
  "/realtime",
  "/servlet",
  "/webservices",
  "/usm-json",
  "/Microsoft-Server-ActiveSync",
];
const MODULES: [string, string][] = [
  ["mpm_event_module", "mod_mpm_event.so"],
  ["authz_core_module", "mod_authz_core.so"],
  ["authz_host_module", "mod_authz_host.so"],
  // Order/Deny/Allow in the OX config are 2.2 syntax, served by access_compat.
  ["access_compat_module", "mod_access_compat.so"],
  ["headers_module", "mod_headers.so"],
  ["slotmem_shm_module", "mod_slotmem_shm.so"],
  ["proxy_module", "mod_proxy.so"],
  ["proxy_ajp_module", "mod_proxy_ajp.so"],
  ["proxy_balancer_module", "mod_proxy_balancer.so"],
  ["lbmethod_byrequests_module", "mod_lbmethod_byrequests.so"],
];
/** Loaded only for HTTP members, so the AJP set-up (and its benchmark) stays as it was. */
const HTTP_MODULES: [string, string][] = [
  ["proxy_http_module", "mod_proxy_http.so"],
  ["proxy_wstunnel_module", "mod_proxy_wstunnel.so"],
  // SetEnv proxy-initial-not-pooled / proxy-sendchunked in the balancer's section.
  ["env_module", "mod_env.so"],
];

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const TMP_DIR = path.join(REPO_ROOT, ".tmp");
const READY_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;
/** Set to keep base directories (config, error log) after the process exits. */
const KEEP_DIRS = process.env.OXEDGE_KEEP_HTTPD === "1";

const isRoot = typeof process.getuid === "function" && process.getuid() === 0;

/** Why httpd cannot be used here, or undefined when it can. */
export function httpdUnavailableReason(): string | undefined {
  try {
    fs.accessSync(APACHE_BIN, fs.constants.X_OK);
  } catch {
    return `${APACHE_BIN} not found (Debian package apache2)`;
  }
  const missing = [...MODULES, ...HTTP_MODULES].map(([, f]) => path.join(APACHE_MODULES, f)).filter((f) => !fs.existsSync(f));
  if (missing.length) return `apache2 modules missing: ${missing.join(", ")}`;
  if (isRoot && spawnSync("id", ["-u", "www-data"]).status !== 0) return "running as root but there is no www-data user for httpd's workers";
  return undefined;
}

export function httpdAvailable(): boolean {
  return httpdUnavailableReason() === undefined;
}

// ---------------------------------------------------------------------------------------------
// Process bookkeeping: only PIDs this process started are ever signalled

const live = new Map<number, { child: ChildProcess; baseDir: string }>();

/**
 * SIGTERM, not SIGKILL: httpd's parent then takes its worker children down with it, whereas a
 * killed parent would leave them orphaned and holding the port.
 */
function cleanupNow(): void {
  for (const [pid, { baseDir }] of live) {
    try {
      process.kill(pid, "SIGTERM");
    } catch {
      // already gone
    }
    if (!KEEP_DIRS) fs.rmSync(baseDir, { recursive: true, force: true });
  }
  live.clear();
}


/** PIDs whose parent is `pid` (httpd's worker processes). */


/**
 * A test worker killed with SIGKILL runs no exit hook; its httpd keeps running. On the next
 * start, such leftovers are recognised by a dead owner PID and a command line naming their
 * own base directory, so nothing else can be hit.
 */
function sweepStale(): void {
  // A directory without an owner is being created by another worker, or a husk: only old husks go.
  for (const dir of orphanedDirs(TMP_DIR, "httpd-", { huskAgeMs: 60_000 })) {
    const pid = readPid(path.join(dir, "launched.pid"));
    if (pid && pidAlive(pid) && cmdlineMentions(pid, dir)) {
      try {
        process.kill(pid, "SIGTERM");
      } catch {
        // exited meanwhile
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}



// ---------------------------------------------------------------------------------------------
// Config

/** Values are ours (ports, routes, test secrets) but still must not break the config's quoting. */
function confWord(v: string | number): string {
  const s = String(v);
  if (!/^[A-Za-z0-9._:/@+-]+$/.test(s)) throw new Error(`httpd config value ${JSON.stringify(s)} has characters this launcher does not quote`);
  return s;
}

/** One BalancerMember line: `url` is `ajp://…`, `http://…` or `ws://…`. */
function memberLine(m: HttpdMember, url: string, extra: [string, string | number | undefined][] = []): string {
  // The OX reference values unless the test overrides them.
  const params: [string, string | number | undefined][] = [
    ["timeout", m.timeout ?? 100],
    ["smax", m.smax ?? 0],
    ["ttl", m.ttl ?? 60],
    ["retry", m.retry ?? 60],
    ["loadfactor", m.loadfactor ?? 50],
    ["route", m.route],
    ...extra,
  ];
  const kv = params.filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${confWord(v!)}`);
  return `    BalancerMember ${url} ${kv.join(" ")}`;
}

function restrict(location: string, allow: string[]): string[] {
  return [
    `<Location ${location}>`,
    `    # restrict access to the soap provisioning API`,
    `    Order Deny,Allow`,
    `    Deny from all`,
    ...allow.map((a) => `    Allow from ${confWord(a)}`),
    `</Location>`,
  ];
}

/** The proxy part for AJP members, as an OX installation's proxy_ajp.conf has it. */
function ajpProxyConfig(opts: HttpdOptions, members: HttpdAjpMember[]): string[] {
  const prefixes = opts.prefixes ?? DEFAULT_PREFIXES;
  return [
    ...restrict("/servlet/axis2/services", opts.provisioningAllow ?? ["127.0.0.1"]),
    ``,
    `ProxyRequests Off`,
    `<Proxy balancer://oxcluster>`,
    `    Order deny,allow`,
    `    Allow from all`,
    ...members.map((m) => memberLine(m, `ajp://${confWord(m.host)}:${confWord(m.ajpPort)}`, [["secret", m.secret]])),
    `    ProxySet stickysession=JSESSIONID`,
    `</Proxy>`,
    // The fixture writes these as <Proxy /ajax> sections. httpd 2.4.71 accepts that but the
    // ProxyPass inside never matches a request (the section's path is "proxy:/ajax"), so every
    // URL gets httpd's own 404. <Location> is the working form of the same directory-context
    // ProxyPass, and matches prefixes the same way as the top-level `ProxyPass /ajax …`.
    ...prefixes.flatMap((p) => [`<Location ${confWord(p)}>`, `    ProxyPass balancer://oxcluster${confWord(p)}`, `</Location>`]),
  ];
}

/** The proxy part for HTTP members, as App Suite's guide fronts its nodes' HTTP listeners. */
function httpProxyConfig(opts: HttpdOptions, members: HttpdHttpMember[]): string[] {
  const prefixes = opts.prefixes ?? APP_SUITE_PREFIXES;
  const allow = opts.provisioningAllow ?? ["127.0.0.1"];
  const ws = opts.webSocketPath ?? "/socket.io";
  // The session cookie, or the `;jsessionid=` path parameter of token-login redirects.
  const sticky = `    ProxySet stickysession=JSESSIONID|jsessionid scolonpathdelim=On`;
  return [
    ...restrict("/webservices", allow),
    ...restrict("/servlet/axis2/services", allow),
    ``,
    `ProxyRequests Off`,
    // The node sees the client's Host, as it would without a proxy.
    `ProxyPreserveHost On`,
    `<Proxy balancer://oxcluster>`,
    `    Order deny,allow`,
    `    Allow from all`,
    ...members.map((m) => memberLine(m, `http://${confWord(m.host)}:${confWord(m.httpPort)}`)),
    sticky,
    `    SetEnv proxy-initial-not-pooled`,
    `    SetEnv proxy-sendchunked`,
    `</Proxy>`,
    ...(ws
      ? [
          `<Proxy balancer://oxcluster_ws>`,
          `    Order deny,allow`,
          `    Allow from all`,
          ...members.map((m) => memberLine(m, `ws://${confWord(m.host)}:${confWord(m.httpPort)}`, [["keepalive", "On"]])),
          sticky,
          `</Proxy>`,
          `ProxyPass ${confWord(ws)} balancer://oxcluster_ws${confWord(ws)}`,
        ]
      : []),
    `ProxyPass /appsuite/api balancer://oxcluster/ajax`,
    ...prefixes.map((p) => `ProxyPass ${confWord(p)} balancer://oxcluster${confWord(p)}`),
  ];
}

/** All members of one kind; which. */
function memberKind(members: HttpdMember[]): "ajp" | "http" {
  const kinds = new Set(members.map((m) => m.kind ?? "ajp"));
  if (kinds.size > 1) throw new Error("startHttpd: members must all be AJP or all HTTP (one balancer, one protocol)");
  return kinds.has("http") ? "http" : "ajp";
}

function buildConfig(opts: HttpdOptions, port: number, baseDir: string): string {
  const kind = memberKind(opts.members);
  const modules = kind === "http" ? [...MODULES, ...HTTP_MODULES] : MODULES;
  const lines = [
    kind === "http"
      ? `# Generated by peers/httpd.ts; mirrors the proxy_http.conf of the OX App Suite guide.`
      : `# Generated by peers/httpd.ts; mirrors the proxy_ajp.conf of the OX installation guide.`,
    ...modules.map(([name, file]) => `LoadModule ${name} ${path.join(APACHE_MODULES, file)}`),
    `ServerName 127.0.0.1`,
    `Listen 127.0.0.1:${port}`,
    `PidFile ${baseDir}/run/httpd.pid`,
    `DefaultRuntimeDir ${baseDir}/run`,
    `Mutex file:${baseDir}/run default`,
    `ErrorLog ${baseDir}/logs/error.log`,
    `LogLevel warn`,
    ...(isRoot ? [`User www-data`, `Group www-data`] : []),
    // One process with enough threads for the benchmark's 50 connections plus headroom, and no
    // spare-thread churn: processes coming and going would show up as noise in measurements.
    `StartServers 2`,
    `ServerLimit 2`,
    `ThreadLimit 64`,
    `ThreadsPerChild 64`,
    `MaxRequestWorkers 128`,
    `MinSpareThreads 64`,
    `MaxSpareThreads 128`,
    `MaxConnectionsPerChild 0`,
    `KeepAlive On`,
    `MaxKeepAliveRequests 0`,
    `KeepAliveTimeout 5`,
    ...(opts.iobuffersize ? [`ProxyIOBufferSize ${confWord(opts.iobuffersize)}`] : []),
    `Header always set X-Served-Route "%{BALANCER_WORKER_ROUTE}e"`,
    ``,
    ...(kind === "http"
      ? httpProxyConfig(opts, opts.members as HttpdHttpMember[])
      : ajpProxyConfig(opts, opts.members as HttpdAjpMember[])),
    opts.extraConf ?? "",
    ``,
  ];
  return lines.join("\n");
}

// ---------------------------------------------------------------------------------------------
// Start / stop

function tail(file: string, lines = 30): string {
  try {
    return fs.readFileSync(file, "utf8").split("\n").slice(-lines).join("\n");
  } catch {
    return "(no error log)";
  }
}


const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));


export async function startHttpd(opts: HttpdOptions): Promise<Httpd> {
  const why = httpdUnavailableReason();
  if (why) throw new Error(`httpd is not usable here: ${why}`);
  if (opts.members.length === 0) throw new Error("startHttpd: at least one balancer member is needed");
  if (memberKind(opts.members) === "ajp" && opts.webSocketPath !== undefined) {
    throw new Error("startHttpd: webSocketPath needs HTTP members (AJP has no WebSocket)");
  }
  sweepStale();
  atExit(cleanupNow);

  fs.mkdirSync(TMP_DIR, { recursive: true });
  const baseDir = path.join(TMP_DIR, `httpd-${randomBytes(4).toString("hex")}`);
  for (const sub of ["conf", "logs", "run"]) fs.mkdirSync(path.join(baseDir, sub), { recursive: true });
  fs.writeFileSync(path.join(baseDir, "owner.pid"), String(process.pid));
  if (isRoot) {
    // Workers run as www-data: they must traverse the base dir and use the lock and shm files
    // the parent creates in run/.
    fs.chmodSync(baseDir, 0o755);
    const { status } = spawnSync("chown", ["www-data:www-data", path.join(baseDir, "run")]);
    if (status !== 0) throw new Error(`cannot chown ${baseDir}/run to www-data`);
  }

  const confFile = path.join(baseDir, "conf/httpd.conf");
  const errorLogFile = path.join(baseDir, "logs/error.log");
  // The free port is only free until someone binds it; a worker of another test file may win
  // the race, which shows up as httpd failing to bind. Then try another port.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    fs.writeFileSync(confFile, buildConfig(opts, port, baseDir));
    if (attempt === 1) {
      const check = spawnSync(APACHE_BIN, ["-t", "-f", confFile, "-d", baseDir], { encoding: "utf8", timeout: 10_000 });
      if (check.status !== 0) {
        throw new Error(`apache2 -t rejected the generated config ${confFile} (exit ${check.status}):\n${check.stderr}${check.stdout}`);
      }
    }
    const started = await launch(confFile, baseDir, errorLogFile, port);
    if (started !== "port-taken") return started;
    if (attempt >= 3) throw new Error(`httpd could not bind a free port on 127.0.0.1 in 3 attempts (see ${errorLogFile})`);
  }
}

async function launch(confFile: string, baseDir: string, errorLogFile: string, port: number): Promise<Httpd | "port-taken"> {
  fs.rmSync(errorLogFile, { force: true }); // so a failure is judged by this attempt's messages only
  const child = spawn(APACHE_BIN, ["-f", confFile, "-d", baseDir, "-DFOREGROUND"], {
    stdio: ["ignore", "ignore", "pipe"],
    // Debian's apache2 reads APACHE_* variables only through apache2ctl; keep the user's LANG out of its messages.
    env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C" },
  });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr = (stderr + d).slice(-4000)));
  const pid = await new Promise<number>((resolve, reject) => {
    child.once("spawn", () => resolve(child.pid!));
    child.once("error", reject);
  });
  live.set(pid, { child, baseDir });
  fs.writeFileSync(path.join(baseDir, "launched.pid"), String(pid));

  let lastLog: string | undefined;
  const readErrorLog = (): string => {
    try {
      return fs.readFileSync(errorLogFile, "utf8");
    } catch {
      return lastLog ?? "";
    }
  };
  const stop = async (): Promise<void> => {
    if (!live.has(pid)) return;
    try {
      process.kill(pid, "SIGTERM");
    } catch {
      // already gone
    }
    if (!(await waitExit(child, STOP_TIMEOUT_MS))) {
      // The parent did not finish its graceful stop: kill its workers first, so none is orphaned.
      for (const c of childrenOf(pid)) {
        try {
          process.kill(c, "SIGKILL");
        } catch {
          // gone
        }
      }
      child.kill("SIGKILL");
      await waitExit(child, STOP_TIMEOUT_MS);
    }
    live.delete(pid);
    lastLog = readErrorLog();
    if (!KEEP_DIRS) fs.rmSync(baseDir, { recursive: true, force: true });
  };

  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      live.delete(pid);
      const why = `${stderr}\n${tail(errorLogFile)}`;
      if (/Address already in use/.test(why)) return "port-taken";
      throw new Error(`httpd exited during start-up (${child.exitCode ?? child.signalCode}):\n${why}`);
    }
    if (await canConnect(port)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`httpd did not accept connections on 127.0.0.1:${port} within ${READY_TIMEOUT_MS} ms:\n${stderr}`);
    }
    await sleep(25);
  }

  return {
    port,
    pid,
    baseDir,
    stop,
    // Still readable after stop(), which removes the directory.
    errorLog: () => lastLog ?? readErrorLog(),
  };
}
