/**
 * `npm start`: a local two-node cluster in one command. Two demo AJP nodes
 * (OX1, OX2), the bridge in front of them, and the worker under `wrangler dev`
 * (HTTPS with a self-signed certificate, as the edge would be). Secrets are
 * made up for this run and passed through the environment and a git-ignored
 * file, never written into the repo. Ctrl-C stops everything started here.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import https from "node:https";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { canConnect, freePort } from "../peers/ports.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const workerPort = Number(process.env.OXEDGE_PORT ?? 8787);
const runDir = path.join(root, ".tmp", `start-${process.pid}`);
const children: { name: string; proc: ChildProcess }[] = [];
const say = (line: string) => process.stdout.write(`[oxedge] ${line}\n`);

function start(name: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  // Own process group: wrangler starts workerd below it, and stopping the group reaches all of them.
  const proc = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  const prefix = (d: Buffer) => d.toString().split("\n").filter((l) => l.trim() && !/ENOTFOUND workers\.cloudflare\.com|Request\.cf|GetAddrInfoReqWrap/.test(l)).forEach((l) => process.stdout.write(`  ${name}: ${l}\n`));
  proc.stdout!.on("data", prefix);
  proc.stderr!.on("data", prefix);
  proc.on("exit", (code, sig) => {
    if (!stopping) {
      say(`${name} exited (${sig ?? code}); stopping the rest`);
      void stop(1);
    }
  });
  children.push({ name, proc });
  return proc;
}

async function waitFor(what: string, check: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (stopping) throw new Error("stopping");
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} did not come up within ${ms / 1000} s`);
}

const httpsStatus = (url: string) =>
  new Promise<number>((resolve, reject) => {
    https.get(url, { rejectUnauthorized: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on("error", reject);
  });

let stopping = false;
async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  for (const { proc } of children) if (proc.exitCode === null && proc.signalCode === null) try { process.kill(-proc.pid!, "SIGTERM"); } catch {}
  const deadline = Date.now() + 5000;
  for (const { proc } of children) {
    while (proc.exitCode === null && proc.signalCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    try { process.kill(-proc.pid!, "SIGKILL"); } catch {}
  }
  rmSync(runDir, { recursive: true, force: true });
  say("stopped");
  process.exit(code);
}

async function main(): Promise<void> {
  process.on("SIGINT", () => void stop(0));
  process.on("SIGTERM", () => void stop(0));
  mkdirSync(runDir, { recursive: true });
  const bridgeSecret = randomBytes(32).toString("hex");
  const nodes = [
    { route: "OX1", port: await freePort(), secret: randomBytes(16).toString("hex") },
    { route: "OX2", port: await freePort(), secret: randomBytes(16).toString("hex") },
  ];
  const bridgePort = await freePort();

  for (const n of nodes) {
    start(n.route, ["--import", "tsx", "peers/demo-node.ts", "--route", n.route, "--port", String(n.port)], { OXEDGE_DEMO_SECRET: n.secret });
  }
  const config = [
    `listen = "127.0.0.1:${bridgePort}"`,
    "access_log = true",
    "[balancer]",
    "retry = 10",
    ...nodes.flatMap((n) => ["[[members]]", `route = "${n.route}"`, `address = "127.0.0.1:${n.port}"`, "loadfactor = 50", `secret_env = "OXEDGE_SECRET_${n.route}"`]),
  ].join("\n");
  writeFileSync(path.join(runDir, "bridge.toml"), config + "\n");
  start("bridge", ["bin/oxedge-bridge.js", "--config", path.join(runDir, "bridge.toml")], {
    OXEDGE_BRIDGE_SECRET: bridgeSecret,
    ...Object.fromEntries(nodes.map((n) => [`OXEDGE_SECRET_${n.route}`, n.secret])),
  });
  // wrangler reads this like .dev.vars; the file lives only as long as this run.
  writeFileSync(path.join(runDir, "dev.vars"), `BRIDGE_SECRET=${bridgeSecret}\nBRIDGE_URLS=http://127.0.0.1:${bridgePort}\nDEBUG_HEADERS=true\nPROVISIONING_ALLOW=127.0.0.1\n`, { mode: 0o600 });
  start("worker", [
    path.join(root, "node_modules/wrangler/bin/wrangler.js"), "dev",
    "--ip", "127.0.0.1", "--port", String(workerPort), "--local-protocol", "https",
    "--env-file", path.join(runDir, "dev.vars"),
    "--inspector-port", String(await freePort()),
    "--show-interactive-dev-session=false", "--log-level", "error",
  ], { WRANGLER_SEND_METRICS: "false" });

  for (const n of nodes) await waitFor(`demo node ${n.route}`, () => canConnect(n.port));
  await waitFor("bridge", () => canConnect(bridgePort));
  const url = `https://127.0.0.1:${workerPort}`;
  await waitFor("worker", async () => (await httpsStatus(`${url}/`)) === 200, 90_000);

  say("local cluster is up");
  say(`open        ${url}/   (self-signed certificate: accept it once)`);
  say(`nodes       OX1 ajp://127.0.0.1:${nodes[0].port}   OX2 ajp://127.0.0.1:${nodes[1].port}`);
  say(`bridge      http://127.0.0.1:${bridgePort}   (answers only signed requests: try it, you get 401)`);
  say("sticky session with curl:");
  say(`  curl -sk -c .tmp/jar ${url}/ajax/login && for i in 1 2 3; do curl -sk -b .tmp/jar ${url}/ajax/session; echo; done`);
  say(`pids        ${children.map((c) => `${c.name}=${c.proc.pid}`).join(" ")}`);
  say("Ctrl-C stops everything");
}

main().catch((e: Error) => {
  if (!stopping) {
    say(`start failed: ${e.message}`);
    void stop(1);
  }
});
