/**
 * Real Apache Tomcat 10 nodes for interop tests and benchmarks.
 *
 * Each instance gets its own CATALINA_BASE under `<repo>/.tmp/`, an AJP connector (with a
 * secret, as production requires) and an HTTP connector on loopback, and serves the servlet
 * app in `peers/tomcat-app/` (compiled on first use). The HTTP connector stands in for an OX
 * App Suite node's own listener: it trusts X-Forwarded-* from known proxies as OX does, and the
 * app has a WebSocket endpoint at `/socket.io/ws`. See docs/testing.md, Tomcat 10, for why it
 * is run this way.
 *
 * @example
 * const [ox1, ox2] = await startTomcatCluster(["OX1", "OX2"]);
 * // ... point the bridge at ox1.ajpPort / ox1.secret ...
 * await Promise.all([ox1.stop(), ox2.stop()]);
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import { atExit, waitExit } from "./exit-hooks.ts";
import { freePort } from "./ports.ts";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { orphanedDirs } from "./processes.ts";

export interface TomcatNode {
  route: string;
  ajpPort: number;
  httpPort: number;
  secret: string;
  /** PID of the current JVM (the latest one after restart()). */
  pid: number;
  baseDir: string;
  /** SIGTERM (graceful Tomcat shutdown), wait for exit, SIGKILL after a bound. */
  stop(): Promise<void>;
  /** SIGKILL: a crashed node. */
  kill(): Promise<void>;
  /** SIGSTOP: a hung node; the kernel still accepts TCP connections for it. */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
  /** Start again on the same ports, route and secret (stops first if still running). */
  restart(): Promise<void>;
  /** ESTABLISHED connections whose local end is this node's AJP port (from /proc/net/tcp*). */
  ajpConnectionCount(): Promise<number>;
  /** The same for its HTTP port (the connector an HTTP member talks to). */
  httpConnectionCount(): Promise<number>;
}

export interface TomcatOptions {
  route: string;
  secret: string;
  /** AJP packetSize; Tomcat ignores values under 8192. Default 8192. */
  packetSize?: number;
  /** maxThreads for both connectors (Tomcat default 200). */
  maxThreads?: number;
  /** keepAliveTimeout of the AJP connector; Tomcat's default for AJP is infinite. */
  keepAliveTimeoutMs?: number;
  /** More attributes for the AJP <Connector>, e.g. { allowedRequestAttributesPattern: "AJP_.*" }. */
  ajpConnectorAttrs?: Record<string, string>;
  /** Extra JVM flags after the defaults (a later -Xmx wins), e.g. a bigger heap for benchmarks. */
  jvmArgs?: string[];
  /**
   * Like OX's `com.openexchange.server.considerXForwards`: over HTTP, take the client's address,
   * scheme, port and host from X-Forwarded-For/-Proto/-Port/-Host when the request comes from
   * one of `knownProxies` (Tomcat's RemoteIpValve). AJP requests are never rewritten: they carry
   * those values in the protocol. Default true.
   */
  considerXForwards?: boolean;
  /** Like OX's `com.openexchange.server.knownProxies`: IPv4 addresses trusted to send X-Forwarded-*. Default ["127.0.0.1"]. */
  knownProxies?: string[];
}

/** The JSON body of the test app's `.../echo` endpoint. */
export interface TomcatEcho {
  node: string;
  method: string;
  protocol: string;
  requestURI: string;
  servletPath: string;
  pathInfo: string | null;
  /** Which servlet Tomcat's mapper chose: "axis2" for `/servlet/axis2/*`, "ox" for the other prefixes. */
  servletName: string;
  /** The url-pattern that matched, e.g. "/servlet/axis2/*". */
  mappingPattern: string;
  queryString: string | null;
  /** Every header value separately: grouped by name (servlet API order), values in arrival order. */
  headers: [string, string][];
  remoteAddr: string;
  remoteHost: string;
  remotePort: number;
  localAddr: string | null;
  localName: string;
  localPort: number;
  isSecure: boolean;
  scheme: string;
  serverName: string;
  serverPort: number;
  /** request.getRequestedSessionId(); the endpoint never creates a session. */
  sessionId: string | null;
  sessionIdValid: boolean;
  sessionIdFromCookie: boolean;
  sessionIdFromURL: boolean;
  bodyLength: number;
  bodySha256: string;
  contentLengthHeader: string | null;
}

export type TomcatClusterOptions = Omit<TomcatOptions, "route" | "secret"> & {
  /** One secret for all nodes, or one per route. Default: `oxedge-test-<route>`. */
  secret?: string | ((route: string) => string);
};

export const TOMCAT_HOME = process.env.OXEDGE_TOMCAT_HOME ?? "/usr/share/tomcat10";
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const TMP_DIR = path.join(REPO_ROOT, ".tmp");
const APP_SRC = path.join(REPO_ROOT, "peers/tomcat-app");
/** Classes for Tomcat's own class loader (a valve), not the webapp's. */
const SERVER_SRC = path.join(REPO_ROOT, "peers/tomcat-server");
const APP_CACHE = path.join(TMP_DIR, "tomcat-app");
const TOMCAT_JARS = [
  "bin/bootstrap.jar",
  "bin/tomcat-juli.jar",
  "lib/catalina.jar",
  "lib/servlet-api.jar",
  "lib/tomcat-api.jar",
  "lib/tomcat-coyote.jar",
  "lib/tomcat-util.jar",
  "lib/tomcat-util-scan.jar",
  // Tomcat's JSR 356 implementation and its API (the server part; the classes both ends share,
  // Session and CloseReason among them, are in the client jar): /socket.io needs all three.
  "lib/websocket-api.jar",
  "lib/websocket-client-api.jar",
  "lib/tomcat-websocket.jar",
];
const jar = (name: string) => path.join(TOMCAT_HOME, name);
const APP_CLASSPATH = [jar("lib/servlet-api.jar"), jar("lib/websocket-api.jar"), jar("lib/websocket-client-api.jar")];
const SERVER_CLASSPATH = [
  jar("lib/catalina.jar"),
  jar("lib/servlet-api.jar"),
  jar("lib/tomcat-api.jar"),
  jar("lib/tomcat-coyote.jar"),
  jar("lib/tomcat-util.jar"),
  jar("bin/tomcat-juli.jar"),
];

const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;
/** Set to keep instance directories after the process exits (for reading their logs). */
const KEEP_DIRS = process.env.OXEDGE_KEEP_TOMCAT === "1";

const JVM_FLAGS = [
  "-Xms64m",
  "-Xmx384m",
  "-Djava.awt.headless=true",
  // SecureRandom seeds the session id generator; blocking /dev/random can stall start-up for seconds.
  "-Djava.security.egd=file:/dev/./urandom",
  // A connector that cannot bind must end the JVM, so start-up fails fast instead of timing out.
  "-Dorg.apache.catalina.startup.EXIT_ON_INIT_FAILURE=true",
  "-Djava.util.logging.manager=org.apache.juli.ClassLoaderLogManager",
  // Tomcat reflects into these JDK internals (memory-leak protection, RMI); Java 17 needs them opened.
  "--add-opens=java.base/java.lang=ALL-UNNAMED",
  "--add-opens=java.base/java.io=ALL-UNNAMED",
  "--add-opens=java.base/java.util=ALL-UNNAMED",
  "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
  "--add-opens=java.rmi/sun.rmi.transport=ALL-UNNAMED",
];

// ---------------------------------------------------------------------------------------------
// Prerequisites and the servlet app

function onPath(cmd: string): boolean {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (!dir) continue;
    try {
      fs.accessSync(path.join(dir, cmd), fs.constants.X_OK);
      return true;
    } catch {
      // keep looking
    }
  }
  return false;
}

/** What startTomcat() needs on this machine: java, javac and the Tomcat 10 jars. */
export function tomcatAvailable(): { ok: true } | { ok: false; missing: string[] } {
  const missing: string[] = [];
  if (!onPath("java")) missing.push("java (Debian package default-jre-headless, Java 17)");
  if (!onPath("javac")) missing.push("javac (Debian package default-jdk-headless, Java 17)");
  for (const jar of TOMCAT_JARS) {
    if (!fs.existsSync(path.join(TOMCAT_HOME, jar))) missing.push(`${path.join(TOMCAT_HOME, jar)} (Debian packages libtomcat10-java, tomcat10-common)`);
  }
  return missing.length === 0 ? { ok: true } : { ok: false, missing };
}

function javaSources(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".java"))
    .sort()
    .map((f) => path.join(dir, f));
}

/** A compiled build: the webapp's docBase and the classes for Tomcat's common class loader. */
interface AppBuild {
  docBase: string;
  serverClasses: string;
}

let appPromise: Promise<AppBuild> | undefined;

/**
 * Compiles the servlet app and the server-side classes (once per source version) and
 * returns the app's docBase.
 * The cache is keyed by a hash of the sources rather than by mtime: test workers compile
 * concurrently, and each finished build is published with an atomic rename, so no worker
 * ever points Tomcat at a half-written directory.
 */
export async function ensureTomcatApp(): Promise<string> {
  return (await ensureBuild()).docBase;
}

function ensureBuild(): Promise<AppBuild> {
  appPromise ??= buildApp().catch((err) => {
    appPromise = undefined;
    throw err;
  });
  return appPromise;
}

async function javac(what: string, classpath: string[], out: string, files: string[]): Promise<void> {
  fs.mkdirSync(out, { recursive: true });
  const { code, output } = await run("javac", [
    "--release", "17", "-encoding", "UTF-8", "-nowarn",
    "-cp", classpath.join(":"),
    "-d", out,
    ...files,
  ]);
  if (code !== 0) throw new Error(`javac failed for ${what} (exit ${code}):\n${output}`);
}

async function buildApp(): Promise<AppBuild> {
  const appJava = javaSources(APP_SRC);
  const serverJava = javaSources(SERVER_SRC);
  const sources = [...appJava, path.join(APP_SRC, "WEB-INF/web.xml"), ...serverJava];
  const hash = createHash("sha256");
  for (const f of sources) hash.update(f).update(fs.readFileSync(f));
  const version = hash.digest("hex").slice(0, 16);
  const dir = path.join(APP_CACHE, version);
  const build = { docBase: path.join(dir, "webapp"), serverClasses: path.join(dir, "server") };
  if (fs.existsSync(path.join(dir, "complete"))) return build;

  fs.mkdirSync(APP_CACHE, { recursive: true });
  const staging = fs.mkdtempSync(path.join(APP_CACHE, `.build-${version}-`));
  try {
    fs.mkdirSync(path.join(staging, "webapp/WEB-INF"), { recursive: true });
    fs.copyFileSync(path.join(APP_SRC, "WEB-INF/web.xml"), path.join(staging, "webapp/WEB-INF/web.xml"));
    await javac("the Tomcat test app", APP_CLASSPATH, path.join(staging, "webapp/WEB-INF/classes"), appJava);
    await javac("the Tomcat server classes", SERVER_CLASSPATH, path.join(staging, "server"), serverJava);
    fs.writeFileSync(path.join(staging, "complete"), "");
    try {
      fs.renameSync(staging, dir);
    } catch (err) {
      // Another worker published the same version first; theirs is identical.
      if (!fs.existsSync(path.join(dir, "complete"))) throw err;
    }
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
  pruneOldAppBuilds(version);
  return build;
}

/** Old builds may still be in use by a Tomcat of another run, so only week-old ones go. */
function pruneOldAppBuilds(current: string): void {
  const cutoff = Date.now() - 7 * 24 * 3600_000;
  for (const name of fs.readdirSync(APP_CACHE)) {
    if (name === current) continue;
    const p = path.join(APP_CACHE, name);
    try {
      if (fs.statSync(p).mtimeMs < cutoff) fs.rmSync(p, { recursive: true, force: true });
    } catch {
      // raced with another pruner
    }
  }
}

function run(cmd: string, args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, output }));
  });
}

// ---------------------------------------------------------------------------------------------
// The download body is peers/pattern.ts (the servlet serves the same bytes).

export { patternBytes, patternSha256 } from "./pattern.ts";

// ---------------------------------------------------------------------------------------------
// Probes

const CPING = Buffer.from([0x12, 0x34, 0x00, 0x01, 0x0a]);
const CPONG = Buffer.from([0x41, 0x42, 0x00, 0x01, 0x09]);

/** true when an AJP13 CPing on host:port is answered with a CPong within timeoutMs. */
export function ajpCping(port: number, timeoutMs = 1000, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve) => {
    let got = Buffer.alloc(0);
    const sock = net.connect({ host, port });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    sock.on("connect", () => sock.write(CPING));
    sock.on("data", (d) => {
      got = Buffer.concat([got, d]);
      if (got.length >= CPONG.length) done(got.subarray(0, CPONG.length).equals(CPONG));
    });
    sock.on("error", () => done(false));
    sock.on("close", () => done(false));
  });
}

function httpOk(port: number, urlPath: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const settle = (ok: boolean) => {
      clearTimeout(timer);
      req.destroy();
      resolve(ok);
    };
    const req = http.get(
      { host: "127.0.0.1", port, path: urlPath, agent: false, headers: { connection: "close" } },
      (res) => {
        res.resume();
        res.on("end", () => settle(res.statusCode === 200));
        res.on("error", () => settle(false));
      },
    );
    const timer = setTimeout(() => settle(false), timeoutMs);
    req.on("error", () => settle(false));
  });
}

/** ESTABLISHED (state 01) sockets whose local end is 127.0.0.1:port, IPv4 or v4-mapped IPv6. */
async function establishedOnLocalPort(port: number): Promise<number> {
  const portHex = port.toString(16).toUpperCase().padStart(4, "0");
  const locals = new Set([`0100007F:${portHex}`, `0000000000000000FFFF00000100007F:${portHex}`]);
  let count = 0;
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = await fs.promises.readFile(file, "utf8");
    } catch {
      continue; // no IPv6 in this kernel
    }
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length > 3 && cols[3] === "01" && locals.has(cols[1])) count++;
    }
  }
  return count;
}

// ---------------------------------------------------------------------------------------------
// Ports, directories and process bookkeeping

const live = new Set<ChildProcess>();
const ownedDirs = new Set<string>();

function cleanupNow(): void {
  for (const child of live) {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
  live.clear();
  if (!KEEP_DIRS) {
    for (const dir of ownedDirs) {
      try {
        fs.rmSync(dir, { recursive: true, force: true });
      } catch {
        // a JVM that is still dying may hold files; the next run's sweep removes the rest
      }
    }
  }
}


/** Removes instance directories left by runs whose launcher process is gone, unless asked to keep them. */
function sweepStaleDirs(): void {
  if (KEEP_DIRS) return;
  for (const dir of orphanedDirs(TMP_DIR, "tomcat-", { skip: (name) => name === "tomcat-app" })) fs.rmSync(dir, { recursive: true, force: true });
}

function xmlAttr(v: string | number): string {
  return String(v).replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function attrs(map: Record<string, string | number | undefined>): string {
  return Object.entries(map)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}="${xmlAttr(v as string | number)}"`)
    .join(" ");
}

interface Layout {
  opts: TomcatOptions;
  ajpPort: number;
  httpPort: number;
  baseDir: string;
  docBase: string;
}

const IPV4 = /^(?:25[0-5]|2[0-4]\d|1?\d?\d)(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

/**
 * The Engine valve that plays OX's considerXForwards/knownProxies, or "" when off.
 * RemoteIpValve matches internalProxies as one regular expression, so each address is
 * escaped into an exact alternative.
 */
function forwardedValve(opts: TomcatOptions): string {
  if (opts.considerXForwards === false) return "";
  const proxies = opts.knownProxies ?? ["127.0.0.1"];
  for (const p of proxies) if (!IPV4.test(p)) throw new Error(`knownProxies: ${JSON.stringify(p)} is not an IPv4 address`);
  const valve = attrs({
    className: "oxedge.tomcat.HttpRemoteIpValve",
    remoteIpHeader: "X-Forwarded-For",
    protocolHeader: "X-Forwarded-Proto",
    portHeader: "X-Forwarded-Port",
    hostHeader: "X-Forwarded-Host",
    // No address at all must trust nobody; RemoteIpValve's own default trusts private networks.
    internalProxies: proxies.length ? proxies.map((p) => p.replace(/\./g, "\\.")).join("|") : "(?!)",
  });
  return `\n      <Valve ${valve}/>`;
}

function writeServerXml(l: Layout): void {
  const { opts } = l;
  const threads = opts.maxThreads;
  const ajp = attrs({
    protocol: "AJP/1.3",
    address: "127.0.0.1",
    port: l.ajpPort,
    secretRequired: "true",
    secret: opts.secret,
    packetSize: opts.packetSize ?? 8192,
    maxThreads: threads,
    keepAliveTimeout: opts.keepAliveTimeoutMs,
    ...opts.ajpConnectorAttrs,
  });
  const httpConn = attrs({ protocol: "HTTP/1.1", address: "127.0.0.1", port: l.httpPort, maxThreads: threads });
  // No shutdown port: stop() uses SIGTERM, and a port would be one more thing to collide.
  // Manager pathname="" keeps sessions from surviving restart(), as on a real node crash.
  // The filters skip the JSP initializer and classpath jar scanning, which the app does not
  // use and which cost start-up time; the WebSocket initializer (WsSci, from
  // tomcat-websocket.jar in the common class loader) stays for /socket.io.
  const xml = `<?xml version="1.0" encoding="UTF-8"?>
<Server port="-1">
  <Service name="Catalina">
    <Connector ${httpConn}/>
    <Connector ${ajp}/>
    <Engine name="Catalina" defaultHost="localhost" jvmRoute="${xmlAttr(opts.route)}">${forwardedValve(opts)}
      <Host name="localhost" appBase="webapps" unpackWARs="false" autoDeploy="false" deployOnStartup="false">
        <Context path="" docBase="${xmlAttr(l.docBase)}" reloadable="false"
                 containerSciFilter="org\\.apache\\.jasper\\.servlet\\.JasperInitializer">
          <Manager pathname=""/>
          <JarScanner scanClassPath="false" scanManifest="false"/>
        </Context>
      </Host>
    </Engine>
  </Service>
</Server>
`;
  fs.writeFileSync(path.join(l.baseDir, "conf/server.xml"), xml);
}

function createBaseDir(route: string, serverClasses: string): string {
  fs.mkdirSync(TMP_DIR, { recursive: true });
  const safe = route.replace(/[^A-Za-z0-9_.-]/g, "_");
  const baseDir = path.join(TMP_DIR, `tomcat-${safe}-${randomBytes(4).toString("hex")}`);
  for (const sub of ["conf", "logs", "temp", "work", "webapps"]) fs.mkdirSync(path.join(baseDir, sub), { recursive: true });
  fs.writeFileSync(path.join(baseDir, "owner.pid"), String(process.pid));
  // ${catalina.base}/lib is the first entry of Tomcat's default common.loader (there is no
  // catalina.properties here), so classes copied there are the server's, as valves must be.
  fs.cpSync(serverClasses, path.join(baseDir, "lib"), { recursive: true });
  // The global web.xml normally brings the default and JSP servlets; the app needs neither,
  // and without them an unmapped path is a plain 404 from Tomcat.
  fs.writeFileSync(
    path.join(baseDir, "conf/web.xml"),
    `<?xml version="1.0" encoding="UTF-8"?>
<web-app xmlns="https://jakarta.ee/xml/ns/jakartaee" version="6.0">
  <session-config><session-timeout>30</session-timeout></session-config>
</web-app>
`,
  );
  fs.writeFileSync(
    path.join(baseDir, "conf/logging.properties"),
    `handlers = java.util.logging.ConsoleHandler
.handlers = java.util.logging.ConsoleHandler
.level = INFO
java.util.logging.ConsoleHandler.level = ALL
java.util.logging.ConsoleHandler.formatter = org.apache.juli.OneLineFormatter
`,
  );
  return baseDir;
}

function logTail(baseDir: string, lines = 40): string {
  try {
    const text = fs.readFileSync(path.join(baseDir, "logs/console.log"), "utf8");
    return text.split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));


class StartupError extends Error {
  constructor(
    message: string,
    readonly bindFailure: boolean,
  ) {
    super(message);
  }
}

// ---------------------------------------------------------------------------------------------
// The instance

class TomcatInstance implements TomcatNode {
  readonly route: string;
  readonly secret: string;
  private child: ChildProcess | undefined;
  private lastPid = 0;

  constructor(private readonly layout: Layout) {
    this.route = layout.opts.route;
    this.secret = layout.opts.secret;
  }

  get ajpPort(): number {
    return this.layout.ajpPort;
  }
  get httpPort(): number {
    return this.layout.httpPort;
  }
  get baseDir(): string {
    return this.layout.baseDir;
  }
  get pid(): number {
    return this.lastPid;
  }

  private running(): boolean {
    const c = this.child;
    return !!c && c.exitCode === null && c.signalCode === null;
  }

  /** Spawns the JVM and waits until both connectors answer; on failure the JVM is killed. */
  async launch(): Promise<void> {
    const { baseDir } = this.layout;
    writeServerXml(this.layout);
    const logFd = fs.openSync(path.join(baseDir, "logs/console.log"), "a");
    let child: ChildProcess;
    try {
      child = spawn(
        "java",
        [
          ...JVM_FLAGS,
          `-Djava.util.logging.config.file=${path.join(baseDir, "conf/logging.properties")}`,
          `-DjvmRoute=${this.route}`,
          `-Doxedge.parentPid=${process.pid}`,
          `-Dcatalina.home=${TOMCAT_HOME}`,
          `-Dcatalina.base=${baseDir}`,
          `-Djava.io.tmpdir=${path.join(baseDir, "temp")}`,
          ...(this.layout.opts.jvmArgs ?? []),
          "-cp",
          [path.join(TOMCAT_HOME, "bin/bootstrap.jar"), path.join(TOMCAT_HOME, "bin/tomcat-juli.jar")].join(":"),
          "org.apache.catalina.startup.Bootstrap",
          // No JNDI: the app does not use it, and its setup is start-up time.
          "-nonaming",
          "start",
        ],
        { cwd: baseDir, stdio: ["ignore", logFd, logFd] },
      );
    } finally {
      fs.closeSync(logFd);
    }
    let spawnError: Error | undefined;
    child.on("error", (err) => (spawnError = err));
    child.once("exit", () => live.delete(child));
    // The worker must be able to exit while a node is still up (the exit hook then kills it).
    child.unref();
    live.add(child);
    this.child = child;
    this.lastPid = child.pid ?? 0;

    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (let delay = 25; ; delay = Math.min(delay * 2, 200)) {
      if (spawnError || !this.running()) {
        await waitExit(child, 1000);
        const tail = logTail(baseDir);
        throw new StartupError(
          `Tomcat ${this.route} exited during start-up (${spawnError?.message ?? `exit ${child.exitCode ?? child.signalCode}`}); ` +
            `log ${baseDir}/logs/console.log:\n${tail}`,
          /BindException|Address already in use/.test(tail),
        );
      }
      if ((await httpOk(this.httpPort, "/ajax/echo", 1000)) && (await ajpCping(this.ajpPort, 1000))) return;
      if (Date.now() > deadline) {
        child.kill("SIGKILL");
        await waitExit(child, 5000);
        throw new StartupError(
          `Tomcat ${this.route} not ready after ${READY_TIMEOUT_MS} ms (http ${this.httpPort}, ajp ${this.ajpPort}); ` +
            `log ${baseDir}/logs/console.log:\n${logTail(baseDir)}`,
          false,
        );
      }
      await sleep(delay);
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || !this.running()) return;
    child.kill("SIGTERM");
    // A paused JVM would never run its shutdown hook.
    this.resume();
    if (!(await waitExit(child, STOP_TIMEOUT_MS))) {
      child.kill("SIGKILL");
      await waitExit(child, 5000);
    }
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (!child || !this.running()) return;
    child.kill("SIGKILL");
    await waitExit(child, 5000);
  }

  pause(): void {
    if (this.running()) this.child!.kill("SIGSTOP");
  }

  resume(): void {
    if (this.running()) this.child!.kill("SIGCONT");
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.launch();
  }

  ajpConnectionCount(): Promise<number> {
    return establishedOnLocalPort(this.ajpPort);
  }

  httpConnectionCount(): Promise<number> {
    return establishedOnLocalPort(this.httpPort);
  }
}

// ---------------------------------------------------------------------------------------------
// Public entry points

/**
 * Starts one Tomcat node and resolves when its HTTP connector serves the app and its AJP
 * connector answers a CPing (30 s bound; the error carries the tail of the node's log).
 */
export async function startTomcat(opts: TomcatOptions): Promise<TomcatNode> {
  const available = tomcatAvailable();
  if (!available.ok) throw new Error(`cannot start Tomcat, missing: ${available.missing.join(", ")}`);
  // A SIGKILLed test worker runs no handler: the ParentWatchdog in the app covers that case.
  atExit(cleanupNow);
  sweepStaleDirs();
  const { docBase, serverClasses } = await ensureBuild();
  const baseDir = createBaseDir(opts.route, serverClasses);
  ownedDirs.add(baseDir);
  // A port reported free can be taken by someone else before the JVM binds it; then new ports.
  for (let attempt = 1; ; attempt++) {
    const node = new TomcatInstance({ opts, baseDir, docBase, ajpPort: await freePort(), httpPort: await freePort() });
    try {
      await node.launch();
      return node;
    } catch (err) {
      if (!(err instanceof StartupError && err.bindFailure && attempt < 3)) {
        // Keep the directory of a failed start for its logs; the next run's sweep removes it.
        ownedDirs.delete(baseDir);
        throw err;
      }
    }
  }
}

/** Starts one node per route in parallel; if any fails, the others are stopped again. */
export async function startTomcatCluster(
  routes: string[] = ["OX1", "OX2"],
  opts: TomcatClusterOptions = {},
): Promise<TomcatNode[]> {
  const { secret, ...rest } = opts;
  const secretFor = (route: string) =>
    typeof secret === "function" ? secret(route) : (secret ?? `oxedge-test-${route}`);
  const results = await Promise.allSettled(routes.map((route) => startTomcat({ ...rest, route, secret: secretFor(route) })));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  const started = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  if (failed) {
    await Promise.all(started.map((n) => n.stop()));
    throw failed.reason;
  }
  return started;
}
