/**
 * The bridge as its own process, started the way production starts it
 * (bin/oxedge-bridge.js --config FILE, secrets from the environment), so its
 * CPU and memory can be read from /proc apart from the load generator's.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { atExit, waitExit } from "../peers/exit-hooks.ts";
import { canConnect, freePort } from "../peers/ports.ts";

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const READY_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 10_000;

/** An AJP member (the node's AJP connector) or an HTTP member (its HTTP connector, App Suite's way). */
export type BridgeMember =
  | {
      route: string;
      ajpPort: number;
      secret: string;
      /** AJP packet size; must match the node's packetSize (default 8192 on both). */
      packetSize?: number;
    }
  | { route: string; httpPort: number };

export interface BridgeProcessOptions {
  members: BridgeMember[];
  /** The worker↔bridge HMAC secret (common/secret.ts: ≥ 32 characters). */
  secret: string;
  /** Directory for config and log (created). */
  workDir: string;
  /** Write a V8 CPU profile (.cpuprofile) into this directory when the bridge exits. */
  cpuProfDir?: string;
  /** A JS file to run instead of bin/oxedge-bridge.js (the pre-bundled comparison); same CLI. */
  entry?: string;
  /** More node flags (experiments, e.g. --perf-basic-prof for perf). */
  nodeFlags?: string[];
}

export interface BridgeProcess {
  url: string;
  port: number;
  pid: number;
  logFile: string;
  /** SIGTERM (the bridge closes and exits; a CPU profile is written then), SIGKILL after a bound. */
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
let hooked = false;

function killLeftovers(): void {
  // Only our own children, by PID, and only if the orchestrator ends first.
  for (const c of live) {
    try {
      process.kill(c.pid!, "SIGKILL");
    } catch {
      // already gone
    }
  }
}



export async function startBridgeProcess(o: BridgeProcessOptions): Promise<BridgeProcess> {
  if (!hooked) {
    hooked = true;
    atExit(killLeftovers);
  }
  fs.mkdirSync(o.workDir, { recursive: true });
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, OXEDGE_BRIDGE_SECRET: o.secret };
  const lines = [`listen = "127.0.0.1:${port}"`, "", "[balancer]", "# No CPing probes during measurements.", "healthcheck = 0", ""];
  for (const m of o.members) {
    if ("httpPort" in m) {
      lines.push("[[members]]", `route = "${m.route}"`, `address = "http://127.0.0.1:${m.httpPort}"`, "");
      continue;
    }
    const envName = `OXEDGE_BENCH_AJP_SECRET_${m.route.replace(/[^A-Za-z0-9_]/g, "_")}`;
    env[envName] = m.secret;
    lines.push("[[members]]", `route = "${m.route}"`, `address = "127.0.0.1:${m.ajpPort}"`, `secret_env = "${envName}"`);
    if (m.packetSize) lines.push(`packet_size = ${m.packetSize}`);
    lines.push("");
  }
  const tag = randomBytes(3).toString("hex");
  const configFile = path.join(o.workDir, `bridge-${tag}.toml`);
  const logFile = path.join(o.workDir, `bridge-${tag}.log`);
  fs.writeFileSync(configFile, lines.join("\n"));
  const nodeFlags = [...(o.cpuProfDir ? ["--cpu-prof", `--cpu-prof-dir=${o.cpuProfDir}`] : []), ...(o.nodeFlags ?? [])];
  const logFd = fs.openSync(logFile, "a");
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, [...nodeFlags, o.entry ?? path.join(REPO_ROOT, "bin/oxedge-bridge.js"), "--config", configFile], {
      cwd: REPO_ROOT,
      env,
      stdio: ["ignore", logFd, logFd],
    });
  } finally {
    fs.closeSync(logFd);
  }
  live.add(child);
  child.once("exit", () => live.delete(child));
  const pid = await new Promise<number>((resolve, reject) => {
    child.once("spawn", () => resolve(child.pid!));
    child.once("error", reject);
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    if (!(await waitExit(child, STOP_TIMEOUT_MS))) {
      child.kill("SIGKILL");
      await waitExit(child, 5000);
    }
  };
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`bridge exited during start-up (${child.exitCode ?? child.signalCode}); log ${logFile}:\n${tail(logFile)}`);
    }
    if (await canConnect(port)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`bridge not listening on 127.0.0.1:${port} after ${READY_TIMEOUT_MS} ms; log ${logFile}:\n${tail(logFile)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url: `http://127.0.0.1:${port}`, port, pid, logFile, stop };
}

function tail(file: string, n = 30): string {
  try {
    return fs.readFileSync(file, "utf8").split("\n").slice(-n).join("\n");
  } catch {
    return "(no log)";
  }
}
