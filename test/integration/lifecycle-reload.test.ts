/**
 * Reload (docs/lifecycle.md, Reload): the file is read again and applied
 * by route while traffic runs. An invalid file is logged field by field
 * and changes nothing; an added member gets new sessions; a removed one
 * finishes what it carries, then its connections close; kept members keep
 * their pools, connections and balancer state (admin changes included).
 */
import http from "node:http";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { BridgeConfigInput } from "../../bridge/config.ts";
import { startDemoNode, type DemoNode } from "../../peers/demo-node.ts";
import { accountingAfterEach } from "../support/accounting.ts";
import { bridgeRequest, BRIDGE_SECRET, startTestBridge, testConfigInput, type TestBridge, type TestMember } from "../support/bridge.ts";
import { configDir, spawnBridge } from "../support/bridge-process.ts";
import { until } from "../support/wait.ts";

accountingAfterEach();

const TOKEN = "reload-admin-token-0123456789";
const files = configDir();
let ox1: DemoNode, ox2: DemoNode, ox3: DemoNode;
let b: TestBridge;
let file: string;
const extra: Partial<BridgeConfigInput> = { balancer: { healthcheck: 0 }, admin_listen: "127.0.0.1:0", admin_token_env: "OXEDGE_TEST_RELOAD_TOKEN" };
const member = (n: DemoNode, more: Record<string, unknown> = {}): TestMember => ({ route: n.route, port: n.port, node: n, ...more });

/** Write the file the bridge reads on reload. */
const rewrite = (members: TestMember[], more: Partial<BridgeConfigInput> = {}) => files.write("bridge.json", testConfigInput(members, { ...extra, ...more }).input);

beforeAll(async () => {
  process.env.OXEDGE_TEST_RELOAD_TOKEN = TOKEN;
  [ox1, ox2, ox3] = await Promise.all([startDemoNode({ route: "OX1" }), startDemoNode({ route: "OX2" }), startDemoNode({ route: "OX3" })]);
});
beforeEach(async () => {
  file = join(files.dir, "bridge.json");
  b = await startTestBridge([member(ox1), member(ox2)], extra, BRIDGE_SECRET, { configFile: file });
});
afterEach(async () => {
  await b?.close();
});
afterAll(async () => {
  await Promise.all([ox1?.close(), ox2?.close(), ox3?.close()]);
  files.remove();
});

describe("reload", () => {
  it("10 reloads (one of them invalid) under steady keep-alive traffic: no request fails, the invalid file changes nothing", async () => {
    const statuses = new Map<number, number>();
    let onOx3 = 0;
    let stop = false;
    const client = async (i: number) => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const end = Date.now() + 20_000;
      for (let n = 0; !stop && n < 2000 && Date.now() < end; n++) {
        const r = await bridgeRequest(b.url, { target: `/ajax/echo?c=${i}&n=${n}`, route: ["OX1", "OX2", ""][n % 3], agent }).catch(() => undefined);
        const status = r === undefined || r.aborted ? -1 : r.status;
        if (r?.servedBy === "OX3") onOx3++;
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
      agent.destroy();
    };
    const clients = [0, 1, 2, 3].map(client);
    const results = [];
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setTimeout(r, 100));
      if (i === 6) rewrite([member(ox1, { loadfactor: 500 }), member(ox2)]);
      // OX3 joins at the third and leaves at the sixth, with new sessions on it in flight.
      else rewrite([member(ox1, { loadfactor: 1 + (i % 3) }), member(ox2), ...(i >= 2 && i <= 4 ? [member(ox3)] : [])], { access_log: i % 2 === 1 });
      results.push(await b.reload());
    }
    await new Promise((r) => setTimeout(r, 100));
    stop = true;
    await Promise.all(clients);

    expect([...statuses.keys()]).toEqual([200]);
    expect(statuses.get(200)!).toBeGreaterThan(40);
    expect(results.map((r) => r.ok)).toEqual([true, true, true, true, true, true, false, true, true, true]);
    expect(b.reloads).toEqual({ ok: 9, failed: 1 });
    const bad = results[6];
    expect(bad.ok === false && bad.errors).toEqual(["members[0].loadfactor = 500: loadfactor must be a number from 1 to 100"]);
    expect(b.logged("reload failed")).toHaveLength(1);
    expect(b.logged("members[0].loadfactor = 500")).toHaveLength(1);
    // The last good file (i = 9: loadfactor 1) is what runs, and it never was 500.
    expect(b.cluster.status().members.map((m) => m.loadfactor)).toEqual([1, 1]);
    expect(b.logged("reloaded")).toHaveLength(9);
    expect(b.logged("reloaded").filter((l) => l.includes("added=OX3"))).toHaveLength(1);
    expect(b.logged("reloaded").filter((l) => l.includes("removed=OX3"))).toHaveLength(1);
    expect(onOx3).toBeGreaterThan(0);
  }, 40_000);

  it("an added member gets new sessions; a kept member keeps its pool, its connections and the admin's drain", async () => {
    // Warm both pools: one idle connection each.
    for (const route of ["OX1", "OX2"]) expect((await bridgeRequest(b.url, { target: "/ajax/echo", route })).servedBy).toBe(route);
    const drain = await fetch(`${b.adminUrl}/members/OX2`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}` }, body: JSON.stringify({ status: "+N" }) });
    expect(drain.status).toBe(200);
    const transport = b.cluster.members.get("OX1")!.transport;
    const before = b.cluster.status().members.map((m) => ({ route: m.route, created: m.pool.created, idle: m.pool.idle }));
    expect(before).toEqual([{ route: "OX1", created: 1, idle: 1 }, { route: "OX2", created: 1, idle: 1 }]);
    const nodeSockets = [ox1.openConnections(), ox2.openConnections()];

    rewrite([member(ox1), member(ox2), member(ox3)]);
    const r = await b.reload();
    expect(r).toEqual({ ok: true, changes: [{ member: "OX3", change: "added" }] });
    expect(b.logged("reloaded")[0]).toMatch(/added=OX3 kept=OX1,OX2/);
    expect(b.cluster.members.get("OX1")!.transport).toBe(transport);
    expect([ox1.openConnections(), ox2.openConnections()]).toEqual(nodeSockets);
    expect(b.cluster.status().members.find((m) => m.route === "OX2")!.status.drain).toBe(true);

    const served = [];
    for (let i = 0; i < 6; i++) served.push((await bridgeRequest(b.url, { target: "/ajax/login" })).servedBy);
    expect(served).toContain("OX3");
    expect(served).not.toContain("OX2");
    // The sticky session on OX1 reuses the connection it had before the reload.
    expect((await bridgeRequest(b.url, { target: "/ajax/echo", route: "OX1" })).servedBy).toBe("OX1");
    expect(b.cluster.status().members.find((m) => m.route === "OX1")!.pool.created).toBe(1);
  });

  it("a removed member finishes its in-flight request, takes no new one, and then its connections close", async () => {
    rewrite([member(ox1), member(ox2), member(ox3)]);
    expect((await b.reload()).ok).toBe(true);
    // Connections of an earlier test's bridge may still be closing: wait for the request itself.
    expect(await until(() => ox3.openConnections() === 0, 3000)).toBe(true);
    const seen = ox3.requestsSeen();
    const slow = bridgeRequest(b.url, { target: "/ajax/slow?ms=1500", route: "OX3" });
    expect(await until(() => ox3.requestsSeen() === seen + 1, 3000)).toBe(true);

    rewrite([member(ox1), member(ox2)]);
    expect(await b.reload()).toEqual({ ok: true, changes: [{ member: "OX3", change: "removed" }] });
    // A session of OX3 moves; the removed member is not chosen again.
    for (let i = 0; i < 4; i++) expect((await bridgeRequest(b.url, { target: "/ajax/echo", route: "OX3" })).servedBy).not.toBe("OX3");
    expect(ox3.openConnections()).toBe(1);

    const r = await slow;
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe("slow done");
    expect(await until(() => ox3.openConnections() === 0, 3000)).toBe(true);
    expect(b.logged("member retired")[0]).toMatch(/route=OX3 .*requests_cut=0 websockets_cut=0/);
  });

  it("a member whose address changes is replaced: the old one drained, a new pool for the new node", async () => {
    expect((await bridgeRequest(b.url, { target: "/ajax/echo", route: "OX2" })).servedBy).toBe("OX2");
    expect(ox2.openConnections()).toBe(1);
    // Route OX2 now names the node listening as OX3.
    rewrite([member(ox1), { route: "OX2", port: ox3.port }]);
    expect(await b.reload()).toEqual({ ok: true, changes: [{ member: "OX2", change: "changed" }] });
    const r = await bridgeRequest(b.url, { target: "/ajax/echo", route: "OX2" });
    expect(r.json().node).toBe("OX3");
    expect(await until(() => ox2.openConnections() === 0, 3000)).toBe(true);
  });

  it("settings that need a restart are logged as such and the rest still applies", async () => {
    rewrite([member(ox1, { loadfactor: 40 }), member(ox2)], { listen: "127.0.0.1:1", access_log: true });
    const r = await b.reload();
    expect(r.ok && r.changes).toEqual([
      { member: "OX1", change: "updated" },
      { setting: "listen", change: "needs-restart" },
      { setting: "access_log", change: "applied" },
    ]);
    expect(b.logged("needs a restart")[0]).toMatch(/setting=listen/);
    await bridgeRequest(b.url, { target: "/ajax/echo", route: "OX1" });
    expect(b.logged("info request ")).toHaveLength(1);
    expect(b.cluster.status().members[0].loadfactor).toBe(40);
    // Still reported next time: the listener did not move.
    expect((await b.reload()).ok && b.logged("needs a restart")).toHaveLength(2);
  });

  it("POST /reload on the admin listener: token required, the result as JSON", async () => {
    const post = (token?: string) => fetch(`${b.adminUrl}/reload`, { method: "POST", headers: token ? { authorization: `Bearer ${token}` } : {} });
    expect((await post()).status).toBe(401);
    expect((await post("wrong-token-00000000000")).status).toBe(401);
    rewrite([member(ox1), member(ox2), member(ox3)]);
    const ok = await post(TOKEN);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ ok: true, changes: [{ member: "OX3", change: "added" }] });
    files.write("bridge.json", "{ not json");
    const bad = await post(TOKEN);
    expect(bad.status).toBe(422);
    expect(await bad.json()).toMatchObject({ ok: false, errors: [expect.stringMatching(/^file = .*not valid JSON/)] });
    expect(b.reloads).toEqual({ ok: 1, failed: 1 });
  });
});

describe("afterReload", () => {
  it("is called with the cluster after each successful reload, not after a failed one", async () => {
    const seen: string[][] = [];
    const c = await startTestBridge([member(ox1)], extra, BRIDGE_SECRET, { configFile: join(files.dir, "hook.json"), afterReload: (cluster) => seen.push([...cluster.members.keys()]) });
    try {
      files.write("hook.json", testConfigInput([member(ox1), member(ox2)], extra).input);
      expect((await c.reload()).ok).toBe(true);
      files.write("hook.json", testConfigInput([member(ox1, { max: 0 })], extra).input);
      expect((await c.reload()).ok).toBe(false);
      expect(seen).toEqual([["OX1", "OX2"]]);
    } finally {
      await c.close();
    }
  });
});

describe("SIGHUP", () => {
  it("a bridge process reloads its file: a new member serves, an invalid file is logged and ignored", async () => {
    const dir = configDir();
    const input = (members: TestMember[], more: Partial<BridgeConfigInput> = {}) => testConfigInput(members, { balancer: { healthcheck: 0 }, ...more }).input;
    const cfg = dir.write("bridge.json", input([member(ox1)]));
    const p = await spawnBridge(cfg, { ...process.env, OXEDGE_BRIDGE_SECRET: BRIDGE_SECRET });
    try {
      expect((await bridgeRequest(p.url, { target: "/ajax/echo", route: "OX2" })).servedBy).toBe("OX1");
      dir.write("bridge.json", input([member(ox1), member(ox2)]));
      p.proc.kill("SIGHUP");
      expect(await until(() => p.logged("reloaded").length === 1, 5000), p.log()).toBe(true);
      expect(p.logged("reloaded")[0]).toMatch(/added=OX2 kept=OX1/);
      expect((await bridgeRequest(p.url, { target: "/ajax/echo", route: "OX2" })).servedBy).toBe("OX2");

      dir.write("bridge.json", input([member(ox1, { lbset: 100 }), member(ox2)]));
      p.proc.kill("SIGHUP");
      expect(await until(() => p.logged("reload failed").length === 1, 5000), p.log()).toBe(true);
      expect(p.logged("members[0].lbset = 100")).toHaveLength(1);
      expect((await bridgeRequest(p.url, { target: "/ajax/echo", route: "OX2" })).servedBy).toBe("OX2");
      expect(p.proc.exitCode).toBe(null);

      p.proc.kill("SIGTERM");
      expect(await p.exited).toBe(0);
    } finally {
      await p.kill();
      dir.remove();
    }
  }, 30_000);
});
