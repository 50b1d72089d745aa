/**
 * `npm run bench`: the bridge against the incumbent (Apache httpd with
 * mod_proxy_balancer + mod_proxy_ajp) and against Tomcat's own HTTP
 * connector, on this machine, in one run. See bench/README.md for what is
 * measured and the shape of bench/results/latest.json.
 *
 * Environment:
 *   BENCH_DURATION   seconds per measurement (default 10)
 *   BENCH_WARMUP     seconds of unrecorded load before each measurement (default 2)
 *   BENCH_PARTS      comma list of load,stream,worker-cpu (default all)
 *   BENCH_SCENARIOS  comma list of small-get,download-1mib,upload-1mib,small-get-c1 (default all)
 *   BENCH_TARGETS    comma list of direct,apache,bridge,worker (default all)
 *   BENCH_STREAM_BYTES  size of the part-2 transfers (default 1 GiB)
 *   BENCH_STREAM_BUNDLED=0  skip part 2's comparison run of the bridge pre-bundled with esbuild
 *   BENCH_CPU_PROF=1 run the load-test bridge with --cpu-prof and print its top self-time functions
 *   BENCH_BRIDGE_ENTRY=file.mjs  experiments only: run part 1's bridge from this JS file instead of
 *                    bin/oxedge-bridge.js (same CLI), e.g. a pre-bundled or patched build
 *   BENCH_BRIDGE_NODE_FLAGS="--perf-basic-prof"  experiments only: more node flags for part 1's bridge
 *
 * Numbers are only comparable within one run: client, proxies and both JVMs
 * share the machine's cores.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { atExit } from "../peers/exit-hooks.ts";
import { startHttpd, httpdUnavailableReason, type Httpd } from "../peers/httpd.ts";
import { patternBytes } from "../peers/pattern.ts";
import { startTomcatCluster, tomcatAvailable, type TomcatNode } from "../peers/tomcat.ts";
import { startBridgeProcess, type BridgeProcess } from "./bridge-process.ts";
import { mergeRuns, runLoad, runLoadWithSamples, type LoadResult, type LoadRun, type LoadSpec } from "./load.ts";
import { cpuSeconds, cpuSecondsOf, descendants, peakRssBytes, rssBytes } from "./proc-stats.ts";
import { summarizeProfiles } from "./profile.ts";
import { GIB, streamDownload, streamUpload, warmUp, type StreamResult } from "./stream-1gib.ts";
import { appCpu, policyCpu } from "./worker-cpu.ts";

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const RESULTS_DIR = path.join(REPO_ROOT, "bench/results");
const RESULTS_FILE = path.join(RESULTS_DIR, "latest.json");
const MIB = 1024 * 1024;

function envNumber(name: string, def: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return def;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max) throw new Error(`${name}=${raw}: expected a number from ${min} to ${max}`);
  return n;
}

function envList<T extends string>(name: string, all: readonly T[]): T[] {
  const raw = process.env[name];
  if (!raw) return [...all];
  const picked = raw.split(",").map((s) => s.trim()).filter(Boolean);
  for (const p of picked) if (!all.includes(p as T)) throw new Error(`${name}: unknown value ${p}; allowed: ${all.join(",")}`);
  return picked as T[];
}

const SCENARIOS = ["small-get", "download-1mib", "upload-1mib", "small-get-c1"] as const;
const TARGETS = ["direct", "apache", "bridge", "worker", "apache-http", "bridge-http"] as const;
const PARTS = ["load", "stream", "worker-cpu"] as const;
type ScenarioId = (typeof SCENARIOS)[number];
type TargetId = (typeof TARGETS)[number];

const settings = {
  durationS: envNumber("BENCH_DURATION", 5, 1, 600),
  /**
   * Each scenario is measured in rounds, the targets' order reversed every
   * other round, so that drift on the shared cores (JIT, GC, a neighbour)
   * falls on all targets alike; results merge all rounds.
   */
  rounds: envNumber("BENCH_ROUNDS", 3, 1, 20),
  /**
   * The AJP packet size of every hop (Tomcat packetSize, httpd
   * ProxyIOBufferSize, bridge packet_size). 8192 is everyone's default and
   * what the incumbent runs; 65536 shows how much of a body's cost is the
   * number of packets (one GET_BODY_CHUNK round trip per upload packet).
   */
  packetSize: envNumber("BENCH_PACKET_SIZE", 8192, 8192, 65536),
  warmupS: envNumber("BENCH_WARMUP", 2, 0, 600),
  connections: envNumber("BENCH_CONNECTIONS", 50, 1, 1000),
  streamBytes: envNumber("BENCH_STREAM_BYTES", GIB, 1, 16 * GIB),
  parts: envList("BENCH_PARTS", PARTS),
  scenarios: envList("BENCH_SCENARIOS", SCENARIOS),
  targets: envList("BENCH_TARGETS", TARGETS),
  cpuProf: process.env.BENCH_CPU_PROF === "1",
  streamBundled: process.env.BENCH_STREAM_BUNDLED !== "0",
  /** Experiments only: a different bridge entry for part 1 (e.g. a pre-bundled or patched build). */
  bridgeEntry: process.env.BENCH_BRIDGE_ENTRY || undefined,
  bridgeNodeFlags: (process.env.BENCH_BRIDGE_NODE_FLAGS ?? "").split(/\s+/).filter(Boolean),
};

interface Scenario {
  id: ScenarioId;
  label: string;
  method: "GET" | "POST";
  path: string;
  body?: Buffer;
  headers?: Record<string, string>;
  minResponseBytes?: number;
  /** Overrides for the information-only unloaded-latency run. */
  connections?: number;
  maxDurationS?: number;
}

const ONE_MIB_BODY = patternBytes(0, MIB);
const SCENARIO_DEFS: Record<ScenarioId, Scenario> = {
  "small-get": { id: "small-get", label: "small GET /ajax/echo", method: "GET", path: "/ajax/echo" },
  "download-1mib": { id: "download-1mib", label: "1 MiB download", method: "GET", path: `/ajax/download?size=${MIB}`, minResponseBytes: MIB },
  "upload-1mib": {
    id: "upload-1mib",
    label: "1 MiB upload",
    method: "POST",
    path: "/ajax/upload-digest",
    body: ONE_MIB_BODY,
    headers: { "content-type": "application/octet-stream" },
  },
  // For information: at 50 connections on two shared cores p99 is mostly queueing;
  // one connection shows what a hop adds to a single request.
  "small-get-c1": { id: "small-get-c1", label: "small GET, 1 connection", method: "GET", path: "/ajax/echo", connections: 1, maxDurationS: 5 },
};

const TARGET_LABELS: Record<TargetId, string> = {
  direct: "Tomcat HTTP direct",
  apache: "Apache httpd → AJP",
  bridge: "bridge → AJP",
  worker: "worker → bridge → AJP",
  "apache-http": "Apache httpd → HTTP",
  "bridge-http": "bridge → HTTP",
};

interface TargetRun {
  urls: string[];
  /** Extra request headers for a request target (the worker harness needs two). */
  headers?: (target: string) => Record<string, string>;
  attachSignature: boolean;
  /** The proxy's processes, whose CPU is "proxy CPU"; none for direct. */
  proxyPids: { name: string; pid: number }[];
}

interface Measurement extends LoadResult {
  valid: boolean;
  /** CPU seconds of the proxy process(es) during the measurement; null for direct. */
  proxyCpuS: number | null;
  proxyCpuByProcess: Record<string, number>;
  proxyCpuMsPerRequest: number | null;
  /** Both Tomcat JVMs together. */
  nodesCpuS: number;
  /** This process: autocannon and the orchestrator. */
  clientCpuS: number;
  /** Each round on its own, in the order measured. */
  rounds: { rps: number; p50Ms: number; p99Ms: number; proxyCpuS: number | null }[];
}

type TargetResult = Measurement | { skipped: string };

// ---------------------------------------------------------------------------------------------
// Process bookkeeping: everything started here is stopped here, by its own handle or PID.

const cleanups: (() => Promise<void>)[] = [];
/** workerd processes Miniflare started for us. */
const ownPids = new Set<number>();

async function cleanupAll(): Promise<void> {
  while (cleanups.length) {
    const fn = cleanups.pop()!;
    try {
      await fn();
    } catch (e) {
      console.error(`cleanup: ${(e as Error).message}`);
    }
  }
}

// Processes started through Miniflare (workerd) are not covered by the launchers' own hooks.
atExit(() => {
  for (const pid of ownPids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
  }
});

// ---------------------------------------------------------------------------------------------
// The worker under workerd (Miniflare), optional

interface WorkerChain {
  url: string;
  workerdPids: number[];
  dispose(): Promise<void>;
}

function comm(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "";
  }
}

async function startWorkerChain(bridgeUrl: string, secret: string): Promise<WorkerChain> {
  // Imported here: a worker that does not build yet must not stop the rest of the benchmark.
  const { bundleWorker } = await import("../peers/miniflare.ts");
  const { Miniflare } = await import("miniflare");
  const { unstable_getMiniflareWorkerOptions } = await import("wrangler");
  const script = await bundleWorker();
  const { workerOptions } = unstable_getMiniflareWorkerOptions(path.join(REPO_ROOT, "wrangler.toml"));
  const before = new Set(descendants(process.pid));
  const logTail: string[] = [];
  const mf = new Miniflare({
    ...(workerOptions as object),
    modulesRules: undefined,
    modules: [{ type: "ESModule", path: "index.mjs", contents: script }],
    bindings: { ...(workerOptions.bindings ?? {}), BRIDGE_URLS: bridgeUrl, BRIDGE_SECRET: secret },
    host: "127.0.0.1",
    port: 0,
    cf: false,
    handleRuntimeStdio(stdout: NodeJS.ReadableStream, stderr: NodeJS.ReadableStream) {
      // Keep only the last lines: enough for an error message, bounded under load.
      const keep = (d: Buffer) => {
        for (const line of d.toString("utf8").split("\n")) if (line.trim()) logTail.push(line);
        if (logTail.length > 50) logTail.splice(0, logTail.length - 50);
      };
      stdout.on("data", keep);
      stderr.on("data", keep);
    },
  } as ConstructorParameters<typeof Miniflare>[0]);
  let disposed: Promise<void> | undefined;
  const dispose = () => (disposed ??= mf.dispose());
  try {
    const url = (await mf.ready).origin;
    const workerdPids = descendants(process.pid).filter((p) => !before.has(p) && comm(p) === "workerd");
    for (const p of workerdPids) ownPids.add(p);
    // One request through the whole chain before it counts as usable.
    const probe = await fetch(`${url}/ajax/echo`, { headers: workerHeaders("/ajax/echo"), redirect: "manual" });
    const text = await probe.text();
    if (probe.status !== 200) throw new Error(`probe GET /ajax/echo through the worker answered ${probe.status}: ${text.slice(0, 200)} ${logTail.slice(-3).join(" | ")}`);
    if (workerdPids.length === 0) throw new Error("no workerd process found under this one (cannot measure its CPU)");
    return { url, workerdPids, dispose };
  } catch (e) {
    await dispose();
    throw e;
  }
}

/**
 * Miniflare's entry socket takes the URL the worker sees from MF-Original-URL
 * (that is how its own dispatchFetch keeps the scheme): the worker must see
 * https, or it answers every request with a redirect. CF-Connecting-IP is what
 * Cloudflare's edge sets.
 */
function workerHeaders(p: string): Record<string, string> {
  return { "MF-Original-URL": `https://ox.example.com${p}`, "CF-Connecting-IP": "203.0.113.7" };
}

// ---------------------------------------------------------------------------------------------
// Measurements

function isValid(r: LoadResult): boolean {
  return r.requests > 0 && r.non2xx === 0 && r.short === 0 && r.errors <= Math.max(1, r.requests * 0.001);
}

/** One round of one scenario against one target. */
interface Round {
  run: LoadRun;
  proxyCpuS: number | null;
  proxyCpuByProcess: Record<string, number>;
  nodesCpuS: number;
  clientCpuS: number;
}

async function measureRound(scenario: Scenario, target: TargetRun, bench: { tomcatPids: number[]; secret: string }, warmUp: boolean): Promise<Round> {
  const spec: LoadSpec = {
    urls: target.urls,
    method: scenario.method,
    path: scenario.path,
    body: scenario.body,
    headers: { ...(scenario.headers ?? {}), ...(target.headers?.(scenario.path) ?? {}) },
    sign: { secret: bench.secret, attach: target.attachSignature },
    connections: scenario.connections ?? settings.connections,
    durationS: Math.min(settings.durationS, scenario.maxDurationS ?? Infinity),
    minResponseBytes: scenario.minResponseBytes,
  };
  if (warmUp && settings.warmupS > 0) await runLoad({ ...spec, durationS: Math.min(settings.warmupS, spec.durationS) });
  const proxy0 = target.proxyPids.map((p) => cpuSeconds(p.pid));
  const nodes0 = cpuSecondsOf(bench.tomcatPids);
  const client0 = process.cpuUsage();
  const run = await runLoadWithSamples(spec);
  const client = process.cpuUsage(client0);
  const nodesCpuS = cpuSecondsOf(bench.tomcatPids) - nodes0;
  const byProcess: Record<string, number> = {};
  let proxyCpuS: number | null = null;
  target.proxyPids.forEach((p, i) => {
    const used = cpuSeconds(p.pid) - proxy0[i];
    byProcess[p.name] = used;
    proxyCpuS = (proxyCpuS ?? 0) + used;
  });
  return { run, proxyCpuS, proxyCpuByProcess: byProcess, nodesCpuS, clientCpuS: (client.user + client.system) / 1e6 };
}

/** All rounds of a target as one measurement (CPU adds up, latency percentiles over every response). */
function combineRounds(rounds: Round[]): Measurement {
  const r = mergeRuns(rounds.map((x) => x.run)).result;
  const byProcess: Record<string, number> = {};
  let proxyCpuS: number | null = null;
  for (const x of rounds) {
    for (const [k, v] of Object.entries(x.proxyCpuByProcess)) byProcess[k] = round((byProcess[k] ?? 0) + v, 3);
    if (x.proxyCpuS !== null) proxyCpuS = (proxyCpuS ?? 0) + x.proxyCpuS;
  }
  return {
    ...r,
    valid: rounds.every((x) => isValid(x.run.result)),
    proxyCpuS: proxyCpuS === null ? null : round(proxyCpuS, 3),
    proxyCpuByProcess: byProcess,
    proxyCpuMsPerRequest: proxyCpuS === null || r.requests === 0 ? null : round((proxyCpuS * 1000) / r.requests, 4),
    nodesCpuS: round(rounds.reduce((n, x) => n + x.nodesCpuS, 0), 3),
    clientCpuS: round(rounds.reduce((n, x) => n + x.clientCpuS, 0), 3),
    rounds: rounds.map((x) => ({ rps: round(x.run.result.rps, 1), p50Ms: round(x.run.result.p50Ms, 3), p99Ms: round(x.run.result.p99Ms, 3), proxyCpuS: x.proxyCpuS === null ? null : round(x.proxyCpuS, 3) })),
  };
}

function sizeLabel(bytes: number): string {
  return bytes >= GIB && bytes % GIB === 0 ? `${bytes / GIB} GiB` : `${fmt(bytes / MIB, 0)} MiB`;
}

function round(v: number, digits = 2): number {
  if (!Number.isFinite(v)) return v;
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

// ---------------------------------------------------------------------------------------------
// Targets (reported, not asserted)

interface TargetCheck {
  id: string;
  description: string;
  value: number | null;
  unit: string;
  goal: string;
  /** null when the inputs are missing or a measurement had errors. */
  pass: boolean | null;
  note?: string;
}

function measured(t: TargetResult | undefined): Measurement | undefined {
  return t && !("skipped" in t) ? t : undefined;
}

function ratioCheck(id: string, description: string, num: Measurement | undefined, den: Measurement | undefined, goal: number): TargetCheck {
  if (!num || !den) return { id, description, value: null, unit: "×", goal: `≥ ${goal}`, pass: null, note: "not measured" };
  const value = round(num.rps / den.rps, 3);
  const note = num.valid && den.valid ? undefined : "a measurement had errors";
  return { id, description, value, unit: "×", goal: `≥ ${goal}`, pass: note ? null : value >= goal, note };
}

// ---------------------------------------------------------------------------------------------
// Output

function fmt(v: number | null | undefined, digits = 2): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return "-";
  return v.toFixed(digits);
}

function table(rows: string[][], align: ("l" | "r")[]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (align[i] === "r" ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join("  ")).join("\n");
}

function versions(): Record<string, string> {
  const out: Record<string, string> = { node: process.version, autocannon: readPkgVersion("autocannon") };
  try {
    out.apache = execFileSync("/usr/sbin/apache2", ["-v"], { encoding: "utf8", env: { LANG: "C" } }).split("\n")[0].replace(/^Server version:\s*/, "");
  } catch {
    out.apache = "unknown";
  }
  try {
    out.tomcat = execFileSync("dpkg-query", ["-W", "-f", "${Version}", "libtomcat10-java"], { encoding: "utf8" });
  } catch {
    out.tomcat = "unknown";
  }
  return out;
}

function readPkgVersion(name: string): string {
  try {
    return (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "node_modules", name, "package.json"), "utf8")) as { version: string }).version;
  } catch {
    return "unknown";
  }
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const startedAt = new Date();
  const secret = randomBytes(32).toString("hex"); // both sides want ≥ 32 characters (common/secret.ts)
  const workDir = path.join(REPO_ROOT, ".tmp", `bench-${process.pid}`);
  fs.mkdirSync(workDir, { recursive: true });
  // BENCH_KEEP=1 keeps the bridge's config and log (e.g. its --trace-gc output) for a look afterwards.
  if (process.env.BENCH_KEEP === "1") console.log(`keeping ${workDir}`);
  else cleanups.push(async () => fs.rmSync(workDir, { recursive: true, force: true }));
  const profileDir = path.join(RESULTS_DIR, "profiles");

  console.log(
    `oxedge bench: ${settings.rounds} round(s) of ${settings.durationS} s per measurement (${settings.warmupS} s warm-up before the first), ${settings.connections} keep-alive connections, autocannon, AJP packets of ${settings.packetSize} bytes`,
  );
  console.log(`load average at start: ${os.loadavg().map((l) => l.toFixed(2)).join(" ")} on ${os.cpus().length} CPUs${os.loadavg()[0] > 1 ? " (the machine is busy: numbers may be noisy)" : ""}`);

  const results: Record<string, unknown> = {
    schema: 1,
    startedAt: startedAt.toISOString(),
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, loadavgAtStart: os.loadavg().map((l) => round(l)), ...versions() },
    settings: { ...settings, loadGenerator: "autocannon", streamBytes: settings.streamBytes },
  };

  const needTomcat = settings.parts.includes("load") || settings.parts.includes("stream");
  let nodes: TomcatNode[] = [];
  if (needTomcat) {
    const t = tomcatAvailable();
    if (!t.ok) throw new Error(`Tomcat is needed: missing ${t.missing.join(", ")}`);
    const why = settings.parts.includes("load") && settings.targets.includes("apache") ? httpdUnavailableReason() : undefined;
    if (why) throw new Error(`Apache httpd is needed: ${why}`);
    process.stdout.write("starting two Tomcat 10 nodes … ");
    // A fixed heap: growing it mid-run would show up as noise.
    nodes = await startTomcatCluster(["OX1", "OX2"], { jvmArgs: ["-Xms512m", "-Xmx512m"], packetSize: settings.packetSize });
    cleanups.push(async () => void (await Promise.all(nodes.map((n) => n.stop()))));
    console.log(nodes.map((n) => `${n.route} pid ${n.pid} http ${n.httpPort} ajp ${n.ajpPort}`).join(", "));
  }
  const members = nodes.map((n) => ({ route: n.route, ajpPort: n.ajpPort, secret: n.secret, packetSize: settings.packetSize }));
  const tomcatPids = nodes.map((n) => n.pid);

  // ------------------------------------------------------------------ part 1
  const checks: TargetCheck[] = [];
  if (settings.parts.includes("load")) {
    const wants = (t: TargetId) => settings.targets.includes(t);
    let bridge: BridgeProcess | undefined;
    let httpd: Httpd | undefined;
    // App Suite's way: the same nodes through their HTTP connectors (mod_proxy_http; HTTP members).
    let bridgeHttp: BridgeProcess | undefined;
    let httpdHttp: Httpd | undefined;
    let chain: WorkerChain | undefined;
    let workerSkip: string | undefined;
    if (wants("bridge") || wants("worker")) {
      if (settings.cpuProf) fs.mkdirSync(profileDir, { recursive: true });
      bridge = await startBridgeProcess({ members, secret, workDir, cpuProfDir: settings.cpuProf ? profileDir : undefined, entry: settings.bridgeEntry, nodeFlags: settings.bridgeNodeFlags });
      const b = bridge;
      cleanups.push(() => b.stop());
      console.log(`bridge pid ${bridge.pid} on ${bridge.url} (node ${settings.bridgeEntry ?? "bin/oxedge-bridge.js"}${settings.cpuProf ? ", --cpu-prof" : ""})`);
    }
    if (wants("apache")) {
      httpd = await startHttpd({
        members: nodes.map((n) => ({ host: "127.0.0.1", ajpPort: n.ajpPort, route: n.route, secret: n.secret })),
        iobuffersize: settings.packetSize === 8192 ? undefined : settings.packetSize,
      });
      const h = httpd;
      cleanups.push(() => h.stop());
      console.log(`Apache httpd pid ${httpd.pid} on http://127.0.0.1:${httpd.port}`);
    }
    if (wants("bridge-http")) {
      if (settings.cpuProf) fs.mkdirSync(profileDir, { recursive: true });
      bridgeHttp = await startBridgeProcess({ members: nodes.map((n) => ({ route: n.route, httpPort: n.httpPort })), secret, workDir, cpuProfDir: settings.cpuProf ? profileDir : undefined, entry: settings.bridgeEntry, nodeFlags: settings.bridgeNodeFlags });
      const b = bridgeHttp;
      cleanups.push(() => b.stop());
      console.log(`bridge (HTTP members) pid ${bridgeHttp.pid} on ${bridgeHttp.url}`);
    }
    if (wants("apache-http")) {
      httpdHttp = await startHttpd({ members: nodes.map((n) => ({ kind: "http" as const, host: "127.0.0.1", httpPort: n.httpPort, route: n.route })) });
      const h = httpdHttp;
      cleanups.push(() => h.stop());
      console.log(`Apache httpd (mod_proxy_http) pid ${httpdHttp.pid} on http://127.0.0.1:${httpdHttp.port}`);
    }
    if (wants("worker") && bridge) {
      try {
        chain = await startWorkerChain(bridge.url, secret);
        const c = chain;
        cleanups.push(() => c.dispose());
        console.log(`worker under workerd (Miniflare) on ${chain.url}, workerd pid ${chain.workerdPids.join(",")}`);
      } catch (e) {
        workerSkip = `worker chain not usable: ${(e as Error).message.split("\n")[0]}`;
        console.log(`skipped: ${workerSkip}`);
      }
    }

    const runs: Partial<Record<TargetId, TargetRun>> = {};
    if (wants("direct")) runs.direct = { urls: nodes.map((n) => `http://127.0.0.1:${n.httpPort}`), attachSignature: false, proxyPids: [] };
    if (httpd) runs.apache = { urls: [`http://127.0.0.1:${httpd.port}`], attachSignature: false, proxyPids: [{ name: "httpd", pid: httpd.pid }] };
    if (bridge) {
      if (wants("bridge")) runs.bridge = { urls: [bridge.url], attachSignature: true, proxyPids: [{ name: "bridge", pid: bridge.pid }] };
      if (chain) {
        runs.worker = {
          urls: [chain.url],
          headers: workerHeaders,
          attachSignature: false,
          proxyPids: [...chain.workerdPids.map((pid, i) => ({ name: chain!.workerdPids.length > 1 ? `workerd${i}` : "workerd", pid })), { name: "bridge", pid: bridge.pid }],
        };
      }
    }

    if (httpdHttp) runs["apache-http"] = { urls: [`http://127.0.0.1:${httpdHttp.port}`], attachSignature: false, proxyPids: [{ name: "httpd", pid: httpdHttp.pid }] };
    if (bridgeHttp) runs["bridge-http"] = { urls: [bridgeHttp.url], attachSignature: true, proxyPids: [{ name: "bridge", pid: bridgeHttp.pid }] };

    // The JVMs compile their HTTP and AJP paths, and the bridge its own, before anything counts.
    const jvmWarm = Math.min(5, Math.max(1, settings.warmupS * 2));
    process.stdout.write(`warming up the JVMs (${jvmWarm} s per scenario and path) … `);
    for (const id of settings.scenarios) {
      const s = SCENARIO_DEFS[id];
      if (s.connections !== undefined) continue; // same request as a loaded scenario
      for (const t of [runs.direct, runs.bridge ?? runs.apache, runs["bridge-http"] ?? runs["apache-http"]]) {
        if (!t) continue;
        await runLoad({ urls: t.urls, method: s.method, path: s.path, body: s.body, headers: s.headers, sign: { secret, attach: t.attachSignature }, connections: settings.connections, durationS: jvmWarm });
      }
    }
    console.log("done");

    const load: Record<string, unknown> = {};
    for (const id of settings.scenarios) {
      const s = SCENARIO_DEFS[id];
      const targets: Partial<Record<TargetId, TargetResult>> = {};
      const live: TargetId[] = [];
      for (const t of settings.targets) {
        if (runs[t]) live.push(t);
        else targets[t] = { skipped: t === "worker" ? (workerSkip ?? "bridge not started") : "not started" };
      }
      const rounds: Partial<Record<TargetId, Round[]>> = {};
      for (let k = 0; k < settings.rounds; k++) {
        for (const t of k % 2 === 0 ? live : [...live].reverse()) {
          process.stdout.write(`  ${s.label.padEnd(22)} ${TARGET_LABELS[t].padEnd(24)} ${settings.rounds > 1 ? `round ${k + 1}  ` : ""}`);
          const x = await measureRound(s, runs[t]!, { tomcatPids, secret }, k === 0);
          (rounds[t] ??= []).push(x);
          const m = x.run.result;
          console.log(
            `${fmt(m.rps, 0).padStart(7)} req/s  p50 ${fmt(m.p50Ms)} ms  p99 ${fmt(m.p99Ms)} ms  proxy CPU ${fmt(x.proxyCpuS)} s` +
              (isValid(m) ? "" : `  ERRORS: ${m.errors} errors, ${m.non2xx} non-2xx ${JSON.stringify(m.statusCounts)}, ${m.short} short`),
          );
        }
      }
      for (const t of live) targets[t] = combineRounds(rounds[t]!);
      // The same ratio per round (targets measured minutes apart or seconds apart tell different stories).
      const perRound = (a: TargetId, b: TargetId) =>
        rounds[a] && rounds[b] ? rounds[a]!.map((x, k) => round(x.run.result.rps / rounds[b]![k].run.result.rps, 3)) : null;
      const direct = measured(targets.direct);
      const apache = measured(targets.apache);
      const br = measured(targets.bridge);
      const apacheHttp = measured(targets["apache-http"]);
      const brHttp = measured(targets["bridge-http"]);
      load[id] = {
        request: `${s.method} ${s.path}${s.body ? ` (${s.body.length} bytes body)` : ""}`,
        targets,
        ratios: {
          bridgeOverApacheRps: br && apache ? round(br.rps / apache.rps, 3) : null,
          bridgeOverDirectRps: br && direct ? round(br.rps / direct.rps, 3) : null,
          apacheOverDirectRps: apache && direct ? round(apache.rps / direct.rps, 3) : null,
          bridgeP99AddedOverDirectMs: br && direct ? round(br.p99Ms - direct.p99Ms, 3) : null,
          apacheP99AddedOverDirectMs: apache && direct ? round(apache.p99Ms - direct.p99Ms, 3) : null,
          bridgeOverApacheCpuPerRequest: br?.proxyCpuMsPerRequest && apache?.proxyCpuMsPerRequest ? round(br.proxyCpuMsPerRequest / apache.proxyCpuMsPerRequest, 3) : null,
          bridgeOverApacheRpsByRound: perRound("bridge", "apache"),
          bridgeOverDirectRpsByRound: perRound("bridge", "direct"),
          bridgeHttpOverApacheHttpRps: brHttp && apacheHttp ? round(brHttp.rps / apacheHttp.rps, 3) : null,
          bridgeHttpOverApacheHttpCpuPerRequest: brHttp?.proxyCpuMsPerRequest && apacheHttp?.proxyCpuMsPerRequest ? round(brHttp.proxyCpuMsPerRequest / apacheHttp.proxyCpuMsPerRequest, 3) : null,
          bridgeHttpOverApacheHttpRpsByRound: perRound("bridge-http", "apache-http"),
        },
      };
    }
    results.load = load;
    if (bridge) {
      // The nonce map keeps every nonce for twice the signature window, so this grows with the request rate.
      results.bridgeAfterLoad = { rssBytes: rssBytes(bridge.pid), peakRssBytes: peakRssBytes(bridge.pid) };
    }

    const get = (sc: ScenarioId, t: TargetId) => measured((load[sc] as { targets: Partial<Record<TargetId, TargetResult>> } | undefined)?.targets[t]);
    checks.push(ratioCheck("small-get-bridge-vs-apache", "small GET: bridge req/s vs Apache", get("small-get", "bridge"), get("small-get", "apache"), 1.2));
    {
      const br = get("small-get", "bridge");
      const d = get("small-get", "direct");
      const value = br && d ? round(br.p99Ms - d.p99Ms, 3) : null;
      const note = !br || !d ? "not measured" : br.valid && d.valid ? undefined : "a measurement had errors";
      checks.push({ id: "small-get-p99-added", description: "small GET: p99 the bridge adds over direct", value, unit: "ms", goal: "≤ 1", pass: value === null || note ? null : value <= 1, note });
    }
    checks.push(ratioCheck("download-bridge-vs-direct", "1 MiB download: bridge req/s vs direct", get("download-1mib", "bridge"), get("download-1mib", "direct"), 0.9));
    checks.push(ratioCheck("upload-bridge-vs-direct", "1 MiB upload: bridge req/s vs direct", get("upload-1mib", "bridge"), get("upload-1mib", "direct"), 0.9));
    checks.push(ratioCheck("small-get-http-vs-apache", "small GET over HTTP: bridge vs Apache mod_proxy_http", get("small-get", "bridge-http"), get("small-get", "apache-http"), 1.2));
    checks.push(ratioCheck("download-http-vs-apache", "1 MiB download over HTTP: bridge vs Apache", get("download-1mib", "bridge-http"), get("download-1mib", "apache-http"), 1.0));
    checks.push(ratioCheck("upload-http-vs-apache", "1 MiB upload over HTTP: bridge vs Apache", get("upload-1mib", "bridge-http"), get("upload-1mib", "apache-http"), 1.0));

    // Free the cores for the next parts.
    if (chain) {
      await chain.dispose();
      for (const p of chain.workerdPids) ownPids.delete(p);
    }
    if (httpd) await httpd.stop();
    if (httpdHttp) await httpdHttp.stop();
    if (bridgeHttp) {
      await bridgeHttp.stop();
      const summary = settings.cpuProf ? summarizeProfiles(profileDir, bridgeHttp.pid, 25) : undefined;
      if (summary) {
        results.bridgeHttpProfile = summary;
        console.log(`\nbridge (HTTP members) CPU profile (${summary.file}), top self time:`);
        console.log(table([["self ms", "self %", "function", "where"], ...summary.top.map((f) => [fmt(f.selfMs, 0), fmt(f.selfPct, 1), f.functionName, f.where])], ["r", "r", "l", "l"]));
      }
    }
    if (bridge) {
      await bridge.stop();
      if (settings.cpuProf) {
        const summary = summarizeProfiles(profileDir, bridge.pid, 25);
        if (summary) {
          results.bridgeProfile = summary;
          console.log(`\nbridge CPU profile (${summary.file}), top self time:`);
          console.log(table([["self ms", "self %", "function", "where"], ...summary.top.map((f) => [fmt(f.selfMs, 0), fmt(f.selfPct, 1), f.functionName, f.where])], ["r", "r", "l", "l"]));
        }
      }
    }
  }

  // ------------------------------------------------------------------ part 2
  if (settings.parts.includes("stream")) {
    const size = settings.streamBytes;
    console.log(`\nstreaming ${sizeLabel(size)} each way through a freshly started bridge (sampling its RSS every 20 ms)`);
    const streamBoth = async (label: string, entry?: string): Promise<Record<"upload" | "download", StreamResult>> => {
      const out = {} as Record<"upload" | "download", StreamResult>;
      for (const direction of ["upload", "download"] as const) {
        // A fresh process per direction, so VmHWM (lifetime peak) belongs to this transfer alone.
        const b = await startBridgeProcess({ members, secret, workDir, entry });
        try {
          // A few small requests first: the idle baseline is a bridge that has served something.
          await warmUp(b.url, secret, 20);
          const r = direction === "upload" ? await streamUpload(b.url, secret, b.pid, size) : await streamDownload(b.url, secret, b.pid, size);
          out[direction] = r;
          const before = r.rssBeforeBytes ?? 0;
          console.log(
            `  ${label.padEnd(9)} ${direction.padEnd(8)} ${fmt(r.bytes / MIB, 0)} MiB in ${fmt(r.seconds, 1)} s (${fmt(r.mibPerS, 0)} MiB/s), ` +
              `RSS ${fmt(before / MIB, 1)} MiB before, peak ${fmt(r.peakRssBytes / MIB, 1)} MiB (+${fmt((r.peakRssBytes - before) / MIB, 1)})` +
              (r.ok ? "" : `  PROBLEM: ${r.problem}`),
          );
        } finally {
          await b.stop();
        }
      }
      return out;
    };
    const stream: Record<string, unknown> = await streamBoth("bridge");
    results.stream = stream;
    for (const direction of ["upload", "download"] as const) {
      const r = stream[direction] as StreamResult | undefined;
      const value = r ? round(r.peakRssBytes / MIB, 1) : null;
      const note = !r ? "not measured" : r.ok ? undefined : r.problem;
      checks.push({ id: `stream-${direction}-peak-rss`, description: `${sizeLabel(size)} ${direction}: bridge peak RSS`, value, unit: "MiB", goal: "≤ 80", pass: value === null || note ? null : value <= 80, note });
    }
    if (settings.streamBundled) {
      // For information only: the same bridge code bundled ahead of time and run by plain node,
      // which separates what the tsx loader costs in memory from what streaming costs.
      try {
        const entry = path.join(workDir, "bridge-bundle.mjs");
        const { build } = await import("esbuild");
        await build({ entryPoints: [path.join(REPO_ROOT, "bridge/cli.ts")], bundle: true, platform: "node", format: "esm", target: "node20", outfile: entry, logLevel: "silent" });
        stream.bundledForComparison = await streamBoth("bundled", entry);
      } catch (e) {
        stream.bundledForComparison = { skipped: (e as Error).message.split("\n")[0] };
      }
    }
  }

  // Nodes are not needed any more; the micro-benchmark wants a quiet machine.
  await Promise.all(nodes.map((n) => n.stop()));

  // ------------------------------------------------------------------ part 3
  if (settings.parts.includes("worker-cpu")) {
    console.log("\nworker CPU per request (micro-benchmark in Node, warm JIT)");
    let policy, app;
    try {
      policy = await policyCpu();
      console.log(
        `  policy (canonical path + route decision + signing): ${fmt(policy.cpuMsPerRequest, 4)} ms CPU/request ` +
          `(canonicalPath ${fmt(policy.parts.canonicalPath, 4)}, stickyRoute ${fmt(policy.parts.stickyRoute, 4)}, sign ${fmt(policy.parts.sign, 4)})`,
      );
    } catch (e) {
      console.log(`  skipped: ${(e as Error).message}`);
    }
    try {
      app = await appCpu();
      console.log(`  whole Hono app with fetch stubbed (for information): ${fmt(app.cpuMsPerRequest, 4)} ms CPU/request`);
    } catch (e) {
      app = { skipped: (e as Error).message.split("\n")[0] };
      console.log(`  whole app skipped: ${app.skipped}`);
    }
    results.workerCpu = { policy: policy ?? { skipped: "policy functions failed" }, app };
    checks.push({
      id: "worker-policy-cpu",
      description: "worker policy CPU per request",
      value: policy ? round(policy.cpuMsPerRequest, 4) : null,
      unit: "ms",
      goal: "≤ 0.3",
      pass: policy ? policy.cpuMsPerRequest <= 0.3 : null,
      note: policy ? undefined : "not measured",
    });
  }

  // ------------------------------------------------------------------ report
  results.targets = checks;
  results.finishedAt = new Date().toISOString();
  results.loadavgAtEnd = os.loadavg().map((l) => round(l));

  if (results.load) printLoadTable(results.load as Record<string, { targets: Partial<Record<TargetId, TargetResult>>; ratios: Ratios }>);
  if (checks.length) {
    console.log("\nTargets (reported, not asserted)");
    console.log(
      table(
        [["target", "value", "goal", ""], ...checks.map((c) => [c.description, c.value === null ? "-" : `${c.value} ${c.unit}`, `${c.goal} ${c.unit}`, c.pass === null ? `n/a${c.note ? ` (${c.note})` : ""}` : c.pass ? "PASS" : "MISS"])],
        ["l", "r", "r", "l"],
      ),
    );
  }
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  fs.writeFileSync(RESULTS_FILE, JSON.stringify(results, null, 2) + "\n");
  console.log(`\nresults: ${path.relative(process.cwd(), RESULTS_FILE)}   (${((Date.now() - startedAt.getTime()) / 1000).toFixed(0)} s)`);
  return 0;
}

interface Ratios {
  bridgeOverApacheRps: number | null;
  bridgeOverDirectRps: number | null;
  apacheOverDirectRps: number | null;
  bridgeP99AddedOverDirectMs: number | null;
  apacheP99AddedOverDirectMs: number | null;
  bridgeOverApacheCpuPerRequest: number | null;
  bridgeOverApacheRpsByRound: number[] | null;
  bridgeOverDirectRpsByRound: number[] | null;
  bridgeHttpOverApacheHttpRps: number | null;
  bridgeHttpOverApacheHttpCpuPerRequest: number | null;
  bridgeHttpOverApacheHttpRpsByRound: number[] | null;
}

function printLoadTable(load: Record<string, { targets: Partial<Record<TargetId, TargetResult>>; ratios: Ratios }>): void {
  console.log(`\nPart 1: ${settings.connections} keep-alive connections (the last scenario: 1), ${settings.rounds} × ${settings.durationS} s per measurement, merged`);
  const rows: string[][] = [["scenario", "target", "req/s", "p50 ms", "p99 ms", "proxy CPU s", "CPU ms/req", "nodes CPU s", "errors"]];
  for (const [id, entry] of Object.entries(load)) {
    let first = true;
    for (const t of TARGETS) {
      const r = entry.targets[t];
      if (!r) continue;
      const label = first ? SCENARIO_DEFS[id as ScenarioId].label : "";
      first = false;
      if ("skipped" in r) {
        rows.push([label, TARGET_LABELS[t], `skipped: ${r.skipped}`.slice(0, 60), "", "", "", "", "", ""]);
        continue;
      }
      rows.push([
        label,
        TARGET_LABELS[t],
        fmt(r.rps, 0),
        fmt(r.p50Ms),
        fmt(r.p99Ms),
        r.proxyCpuS === null ? "-" : fmt(r.proxyCpuS),
        r.proxyCpuMsPerRequest === null ? "-" : fmt(r.proxyCpuMsPerRequest, 3),
        fmt(r.nodesCpuS),
        r.valid ? "0" : `${r.errors + r.non2xx + r.short}!`,
      ]);
    }
  }
  console.log(table(rows, ["l", "l", "r", "r", "r", "r", "r", "r", "r"]));
  console.log("\nRatios");
  for (const [id, entry] of Object.entries(load)) {
    const q = entry.ratios;
    console.log(
      `  ${SCENARIO_DEFS[id as ScenarioId].label.padEnd(22)} bridge/Apache ${fmt(q.bridgeOverApacheRps)}×${byRound(q.bridgeOverApacheRpsByRound)}   bridge/direct ${fmt(q.bridgeOverDirectRps)}×${byRound(q.bridgeOverDirectRpsByRound)}   ` +
        `Apache/direct ${fmt(q.apacheOverDirectRps)}×   p99 added over direct: bridge ${fmt(q.bridgeP99AddedOverDirectMs)} ms, Apache ${fmt(q.apacheP99AddedOverDirectMs)} ms   ` +
        `proxy CPU/req bridge/Apache ${fmt(q.bridgeOverApacheCpuPerRequest)}×` +
        (q.bridgeHttpOverApacheHttpRps === null ? "" : `   over HTTP bridge/Apache ${fmt(q.bridgeHttpOverApacheHttpRps)}×${byRound(q.bridgeHttpOverApacheHttpRpsByRound)}, CPU/req ${fmt(q.bridgeHttpOverApacheHttpCpuPerRequest)}×`),
    );
  }
}

function byRound(v: number[] | null): string {
  return v && v.length > 1 ? ` (by round ${v.map((x) => fmt(x)).join(", ")})` : "";
}

main()
  .then(
    async (code) => {
      await cleanupAll();
      process.exit(code);
    },
    async (e: unknown) => {
      console.error(`\nbench failed: ${(e as Error)?.stack ?? e}`);
      await cleanupAll();
      process.exit(1);
    },
  );
