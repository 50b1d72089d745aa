/**
 * `oxedge-bridge admin` against two bridges (docs/manager.md, Admin CLI):
 * a change reaches every bridge and each answers for itself; a bad token is
 * reported per bridge with a non-zero exit; status merges both.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adminCli } from "../../bridge/admin-cli.ts";
import { startDemoNode, type DemoNode } from "../../peers/demo-node.ts";
import { freePort } from "../../peers/ports.ts";
import { accountingAfterEach } from "../support/accounting.ts";
import { bridgeRequest, startTestBridge, type TestBridge } from "../support/bridge.ts";

accountingAfterEach();

const TOKEN = "cli-token-0123456789ab";
const BIN = fileURLToPath(new URL("../../bin/oxedge-bridge.js", import.meta.url));
let ox1: DemoNode, ox2: DemoNode, a: TestBridge, b: TestBridge;

beforeAll(async () => {
  process.env.OXEDGE_TEST_CLI_TOKEN = TOKEN;
  [ox1, ox2] = await Promise.all([startDemoNode({ route: "OX1" }), startDemoNode({ route: "OX2" })]);
  const members = [
    { route: "OX1", port: ox1.port, node: ox1, loadfactor: 50 },
    { route: "OX2", port: ox2.port, node: ox2, loadfactor: 50 },
  ];
  const extra = { balancer: { healthcheck: 0 }, admin_listen: "127.0.0.1:0", admin_token_env: "OXEDGE_TEST_CLI_TOKEN" };
  [a, b] = await Promise.all([startTestBridge(members, extra), startTestBridge(members, extra)]);
});
afterAll(async () => {
  await Promise.all([a?.close(), b?.close()]);
  await Promise.all([ox1?.close(), ox2?.close()]);
});

async function run(argv: string[], env: NodeJS.ProcessEnv = { OXEDGE_ADMIN_TOKEN: TOKEN }): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await adminCli(argv, { out: (l) => out.push(l), err: (l) => err.push(l), env });
  return { code, out, err };
}
const bridges = () => `${a.adminUrl},${b.adminUrl}`;
const stateOf = async (x: TestBridge, route: string) => ((await (await fetch(`${x.adminUrl}/status`)).json()) as { members: { route: string; state: string; loadfactor: number }[] }).members.find((m) => m.route === route)!;

describe("oxedge-bridge admin", () => {
  it("drain OX1 reaches both bridges, each says so, and both steer new sessions to OX2", async () => {
    const r = await run(["drain", "OX1", "--bridges", bridges()]);
    expect(r).toEqual({ code: 0, err: [], out: [`${a.adminUrl}  ok: OX1 draining`, `${b.adminUrl}  ok: OX1 draining`] });
    for (const x of [a, b]) {
      expect((await stateOf(x, "OX1")).state).toBe("draining");
      expect((await bridgeRequest(x.url, { target: "/ajax/login" })).servedBy).toBe("OX2");
    }
    expect((await run(["enable", "OX1", "--bridges", bridges()])).code).toBe(0);
    for (const x of [a, b]) expect((await stateOf(x, "OX1")).state).toBe("ok");
  });

  it("loadfactor and reset apply to every bridge", async () => {
    expect((await run(["loadfactor", "OX2", "25", "--bridges", bridges()])).code).toBe(0);
    for (const x of [a, b]) expect((await stateOf(x, "OX2")).loadfactor).toBe(25);
    expect((await run(["reset", "OX2", "--bridges", bridges()])).code).toBe(0);
    for (const x of [a, b]) expect((await stateOf(x, "OX2")).loadfactor).toBe(50);
  });

  it("a bad token is reported by each bridge and exits 1; nothing changed", async () => {
    process.env.OXEDGE_TEST_WRONG = "not-the-token-000000";
    const r = await run(["disable", "OX2", "--bridges", bridges(), "--token-env", "WRONG"], { WRONG: "not-the-token-000000" });
    expect(r.code).toBe(1);
    expect(r.out).toEqual([`${a.adminUrl}  HTTP 401 bad-token: bad token`, `${b.adminUrl}  HTTP 401 bad-token: bad token`]);
    for (const x of [a, b]) expect((await stateOf(x, "OX2")).state).toBe("ok");
  });

  it("one bridge down: the other still changes, the dead one is named, exit 1", async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const r = await run(["standby", "OX2", "--bridges", `${a.adminUrl},${dead}`]);
    expect(r.code).toBe(1);
    expect(r.out).toEqual([`${a.adminUrl}  ok: OX2 hot standby`, `${dead}  failed: ECONNREFUSED`]);
    expect((await run(["enable", "OX2", "--bridges", a.adminUrl!])).code).toBe(0);
  });

  it("status merges both bridges into one table", async () => {
    await run(["drain", "OX1", "--bridges", a.adminUrl!]);
    await bridgeRequest(b.url, { target: "/ajax/echo", route: "OX1" });
    const r = await run(["status", "--bridges", bridges()]);
    expect(r.code).toBe(0);
    expect(r.out[0].split(/\s{2,}/)).toEqual(["route", a.adminUrl, b.adminUrl, "elected", "requests", "errors", "busy", "idle"]);
    const row = (route: string) => r.out.find((l) => l.startsWith(route + " "))!.split(/\s{2,}/);
    const elected = async (route: string) => (((await (await fetch(`${a.adminUrl}/status`)).json()) as any).members.find((m: any) => m.route === route).elected + ((await (await fetch(`${b.adminUrl}/status`)).json()) as any).members.find((m: any) => m.route === route).elected) as number;
    expect(row("OX1").slice(0, 4)).toEqual(["OX1", "draining", "ok", String(await elected("OX1"))]);
    expect(row("OX2").slice(0, 3)).toEqual(["OX2", "ok", "ok"]);
    await run(["enable", "OX1", "--bridges", a.adminUrl!]);
  });

  it("runs from bin/oxedge-bridge.js: exit status 1 on a refused change, 2 on a usage error", async () => {
    const spawnCli = (args: string[], env: NodeJS.ProcessEnv) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const p = spawn(process.execPath, [BIN, "admin", ...args], { env: { PATH: process.env.PATH, ...env }, stdio: ["ignore", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        p.stdout.on("data", (d) => (stdout += d));
        p.stderr.on("data", (d) => (stderr += d));
        const timer = setTimeout(() => p.kill("SIGKILL"), 20_000);
        p.on("close", (code) => {
          clearTimeout(timer);
          resolve({ code, stdout, stderr });
        });
      });
    const bad = await spawnCli(["drain", "OX1", "--bridges", bridges()], { OXEDGE_ADMIN_TOKEN: "wrong-token-0000000000" });
    expect(bad.code).toBe(1);
    expect(bad.stdout.trim().split("\n")).toEqual([`${a.adminUrl}  HTTP 401 bad-token: bad token`, `${b.adminUrl}  HTTP 401 bad-token: bad token`]);
    const usage = await spawnCli(["drain", "--bridges", bridges()], {});
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/drain needs a ROUTE\nusage: oxedge-bridge admin/);
    const good = await spawnCli(["status", "--bridges", bridges()], {});
    expect(good.code).toBe(0);
    expect(good.stdout).toMatch(/^route +http:\/\/127\.0\.0\.1:\d+ +http:\/\/127\.0\.0\.1:\d+ +elected/);
  }, 60_000);
});
