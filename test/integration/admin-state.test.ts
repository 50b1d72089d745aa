/**
 * The state file (admin_state_file, docs/manager.md, State file): admin
 * changes survive a restart on top of the config file, a reset clears them,
 * and a file that cannot be used is logged and never stops the bridge.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { applyState } from "../../bridge/admin.ts";
import { startDemoNode, type DemoNode } from "../../peers/demo-node.ts";
import { accountingAfterEach } from "../support/accounting.ts";
import { bridgeRequest, startTestBridge, type TestBridge } from "../support/bridge.ts";

accountingAfterEach();

const TOKEN = "state-token-0123456789";
let ox1: DemoNode, ox2: DemoNode, dir: string;
const running: TestBridge[] = [];

beforeAll(async () => {
  process.env.OXEDGE_TEST_STATE_TOKEN = TOKEN;
  [ox1, ox2] = await Promise.all([startDemoNode({ route: "OX1" }), startDemoNode({ route: "OX2" })]);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "oxedge-state-"));
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((b) => b.close()));
});
afterAll(async () => {
  await Promise.all([ox1?.close(), ox2?.close()]);
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The same config each time, as a restart with an unchanged file would give. */
async function start(file: string, routes = ["OX1", "OX2"]): Promise<TestBridge> {
  const nodes: Record<string, DemoNode> = { OX1: ox1, OX2: ox2 };
  const b = await startTestBridge(
    routes.map((route) => ({ route, port: nodes[route].port, node: nodes[route], loadfactor: 50 })),
    { balancer: { healthcheck: 0 }, admin_listen: "127.0.0.1:0", admin_token_env: "OXEDGE_TEST_STATE_TOKEN", admin_state_file: file },
  );
  running.push(b);
  return b;
}
const stop = async (b: TestBridge) => {
  running.splice(running.indexOf(b), 1);
  await b.close();
};
const change = (b: TestBridge, route: string, body: unknown) =>
  fetch(`${b.adminUrl}/members/${route}`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}` }, body: JSON.stringify(body) });
const members = async (b: TestBridge) => ((await (await fetch(`${b.adminUrl}/status`)).json()) as { members: { route: string; state: string; loadfactor: number; lbset: number }[] }).members;
const fileOf = (name: string) => path.join(dir, name);
const read = (file: string) => JSON.parse(fs.readFileSync(file, "utf8"));

describe("state file", () => {
  it("a change is still there after a restart, and new sessions still avoid the drained member", async () => {
    const file = fileOf("restart.json");
    const a = await start(file);
    expect((await change(a, "OX1", { status: "+N" })).status).toBe(200);
    expect((await change(a, "OX2", { loadfactor: 20, lbset: 1 })).status).toBe(200);
    expect((await change(a, "OX1", { status: "+H" })).status).toBe(200);
    expect(read(file)).toEqual({ version: 1, members: { OX1: { status: "+NH" }, OX2: { loadfactor: 20, lbset: 1 } } });
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(dir).filter((f) => f.startsWith("restart.json."))).toEqual([]);
    await stop(a);

    const b = await start(file);
    expect(await members(b)).toMatchObject([
      { route: "OX1", state: "draining", loadfactor: 50 },
      { route: "OX2", state: "ok", loadfactor: 20, lbset: 1 },
    ]);
    expect(b.logged("admin overrides applied from the state file")).toHaveLength(1);
    // OX1 is drained in lbset 0, so new sessions go to OX2 even in its higher set.
    for (let i = 0; i < 4; i++) expect((await bridgeRequest(b.url, { target: "/ajax/login" })).servedBy).toBe("OX2");
  });

  it("reset clears the override: the config file's settings come back now and after a restart", async () => {
    const file = fileOf("reset.json");
    const a = await start(file);
    await change(a, "OX1", { status: "+D", loadfactor: 5 });
    await change(a, "OX2", { status: "+N" });
    expect((await change(a, "OX1", { reset: true })).status).toBe(200);
    expect((await members(a))[0]).toMatchObject({ state: "ok", loadfactor: 50 });
    expect(read(file)).toEqual({ version: 1, members: { OX2: { status: "+N" } } });
    await stop(a);
    const b = await start(file);
    expect((await members(b)).map((m) => m.state)).toEqual(["ok", "draining"]);
  });

  it.each([
    ["not JSON", "{ version: 1,", /state file ignored .*not JSON/],
    ["the wrong shape", JSON.stringify({ version: 2, members: [] }), /state file ignored .*expected \{"version": 1/],
    ["a bad entry", JSON.stringify({ version: 1, members: { OX1: { loadfactor: 500 }, OX2: { status: "+N" } } }), /state file entry ignored .*OX1: loadfactor: loadfactor must be a number from 1 to 100/],
  ])("a file with %s is logged and ignored, and the bridge starts", async (_name, text, logged) => {
    const file = fileOf(`corrupt-${_name.replace(/\W/g, "")}.json`);
    fs.writeFileSync(file, text);
    const b = await start(file);
    expect(b.logs.some((l) => logged.test(l))).toBe(true);
    expect((await members(b))[0]).toMatchObject({ state: "ok", loadfactor: 50 });
    expect((await bridgeRequest(b.url, { target: "/ajax/echo" })).status).toBe(200);
    // The next change writes a whole, valid file again.
    expect((await change(b, "OX1", { status: "+N" })).status).toBe(200);
    expect(read(file).members.OX1).toEqual({ status: "+N" });
  });

  it("an override for a route the config no longer has is logged, ignored, and dropped at the next change", async () => {
    const file = fileOf("gone.json");
    fs.writeFileSync(file, JSON.stringify({ version: 1, members: { OX2: { status: "+D" }, OX1: { lbset: 7 } } }));
    const b = await start(file, ["OX1"]);
    expect(b.logged("state file names no such member")).toEqual([expect.stringContaining("route=OX2")]);
    expect(await members(b)).toMatchObject([{ route: "OX1", lbset: 7, state: "ok" }]);
    await change(b, "OX1", { status: "+N" });
    expect(read(file)).toEqual({ version: 1, members: { OX1: { lbset: 7, status: "+N" } } });
  });

  it("a state file that cannot be written refuses the change (500) and changes nothing", async () => {
    const file = path.join(dir, "no-such-dir", "state.json");
    const b = await start(file);
    const r = await change(b, "OX1", { status: "+D" });
    expect(r.status).toBe(500);
    expect(((await r.json()) as { error: string }).error).toMatch(/not written \(ENOENT\); nothing changed/);
    expect((await members(b))[0].state).toBe("ok");
  });

  it("applyState puts the overrides back after the members were rebuilt from the config (what a reload does)", async () => {
    const file = fileOf("reload.json");
    const b = await start(file);
    await change(b, "OX2", { status: "+N", loadfactor: 30 });
    // As a reload leaves the balancer: the config file's settings only.
    b.cluster.balancer.update("OX2", { status: { drain: false }, loadfactor: 50 });
    expect((await members(b))[1]).toMatchObject({ state: "ok", loadfactor: 50 });
    expect(applyState(b.cluster, () => {})).toEqual(["OX2"]);
    expect((await members(b))[1]).toMatchObject({ state: "draining", loadfactor: 30 });
  });
});
