/**
 * `npm start` as a user runs it: it comes up, a request through it is served
 * by a demo node with a sticky session, and Ctrl-C leaves no process behind.
 */
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import https from "node:https";
import { freePort } from "../../peers/ports.ts";
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

it("npm start brings up the cluster, serves a sticky session, and Ctrl-C stops everything", async () => {
  const port = await freePort();
  const proc = spawn(process.execPath, ["--import", "tsx", "scripts/start.ts"], { env: { ...process.env, OXEDGE_PORT: String(port) }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  proc.stdout.on("data", (d) => (out += d));
  proc.stderr.on("data", (d) => (out += d));
  let groups = new Set<number>();
  try {
    const end = Date.now() + 90_000;
    while (!out.includes("Ctrl-C stops everything") && Date.now() < end && proc.exitCode === null) await new Promise((r) => setTimeout(r, 200));
    expect(out, out).toContain("Ctrl-C stops everything");
    expect(out).toContain(`https://127.0.0.1:${port}/`);
    expect(out).toMatch(/curl -sk -c \S+ https:\/\/127\.0\.0\.1:\d+\/ajax\/login/);

    const url = `https://127.0.0.1:${port}`;
    const page = await get(`${url}/`);
    expect(page.status).toBe(200);
    const login = await get(`${url}/ajax/login`);
    const id = /JSESSIONID=([^;]+)/.exec(login.setCookie.join("\n"))![1];
    const route = id.slice(id.indexOf(".") + 1);
    for (let i = 0; i < 3; i++) expect(JSON.parse((await get(`${url}/ajax/session`, `JSESSIONID=${id}`)).body)).toMatchObject({ node: route, valid: true });

    const pidLine = /\[oxedge\] pids (.*)/.exec(out)![1];
    groups = new Set([...pidLine.matchAll(/\b(?:OX1|OX2|bridge|worker)=(\d+)/g)].map((m) => Number(m[1])));
    expect(groups.size).toBe(4);
    expect(membersOf(groups).length).toBeGreaterThanOrEqual(4);

    proc.kill("SIGINT");
    await new Promise<void>((resolve) => (proc.exitCode !== null ? resolve() : proc.once("exit", () => resolve())));
    expect(proc.exitCode).toBe(0);
    expect(out).toContain("[oxedge] stopped");
    expect(membersOf(groups)).toEqual([]);
  } finally {
    // On a failed assertion: let npm start stop its own children first; whatever is left of
    // the groups it reported (ours, by PID) goes too, so a failing run leaves nothing behind.
    if (proc.exitCode === null) {
      proc.kill("SIGINT");
      await new Promise((r) => setTimeout(r, 6000));
      if (proc.exitCode === null) proc.kill("SIGKILL");
    }
    for (const g of groups) {
      try {
        process.kill(-g, "SIGKILL");
      } catch {
        // already gone
      }
    }
  }
}, 150_000);
