/**
 * The bridge as an operator runs it: bin/oxedge-bridge.js as a child
 * process with a config file, its log lines collected, signalled and
 * stopped by its PID only.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { until } from "./wait.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BIN = join(ROOT, "bin/oxedge-bridge.js");

/** A temporary directory for config files, removed by `remove()`. */
export function configDir(): { dir: string; write(name: string, input: unknown): string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), "oxedge-lifecycle-"));
  return {
    dir,
    write: (name, input) => {
      const file = join(dir, name);
      writeFileSync(file, typeof input === "string" ? input : JSON.stringify(input, null, 2));
      return file;
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * The launcher's notice that this checkout has no current build and bundles
 * for the run (bin/bundle.js): not the bridge's output, so left out of it.
 */
const LAUNCHER_NOTICE = /^oxedge: .*(bundling from the sources|npm run build).*\n/gm;

/**
 * A log line as the tests match it, the same shape as startTestBridge's:
 * "level msg key=value …" from the bridge's JSON record; other lines as they are.
 */
function readable(line: string): string {
  if (!line.startsWith("{")) return line;
  try {
    const { level, msg, time: _time, ...fields } = JSON.parse(line) as Record<string, unknown>;
    return `${level} ${msg} ${Object.entries(fields).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`).join(" ")}`;
  } catch {
    return line;
  }
}

/** oxedge-bridge with these arguments, to its end (--check, --version, --help). */
export function runBridgeCli(args: string[], env: NodeJS.ProcessEnv = process.env): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, env, encoding: "utf8", timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.replace(LAUNCHER_NOTICE, "") };
}

export interface BridgeProcess {
  proc: ChildProcess;
  pid: number;
  url: string;
  /** Everything it wrote to stderr so far. */
  log(): string;
  /** Its log lines containing `needle`. */
  logged(needle: string): string[];
  /** Resolves with the exit code (or the signal's name) once it has exited. */
  exited: Promise<number | string>;
  /** SIGKILL if it still runs (by its PID): for a test's cleanup. */
  kill(): Promise<void>;
}

/** Starts the bridge on `configFile` and waits (bounded) for its "bridge listening" line. */
export async function spawnBridge(configFile: string, env: NodeJS.ProcessEnv): Promise<BridgeProcess> {
  const proc = spawn(process.execPath, [BIN, "--config", configFile], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  // Lines as they come, JSON records rendered readable (a record may arrive in pieces).
  let out = "";
  let partial = "";
  const take = (d: Buffer) => {
    const lines = (partial + d.toString("utf8")).split("\n");
    partial = lines.pop()!;
    for (const l of lines) out += readable(l) + "\n";
  };
  proc.stdout!.on("data", take);
  proc.stderr!.on("data", take);
  const exited = new Promise<number | string>((resolve) => proc.once("exit", (code, signal) => resolve(code ?? signal ?? -1)));
  const kill = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill("SIGKILL");
      await exited;
    }
  };
  const up = await until(() => /bridge listening .*url=(\S+)/.test(out) || proc.exitCode !== null, 30_000);
  const url = /bridge listening .*url=(\S+)/.exec(out)?.[1];
  if (!up || !url) {
    await kill();
    throw new Error(`the bridge did not start:\n${out}`);
  }
  const logged = (needle: string) => out.split("\n").filter((l) => l.includes(needle));
  return { proc, pid: proc.pid!, url, log: () => out, logged, exited, kill };
}
