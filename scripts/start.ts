/**
 * `npm start`: a local two-node cluster in one command. Two demo AJP nodes
 * (OX1, OX2), the bridge in front of them with its admin listener, the worker
 * under `wrangler dev` (HTTPS with a self-signed certificate, as the edge
 * would be), and a plain-HTTP port that gets the worker's redirect
 * (scripts/plain-http.ts). Secrets and the admin token are made up for this
 * run and passed through the environment and a git-ignored file, never
 * written into the repo.
 *
 * A demo node may be stopped and started again (commands on stdin, or `kill
 * PID`): the rest keeps running, so failover and recovery can be watched.
 * Anything else ending stops the demo. Ctrl-C, SIGTERM (also through npm,
 * which execs this) or `quit` stops everything started here, by process group.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { canConnect, freePort } from "../peers/ports.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const workerPort = Number(process.env.OXEDGE_PORT ?? 8787);
const httpPort = Number(process.env.OXEDGE_HTTP_PORT ?? 8080);
const runDir = path.join(root, ".tmp", `start-${process.pid}`);
const say = (line: string): void => void process.stdout.write(`[oxedge] ${line}\n`);

interface Child {
  name: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  /** A demo node: its end is announced and the demo goes on; any other child's end stops the demo. */
  optional: boolean;
  proc?: ChildProcess;
  /** Stopped on request (`stop OX1`): its exit is expected. */
  stopRequested?: boolean;
}
const children: Child[] = [];
const running = (c: Child) => c.proc !== undefined && c.proc.exitCode === null && c.proc.signalCode === null;

function launch(c: Child): void {
  // Own process group: wrangler and Miniflare start workerd below them, and stopping the group reaches all of them.
  const proc = spawn(process.execPath, c.args, { cwd: root, env: { ...process.env, ...c.env }, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  const prefix = (d: Buffer) => d.toString().split("\n").filter((l) => l.trim() && !/ENOTFOUND workers\.cloudflare\.com|Request\.cf|GetAddrInfoReqWrap/.test(l)).forEach((l) => process.stdout.write(`  ${c.name}: ${l}\n`));
  proc.stdout!.on("data", prefix);
  proc.stderr!.on("data", prefix);
  c.proc = proc;
  c.stopRequested = false;
  proc.on("exit", (code, sig) => {
    if (stopping) return;
    if (c.stopRequested) say(`${c.name} stopped; the others keep running (\`start ${c.name}\` brings it back)`);
    else if (c.optional) say(`${c.name} exited (${sig ?? code}); the others keep running (\`start ${c.name}\` brings it back)`);
    else {
      say(`${c.name} exited (${sig ?? code}); stopping the rest`);
      void stop(1);
    }
  });
}

function add(name: string, args: string[], env: NodeJS.ProcessEnv = {}, optional = false): Child {
  const c: Child = { name, args, env, optional };
  children.push(c);
  launch(c);
  return c;
}

const groupKill = (c: Child, sig: NodeJS.Signals) => {
  try {
    process.kill(-c.proc!.pid!, sig);
  } catch {
    // the group is gone already
  }
};

async function waitFor(what: string, check: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (stopping) throw new Error("stopping");
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} did not come up within ${ms / 1000} s`);
}

const status = (url: string) =>
  new Promise<number>((resolve, reject) => {
    (url.startsWith("https:") ? https : http).get(url, { rejectUnauthorized: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on("error", reject);
  });

function getJson(url: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => {
        try {
          resolve(JSON.parse(body));
        } catch (e) {
          reject(e);
        }
      });
    }).on("error", reject);
  });
}

let stopping = false;
async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  for (const c of children) if (running(c)) groupKill(c, "SIGTERM");
  const deadline = Date.now() + 5000;
  for (const c of children) {
    while (running(c) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    // Whatever is left in the group (a workerd that outlived its wrangler) goes too.
    if (c.proc) groupKill(c, "SIGKILL");
  }
  rmSync(runDir, { recursive: true, force: true });
  say("stopped");
  process.exit(code);
}

/** One line typed on stdin: the demo's controls. */
async function command(line: string, adminUrl: string): Promise<void> {
  const [verb, name] = line.trim().split(/\s+/);
  const node = children.find((c) => c.optional && c.name.toLowerCase() === (name ?? "").toLowerCase());
  if (verb === "quit" || verb === "exit") return stop(0);
  if (verb === "status") {
    const s = (await getJson(`${adminUrl}/status`).catch(() => undefined)) as { members: { route: string; usable: boolean; inError: boolean; retryInMs: number | null }[] } | undefined;
    for (const c of children) say(`${c.name.padEnd(6)} ${running(c) ? `running, pid ${c.proc!.pid}` : "not running"}`);
    for (const m of s?.members ?? []) say(`bridge sees ${m.route}: ${m.inError ? `in error${m.retryInMs === null ? "" : `, retried in ${Math.ceil(m.retryInMs / 1000)} s`}` : m.usable ? "usable" : "not usable"}`);
    return;
  }
  if ((verb === "stop" || verb === "start") && node) {
    if (verb === "stop") {
      if (!running(node)) return say(`${node.name} is not running`);
      node.stopRequested = true;
      groupKill(node, "SIGTERM");
      return;
    }
    if (running(node)) return say(`${node.name} is running already (pid ${node.proc!.pid})`);
    launch(node);
    return say(`${node.name} started, pid ${node.proc!.pid}`);
  }
  if (line.trim()) say("commands: stop OX1 | start OX1 | status | quit   (nodes: OX1, OX2)");
}

async function main(): Promise<void> {
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(sig, () => void stop(0));
  mkdirSync(runDir, { recursive: true });
  const bridgeSecret = randomBytes(32).toString("hex");
  const adminToken = randomBytes(16).toString("hex");
  const nodes = [
    { route: "OX1", port: await freePort(), secret: randomBytes(16).toString("hex") },
    { route: "OX2", port: await freePort(), secret: randomBytes(16).toString("hex") },
  ];
  const bridgePort = await freePort();
  const adminPort = await freePort();

  for (const n of nodes) {
    add(n.route, ["--import", "tsx", "peers/demo-node.ts", "--route", n.route, "--port", String(n.port)], { OXEDGE_DEMO_SECRET: n.secret }, true);
  }
  const config = [
    `listen = "127.0.0.1:${bridgePort}"`,
    `admin_listen = "127.0.0.1:${adminPort}"`,
    `admin_token_env = "OXEDGE_ADMIN_TOKEN"`,
    "access_log = true",
    "[balancer]",
    "retry = 10",
    ...nodes.flatMap((n) => ["[[members]]", `route = "${n.route}"`, `address = "127.0.0.1:${n.port}"`, "loadfactor = 50", `secret_env = "OXEDGE_SECRET_${n.route}"`]),
  ].join("\n");
  writeFileSync(path.join(runDir, "bridge.toml"), config + "\n");
  add("bridge", ["bin/oxedge-bridge.js", "--config", path.join(runDir, "bridge.toml")], {
    OXEDGE_BRIDGE_SECRET: bridgeSecret,
    OXEDGE_ADMIN_TOKEN: adminToken,
    ...Object.fromEntries(nodes.map((n) => [`OXEDGE_SECRET_${n.route}`, n.secret])),
  });
  // wrangler reads this like .dev.vars; the file lives only as long as this run.
  const vars = path.join(runDir, "dev.vars");
  writeFileSync(vars, `BRIDGE_SECRET=${bridgeSecret}\nBRIDGE_URLS=http://127.0.0.1:${bridgePort}\nDEBUG_HEADERS=true\nPROVISIONING_ALLOW=127.0.0.1\n`, { mode: 0o600 });
  add("worker", [
    path.join(root, "node_modules/wrangler/bin/wrangler.js"), "dev",
    "--ip", "127.0.0.1", "--port", String(workerPort), "--local-protocol", "https",
    "--env-file", vars,
    "--inspector-port", String(await freePort()),
    "--show-interactive-dev-session=false", "--log-level", "error",
  ], { WRANGLER_SEND_METRICS: "false" });
  add("http", ["--import", "tsx", "scripts/plain-http.ts", "--port", String(httpPort), "--https-port", String(workerPort), "--vars", vars]);

  for (const n of nodes) await waitFor(`demo node ${n.route}`, () => canConnect(n.port));
  await waitFor("bridge", () => canConnect(bridgePort));
  const url = `https://127.0.0.1:${workerPort}`;
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  await waitFor("worker", async () => (await status(`${url}/`)) === 200, 90_000);
  await waitFor("plain http", async () => (await status(`http://127.0.0.1:${httpPort}/`)) === 301, 60_000);

  say("local cluster is up");
  say(`open        ${url}/   (self-signed certificate: accept it once)`);
  say(`plain http  http://127.0.0.1:${httpPort}/   (the worker's redirect to ${url}/)`);
  say(`nodes       OX1 ajp://127.0.0.1:${nodes[0].port}   OX2 ajp://127.0.0.1:${nodes[1].port}`);
  say(`bridge      http://127.0.0.1:${bridgePort}   (answers only signed requests: try it, you get 401)`);
  say(`manager     ${adminUrl}/   (admin token for this run: ${adminToken})`);
  say(`  curl -s ${adminUrl}/status`);
  say(`  curl -s -H 'authorization: Bearer ${adminToken}' -d '{"status":"+N"}' ${adminUrl}/members/OX1   (drain OX1)`);
  say("sticky session with curl:");
  say(`  curl -sk -c .tmp/jar ${url}/ajax/login && for i in 1 2 3; do curl -sk -b .tmp/jar ${url}/ajax/session; echo; done`);
  say(`pids        ${children.map((c) => `${c.name}=${c.proc!.pid}`).join(" ")}`);
  say("failover: type `stop OX1` (or kill its pid), ask again: OX2 answers; `start OX1` brings it back");
  say("commands: stop OX1 | start OX1 | status | quit");
  say("Ctrl-C stops everything");
  createInterface({ input: process.stdin, terminal: false }).on("line", (line) => void command(line, adminUrl));
}

main().catch((e: Error) => {
  if (!stopping) {
    say(`start failed: ${e.message}`);
    void stop(1);
  }
});
