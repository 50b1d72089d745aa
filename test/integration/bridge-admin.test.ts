/**
 * The admin listener (balancer-manager parity, docs/manager.md): status JSON,
 * every action's effect, every bad input refused with its status, the page's
 * escaping, and draining a node before maintenance without a restart.
 */
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDemoNode, type DemoNode } from "../../peers/demo-node.ts";
import { bridgeRequest, startTestBridge, type TestBridge } from "../support/bridge.ts";
import { accountingAfterEach } from "../support/accounting.ts";
import { buildConfig } from "../../bridge/config.ts";
import { ACTIONS } from "../../bridge/admin-actions.ts";
import { HANDOFF_HEADERS } from "../../common/signing.ts";

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

  type View = { route: string; state: string; loadfactor: number; lbset: number; status: Record<string, boolean>; cells: Record<string, string> };
  const member = async (route: string): Promise<View> => ((await (await admin("/status")).json()) as { members: View[] }).members.find((m) => m.route === route)!;

  it.each([
    ["drain", ACTIONS.drain, "draining", { drain: true }],
    ["disable", ACTIONS.disable, "disabled", { disabled: true }],
    ["stop", ACTIONS.stop, "stopped", { stopped: true }],
    ["standby", ACTIONS.standby, "standby", { hotStandby: true }],
  ] as const)("%s shows in GET /status, and enable undoes it", async (_name, body, state, flags) => {
    const r = await change("OX2", body);
    expect(r.status).toBe(200);
    expect(((await r.json()) as View).state).toBe(state);
    expect(await member("OX2")).toMatchObject({ state, status: flags });
    expect((await change("OX2", ACTIONS.enable)).status).toBe(200);
    expect(await member("OX2")).toMatchObject({ state: "ok", status: { drain: false, disabled: false, stopped: false, hotStandby: false } });
  });

  it("loadfactor and lbset change; reset returns every setting to the config file's", async () => {
    expect((await change("OX2", { loadfactor: 20, lbset: 3, status: "+N" })).status).toBe(200);
    expect(await member("OX2")).toMatchObject({ loadfactor: 20, lbset: 3, state: "draining" });
    const r = await change("OX2", { reset: true });
    expect(r.status).toBe(200);
    expect(await member("OX2")).toMatchObject({ loadfactor: 50, lbset: 0, state: "ok", status: { drain: false } });
  });

  it.each([
    ["loadfactor 0", { loadfactor: 0 }, /loadfactor: loadfactor must be a number from 1 to 100/],
    ["loadfactor 101", { loadfactor: 101 }, /loadfactor must be a number from 1 to 100/],
    ["loadfactor as text", { loadfactor: "50" }, /^loadfactor: /],
    ["an unknown key", { weight: 5 }, /weight/],
    ["reset with more", { reset: true, loadfactor: 5 }, /reset: send \{"reset": true\} alone/],
    ["reset false", { reset: false }, /reset/],
    ["an array", [1], /body/],
  ])("%s is 400", async (_name, body, message) => {
    const r = await change("OX1", body);
    expect(r.status).toBe(400);
    const { kind, error } = (await r.json()) as { kind: string; error: string[] };
    expect(kind).toBe("bad-request");
    expect(error.join("\n")).toMatch(message);
  });

  it("bad JSON is 400, a bad route 400, an unknown one 404, a body over 4 KiB 413, and none changes anything", async () => {
    const post = (path: string, body: string, headers: Record<string, string> = {}) => admin(path, { method: "POST", headers: { authorization: `Bearer ${TOKEN}`, ...headers }, body });
    const before = bridge.logged("member changed by admin").length;
    const badJson = await post("/members/OX1", "{status:");
    expect(badJson.status).toBe(400);
    expect(((await badJson.json()) as { error: string[] }).error[0]).toMatch(/^body: not JSON/);
    expect((await post("/members/O%2EX1", "{}")).status).toBe(400);
    expect((await post("/members/OX%3B1", "{}")).status).toBe(400);
    const unknown = await post("/members/OX9", "{}");
    expect([unknown.status, ((await unknown.json()) as { kind: string }).kind]).toEqual([404, "not-found"]);
    const big = await post("/members/OX1", JSON.stringify({ status: "+N", pad: "x".repeat(5000) }));
    expect([big.status, ((await big.json()) as { kind: string }).kind]).toEqual([413, "request-too-large"]);
    // Chunked, without a Content-Length to judge by: counted as it arrives.
    const chunked = await new Promise<number>((resolve, reject) => {
      const u = new URL(bridge.adminUrl!);
      const req = http.request({ host: u.hostname, port: u.port, path: "/members/OX1", method: "POST", headers: { authorization: `Bearer ${TOKEN}`, "transfer-encoding": "chunked" } }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on("error", reject);
      for (let i = 0; i < 6; i++) req.write("x".repeat(1000));
      req.end();
    });
    expect(chunked).toBe(413);
    expect(bridge.logged("member changed by admin").length).toBe(before);
    expect(await member("OX1")).toMatchObject({ state: "ok", loadfactor: 50 });
  });

  it("a wrong token is 401 whatever the body, and the answer names no member", async () => {
    const r = await change("OX9", { loadfactor: 0 }, "x".repeat(40));
    expect(r.status).toBe(401);
    expect(await r.json()).toEqual({ kind: "bad-token", error: "bad token" });
    expect((await admin("/members/OX1", { method: "POST", headers: { authorization: TOKEN }, body: "{}" })).status).toBe(401);
  });

  it("refuses any request that carries the hand-off's signed headers, page and status included", async () => {
    for (const h of [HANDOFF_HEADERS.sig, HANDOFF_HEADERS.ts, HANDOFF_HEADERS.clientIp]) {
      for (const path of ["/", "/status"]) {
        const r = await admin(path, { headers: { [h]: "1" } });
        expect(r.status, `${path} with ${h}`).toBe(403);
      }
      expect((await change("OX1", ACTIONS.drain, TOKEN)).status).toBe(200);
      const r = await admin("/members/OX1", { method: "POST", headers: { authorization: `Bearer ${TOKEN}`, [h]: "1" }, body: JSON.stringify(ACTIONS.enable) });
      expect(r.status).toBe(403);
      expect((await member("OX1")).state).toBe("draining");
      expect((await change("OX1", ACTIONS.enable, TOKEN)).status).toBe(200);
    }
    expect(bridge.logged("admin request with hand-off headers refused").length).toBe(9);
  });

  it("unknown paths and methods are 404 JSON", async () => {
    for (const [method, path] of [["GET", "/members/OX1"], ["DELETE", "/members/OX1"], ["GET", "/nope"]]) {
      const r = await admin(path, { method });
      expect(r.status).toBe(404);
      expect(((await r.json()) as { kind: string }).kind).toBe("not-found");
    }
  });

  it("the page lists every member with its cells, carries a CSP nonce on its script, and no token in it", async () => {
    const r = await admin("/");
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toMatch(/^text\/html/);
    expect(r.headers.get("cache-control")).toBe("no-store");
    const csp = r.headers.get("content-security-policy")!;
    const nonce = /script-src 'nonce-([^']+)'/.exec(csp)?.[1];
    expect(nonce).toBeTruthy();
    expect(csp).toMatch(/default-src 'none'/);
    expect(csp).toMatch(/frame-ancestors 'none'/);
    const page = await r.text();
    expect(page).toContain(`<script nonce="${nonce}">`);
    expect(page).toContain(`<tr data-route="OX1" data-state="ok">`);
    expect(page).toContain(`<span class="sub" data-cell="address">ajp://127.0.0.1:${ox2.port}</span>`);
    expect(page).toContain(`<input id="token" type="password"`);
    expect(page).not.toContain(TOKEN);
    // A second load gets another nonce: it is not something an attacker could learn once.
    const again = (await admin("/")).headers.get("content-security-policy");
    expect(again).not.toBe(csp);
  });

  it("closing the bridge closes the admin listener and its keep-alive connections at once", async () => {
    const b = await startTestBridge([{ route: "OX1", port: ox1.port, node: ox1 }], { balancer: { healthcheck: 0 }, admin_listen: "127.0.0.1:0" });
    const agent = new http.Agent({ keepAlive: true });
    const u = new URL(b.adminUrl!);
    const get = () =>
      new Promise<number>((resolve, reject) => {
        http.get({ host: u.hostname, port: u.port, path: "/status", agent }, (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode!));
        }).on("error", reject);
      });
    expect(await Promise.all([get(), get(), get()])).toEqual([200, 200, 200]);
    const open = () => Object.values(agent.freeSockets).flat().length;
    expect(open()).toBeGreaterThan(0);
    const t0 = Date.now();
    await b.close();
    expect(Date.now() - t0).toBeLessThan(1000);
    await new Promise((r) => setTimeout(r, 50));
    expect(open()).toBe(0);
    await expect(fetch(b.adminUrl + "/status")).rejects.toThrow();
    agent.destroy();
  });
});

describe("admin listener without a token", () => {
  it("is read-only", async () => {
    const b = await startTestBridge([{ route: "OX1", port: ox1.port, node: ox1 }], { balancer: { healthcheck: 0 }, admin_listen: "127.0.0.1:0" });
    try {
      expect((await fetch(b.adminUrl + "/status")).status).toBe(200);
      const r = await fetch(b.adminUrl + "/members/OX1", { method: "POST", body: JSON.stringify({ status: "+D" }) });
      expect(r.status).toBe(403);
      expect(((await r.json()) as { kind: string }).kind).toBe("forbidden");
      const page = await (await fetch(b.adminUrl + "/")).text();
      expect(page).toContain("read-only: no admin token is configured");
      expect(page).not.toContain("<button");
    } finally {
      await b.close();
    }
  });
});
