/**
 * The admin listener (balancer-manager parity): status JSON, and draining a
 * node before maintenance without a restart.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDemoNode, type DemoNode } from "../../peers/demo-node.ts";
import { bridgeRequest, startTestBridge, type TestBridge } from "../support/bridge.ts";
import { accountingAfterEach } from "../support/accounting.ts";
import { buildConfig } from "../../bridge/config.ts";

accountingAfterEach();

const TOKEN = "admin-token-0123456789";
let ox1: DemoNode, ox2: DemoNode, bridge: TestBridge;

beforeAll(async () => {
  process.env.OXEDGE_TEST_ADMIN_TOKEN = TOKEN;
  [ox1, ox2] = await Promise.all([startDemoNode({ route: "OX1" }), startDemoNode({ route: "OX2" })]);
  bridge = await startTestBridge(
    [
      { route: "OX1", port: ox1.port, node: ox1, loadfactor: 50 },
      { route: "OX2", port: ox2.port, node: ox2, loadfactor: 50 },
    ],
    { balancer: { healthcheck: 0 }, admin_listen: "127.0.0.1:0", admin_token_env: "OXEDGE_TEST_ADMIN_TOKEN" },
  );
});
afterAll(async () => {
  await bridge?.close();
  await Promise.all([ox1?.close(), ox2?.close()]);
});

const admin = (path: string, init: RequestInit = {}) => fetch(bridge.adminUrl + path, init);
const change = (route: string, body: unknown, token = TOKEN) =>
  admin(`/members/${route}`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify(body) });

describe("admin listener", () => {
  it("shows members, their state and pools", async () => {
    await bridgeRequest(bridge.url, { target: "/ajax/echo" });
    const s = (await (await admin("/status")).json()) as { members: { route: string; address: string; loadfactor: number; inError: boolean; elected: number; pool: { open: number } }[] };
    expect(s.members.map((m) => m.route)).toEqual(["OX1", "OX2"]);
    expect(s.members[0]).toMatchObject({ address: `127.0.0.1:${ox1.port}`, loadfactor: 50, inError: false, elected: 1 });
    expect(s.members[0].pool.open).toBe(1);
  });

  it("refuses changes without the right token", async () => {
    expect((await change("OX1", { status: "+N" }, "wrong-token-000000000")).status).toBe(401);
    expect((await admin("/members/OX1", { method: "POST", body: "{}" })).status).toBe(401);
    expect((await change("OX9", { status: "+N" })).status).toBe(404);
    expect((await change("OX1", { status: "+Q" })).status).toBe(400);
    expect((await change("OX1", { loadfactor: 500 })).status).toBe(400);
    expect(bridge.logged("member changed by admin")).toEqual([]);
  });

  it("drains a node: new sessions avoid it, its sticky sessions stay; undrain brings it back", async () => {
    const r = await change("OX1", { status: "+N" });
    expect(r.status).toBe(200);
    expect(((await r.json()) as { status: { drain: boolean } }).status.drain).toBe(true);
    for (let i = 0; i < 6; i++) expect((await bridgeRequest(bridge.url, { target: "/ajax/login" })).servedBy).toBe("OX2");
    expect((await bridgeRequest(bridge.url, { target: "/ajax/echo", route: "OX1" })).servedBy).toBe("OX1");
    expect(bridge.logged("member changed by admin").length).toBe(1);
    expect((await change("OX1", { status: "-N" })).status).toBe(200);
    const served = new Set<string>();
    for (let i = 0; i < 10; i++) served.add((await bridgeRequest(bridge.url, { target: "/ajax/login" })).servedBy!);
    expect(served).toEqual(new Set(["OX1", "OX2"]));
  });

  it.each([
    ["route with a dot", { route: "O.X1" }, "route", null],
    ["loadfactor 0", { loadfactor: 0 }, "loadfactor", { loadfactor: 0 }],
    ["loadfactor 101", { loadfactor: 101 }, "loadfactor", { loadfactor: 101 }],
    ["unknown status flag", { status: "+Q" }, "status", { status: "+Q" }],
    ["lbset 100", { lbset: 100 }, "lbset", { lbset: 100 }],
  ] as const)("%s: the config file and the admin API refuse it in the same words", async (_name, field, key, body) => {
    let fromConfig = "";
    try {
      buildConfig({ members: [{ route: "OX1", address: "127.0.0.1:8009", ...field }] }, { OXEDGE_BRIDGE_SECRET: "0123456789abcdef".repeat(2) });
    } catch (e) {
      fromConfig = (e as Error).message;
    }
    const line = /^ {2}members\[0\]\.(\w+) = .*?: (.*)$/m.exec(fromConfig);
    expect(line?.[1]).toBe(key);
    const r = body === null ? await change("O.X1", { status: "+N" }) : await change("OX1", body);
    expect(r.status).toBe(400);
    const { error } = (await r.json()) as { error: string[] };
    expect(error).toEqual([`${key}: ${line![2]}`]);
  });

  it("the hand-off port does not serve the admin API", async () => {
    const r = await bridgeRequest(bridge.url, { target: "/status" });
    expect(r.status).toBe(404);
  });
});

describe("admin listener without a token", () => {
  it("is read-only", async () => {
    const b = await startTestBridge([{ route: "OX1", port: ox1.port, node: ox1 }], { balancer: { healthcheck: 0 }, admin_listen: "127.0.0.1:0" });
    try {
      expect((await fetch(b.adminUrl + "/status")).status).toBe(200);
      const r = await fetch(b.adminUrl + "/members/OX1", { method: "POST", body: JSON.stringify({ status: "+D" }) });
      expect(r.status).toBe(403);
    } finally {
      await b.close();
    }
  });
});
