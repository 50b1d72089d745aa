/**
 * `npm start` as a user runs it (npm, which execs the launcher): it comes up,
 * a request through it is served by a demo node with a sticky session, plain
 * http gets the worker's redirect, the admin listener answers, a stopped node
 * fails its sessions over and comes back, and SIGTERM to npm leaves no
 * process behind.
 */
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { freePort } from "../../peers/ports.ts";
import { childrenOf, pidAlive } from "../../peers/processes.ts";
import { expect, it } from "vitest";

function get(url: string, cookie?: string): Promise<{ status: number; body: string; setCookie: string[] }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { rejectUnauthorized: false, headers: cookie ? { cookie } : {} }, (res) => {
        let body = "";
        res.on("data", (d) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body, setCookie: res.headers["set-cookie"] ?? [] }));
      })
      .on("error", reject);
  });
}

function plainGet(url: string): Promise<{ status: number; location: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = "";
        res.on("data", (d) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, location: res.headers.location, body }));
      })
      .on("error", reject);
  });
}

/** PIDs whose process group is one of `groups` (wrangler's workerd children included). */
function membersOf(groups: Set<number>): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (fields[0] !== "Z" && groups.has(Number(fields[2]))) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

it("npm start: cluster, sticky session, plain-http redirect, admin, a node stopped and started, SIGTERM stops everything", async () => {
  const port = await freePort();
  const httpPort = await freePort();
  const proc = spawn("npm", ["start", "--silent"], { env: { ...process.env, OXEDGE_PORT: String(port), OXEDGE_HTTP_PORT: String(httpPort) }, stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  proc.stdout.on("data", (d) => (out += d));
  proc.stderr.on("data", (d) => (out += d));
  const groups = new Set<number>();
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  /** Until `pattern` is in the output (bounded); its match. */
  const seen = async (pattern: RegExp, ms = 30_000) => {
    const end = Date.now() + ms;
    while (!pattern.test(out) && Date.now() < end && proc.exitCode === null) await new Promise((r) => setTimeout(r, 100));
    const m = pattern.exec(out);
    expect(m, `${pattern} in:\n${out}`).not.toBeNull();
    return m!;
  };
  try {
    await seen(/Ctrl-C stops everything/, 120_000);
    expect(out).toContain(`https://127.0.0.1:${port}/`);
    expect(out).toMatch(/curl -sk -c \S+ https:\/\/127\.0\.0\.1:\d+\/ajax\/login/);
    const pidLine = /\[oxedge\] pids (.*)/.exec(out)![1];
    for (const m of pidLine.matchAll(/\b(?:OX1|OX2|bridge|worker|http)=(\d+)/g)) groups.add(Number(m[1]));
    expect(groups.size).toBe(5);
    expect(membersOf(groups).length).toBeGreaterThanOrEqual(5);

    // npm execs the launcher: npm's one child is node itself, no shell between them.
    const launcher = childrenOf(proc.pid!);
    expect(launcher).toHaveLength(1);
    expect(readFileSync(`/proc/${launcher[0]}/cmdline`, "utf8")).toContain("scripts/start.ts");

    const url = `https://127.0.0.1:${port}`;
    expect((await get(`${url}/`)).status).toBe(200);

    // Plain http: the worker's own redirect, to the HTTPS port.
    const plain = await plainGet(`http://127.0.0.1:${httpPort}/ajax/session?x=1`);
    expect(plain.status).toBe(301);
    expect(plain.location).toBe(`${url}/ajax/session?x=1`);

    // The admin listener, with the token made up for the run.
    const admin = (await seen(/\[oxedge\] manager +(http:\/\/127\.0\.0\.1:\d+)\/ +\(admin token for this run: ([0-9a-f]{32})\)/))[1];
    const members = JSON.parse((await plainGet(`${admin}/status`)).body).members.map((m: { route: string }) => m.route);
    expect(members).toEqual(["OX1", "OX2"]);
    // The printed URL is the manager page itself.
    const page = await plainGet(`${admin}/`);
    expect(page.status).toBe(200);
    expect(page.body).toMatch(/<html[\s\S]*OX1[\s\S]*OX2/);

    const login = await get(`${url}/ajax/login`);
    const id = /JSESSIONID=([^;]+)/.exec(login.setCookie.join("\n"))![1];
    const route = id.slice(id.indexOf(".") + 1);
    const other = route === "OX1" ? "OX2" : "OX1";
    const session = async () => JSON.parse((await get(`${url}/ajax/session`, `JSESSIONID=${id}`)).body) as { node: string; valid: boolean };
    for (let i = 0; i < 3; i++) expect(await session()).toMatchObject({ node: route, valid: true });

    // Stop the session's node the documented way: the demo goes on, the session fails over.
    const nodePid = Number(new RegExp(`\\b${route}=(\\d+)`).exec(pidLine)![1]);
    proc.stdin.write(`stop ${route}\n`);
    await seen(new RegExp(`\\[oxedge\\] ${route} stopped; the others keep running`));
    expect(membersOf(new Set([nodePid]))).toEqual([]);
    for (let i = 0; i < 3; i++) expect((await session()).node).toBe(other);
    expect(proc.exitCode).toBeNull();

    // Start it again: once the bridge finds it back (health check, retry), the route goes to it.
    proc.stdin.write(`start ${route}\n`);
    groups.add(Number((await seen(new RegExp(`\\[oxedge\\] ${route} started, pid (\\d+)`)))[1]));
    const end = Date.now() + 30_000;
    let back = "";
    while (Date.now() < end && (back = (await session().catch(() => ({ node: "" }))).node) !== route) await new Promise((r) => setTimeout(r, 500));
    expect(back).toBe(route);

    // The other way printed: kill a node's PID. The demo goes on without it.
    process.kill(Number(new RegExp(`\\b${other}=(\\d+)`).exec(pidLine)![1]), "SIGTERM");
    await seen(new RegExp(`\\[oxedge\\] ${other} exited \\(\\w+\\); the others keep running`));
    expect((await session()).node).toBe(route);
    expect(proc.exitCode).toBeNull();

    // SIGTERM to npm: npm passes it to the launcher (it execs node), which stops every group it started.
    proc.kill("SIGTERM");
    await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
    expect(proc.exitCode ?? proc.signalCode).not.toBeNull();
    expect(out).toContain("[oxedge] stopped");
    expect(membersOf(groups)).toEqual([]);
    expect(pidAlive(launcher[0])).toBe(false);
  } finally {
    // On a failed assertion: let npm start stop its own children first; whatever is left of
    // the groups it reported (ours, by PID) goes too, so a failing run leaves nothing behind.
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 8000))]);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
    }
    for (const g of groups) {
      try {
        process.kill(-g, "SIGKILL");
      } catch {
        // already gone
      }
    }
  }
}, 240_000);
