/**
 * The bridge against our in-repo demo AJP nodes: fast, and fully under the
 * test's control (a node can be closed, made slow, or made to misbehave).
 * The protocol matrix against real Tomcat lives in test/interop.
 */
import net from "node:net";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDemoNode, type DemoNode, patternSha256 } from "../../peers/demo-node.ts";
import { bridgeRequest, sha256, startTestBridge, type TestBridge } from "../support/bridge.ts";
import { accountingAfterEach } from "../support/accounting.ts";
import { expectBalancedAndSticky } from "../support/cluster-checks.ts";

accountingAfterEach();

let ox1: DemoNode, ox2: DemoNode, bridge: TestBridge;

beforeAll(async () => {
  [ox1, ox2] = await Promise.all([startDemoNode({ route: "OX1", secret: "s1" }), startDemoNode({ route: "OX2", secret: "s2" })]);
  bridge = await startTestBridge(
    [
      { route: "OX1", port: ox1.port, node: ox1, secret: "s1", loadfactor: 50 },
      { route: "OX2", port: ox2.port, node: ox2, secret: "s2", loadfactor: 50 },
    ],
    { provisioning: { allow: ["198.51.100.0/24", "2001:db8::1"] }, balancer: { healthcheck: 0 } },
  );
});
afterAll(async () => {
  await bridge?.close();
  await Promise.all([ox1?.close(), ox2?.close()]);
});

describe("hand-off authentication", () => {
  it("refuses unsigned, tampered, expired and replayed requests with 401 before touching a node", async () => {
    const before = ox1.requestsSeen() + ox2.requestsSeen();
    const unsigned = await bridgeRequest(bridge.url, { target: "/ajax/echo", unsigned: true });
    expect(unsigned.status).toBe(401);
    expect(unsigned.headers["x-oxedge-error"]).toBe("bad-signature");
    const tampered = await bridgeRequest(bridge.url, { target: "/ajax/echo", clientIp: "10.0.0.1", tamper: { clientIp: "203.0.113.7" } });
    expect(tampered.status).toBe(401);
    const wrongKey = await bridgeRequest(bridge.url, { target: "/ajax/echo", secret: "another-secret-0123456789" });
    expect(wrongKey.status).toBe(401);
    const expired = await bridgeRequest(bridge.url, { target: "/ajax/echo", ts: Math.floor(Date.now() / 1000) - 120 });
    expect(expired.status).toBe(401);
    const nonce = "00112233445566778899aabbccddeeff";
    expect((await bridgeRequest(bridge.url, { target: "/ajax/echo", nonce })).status).toBe(200);
    const replay = await bridgeRequest(bridge.url, { target: "/ajax/echo", nonce });
    expect(replay.status).toBe(401);
    expect(replay.body.toString()).toContain("bad-signature");
    expect(ox1.requestsSeen() + ox2.requestsSeen()).toBe(before + 1);
    expect(bridge.logged("replayed nonce").length).toBe(1);
  });
});

describe("path re-check", () => {
  it.each([
    ["/ajax//echo", 400],
    ["/ajax/./echo", 400],
    ["/ajax/../servlet/axis2/services/x", 400],
    ["/servlet/%61xis2/services", 400],
    ["/servlet%2faxis2/services", 400],
    ["/servlet/axis2;x=y/services", 400],
    ["/index.html", 404],
    ["/ajaxfoo/echo", 404],
  ])("%s → %i", async (target, status) => {
    const r = await bridgeRequest(bridge.url, { target });
    expect(r.status).toBe(status);
  });

  it("keeps the provisioning API to the allow-list", async () => {
    const denied = await bridgeRequest(bridge.url, { target: "/servlet/axis2/services/echo", clientIp: "203.0.113.7" });
    expect(denied.status).toBe(403);
    expect(denied.body.toString()).not.toContain("node");
    const v4 = await bridgeRequest(bridge.url, { target: "/servlet/axis2/services/echo", clientIp: "198.51.100.20" });
    expect(v4.status).toBe(200);
    const v6 = await bridgeRequest(bridge.url, { target: "/servlet/axis2/services;jsessionid=1.OX1", clientIp: "2001:db8::2" });
    expect(v6.status).toBe(403);
    // Axis2 finds a service anywhere below its prefix; case variants are refused too
    for (const target of ["/servlet/axis2/x/services/OXUserService", "/servlet/AXIS2/services/echo", "/servlet/axis2"]) {
      expect((await bridgeRequest(bridge.url, { target, clientIp: "203.0.113.7" })).status).toBe(403);
    }
  });
});

describe("forwarding", () => {
  it("tells the node what the client saw", async () => {
    const r = await bridgeRequest(bridge.url, {
      target: "/ajax/echo?action=ping&x=%C3%A4",
      route: "OX2",
      clientIp: "2001:db8::7",
      clientPort: "51234",
      host: "ox.example.com:8443",
      headers: { "X-Dup": ["1", "2"], "x-oxedge-evil": "1", connection: "close, x-hop", "x-hop": "secret" },
    });
    expect(r.status).toBe(200);
    expect(r.servedBy).toBe("OX2");
    const e = r.json();
    expect(e).toMatchObject({ node: "OX2", method: "GET", uri: "/ajax/echo", queryString: "action=ping&x=%C3%A4", remoteAddr: "2001:db8::7", remotePort: 51234, isSsl: true, serverName: "ox.example.com", serverPort: 8443, route: "OX2" });
    const names = (e.headers as string[]).filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    expect(names.filter((n) => n === "x-dup").length).toBe(2);
    expect(names.some((n) => n.startsWith("x-oxedge"))).toBe(false);
    expect(names).not.toContain("x-hop");
    expect(names).not.toContain("connection");
    expect(e.headers[names.indexOf("host") * 2 + 1]).toBe("ox.example.com:8443");
  });

  it.each([0, 1, 8186, 8187, 65536, 1 << 20])("POST body of %i bytes arrives intact", async (n) => {
    const body = Buffer.alloc(n, 0).map((_, i) => (i * 7 + 3) & 0xff);
    const r = await bridgeRequest(bridge.url, { method: "POST", target: "/ajax/upload-digest", body: Buffer.from(body) });
    expect(r.status).toBe(200);
    expect(r.json()).toMatchObject({ bodyLength: n, bodySha256: sha256(Buffer.from(body)) });
  });

  it("answers completely when the node ignores most of a large upload", async () => {
    const r = await bridgeRequest(bridge.url, { method: "POST", target: "/ajax/status?code=201", body: Buffer.alloc(4 << 20, 7) });
    expect(r.status).toBe(201);
    expect(r.aborted).toBe(false);
    expect(r.body.toString()).toBe(`node ${r.servedBy} says 201`);
  });

  it("streams a chunked upload of unknown length", async () => {
    const src = new PassThrough();
    const parts = [Buffer.alloc(10_000, 1), Buffer.alloc(1, 2), Buffer.alloc(70_000, 3)];
    const p = bridgeRequest(bridge.url, { method: "PUT", target: "/ajax/upload-digest", body: src });
    for (const part of parts) {
      src.write(part);
      await new Promise((r) => setTimeout(r, 5));
    }
    src.end();
    const r = await p;
    expect(r.json()).toMatchObject({ bodyLength: 80_001, bodySha256: sha256(Buffer.concat(parts)) });
  });

  it("streams a 10 MiB download with the node's Content-Length, also on HEAD", async () => {
    const n = 10 << 20;
    const r = await bridgeRequest(bridge.url, { target: `/ajax/download?size=${n}`, keepBody: false });
    expect(r.status).toBe(200);
    expect(r.headers["content-length"]).toBe(String(n));
    expect(r.length).toBe(n);
    expect(r.sha256).toBe(patternSha256(n));
    const h = await bridgeRequest(bridge.url, { method: "HEAD", target: `/ajax/download?size=${n}` });
    expect(h.headers["content-length"]).toBe(String(n));
    expect(h.length).toBe(0);
  });

  it("answers 431 when the headers do not fit one AJP packet", async () => {
    const before = ox1.requestsSeen() + ox2.requestsSeen();
    const r = await bridgeRequest(bridge.url, { target: "/ajax/echo", headers: { cookie: "a=" + "x".repeat(9000) } });
    expect(r.status).toBe(431);
    expect(r.headers["x-oxedge-error"]).toBe("headers-too-large");
    expect(ox1.requestsSeen() + ox2.requestsSeen()).toBe(before);
  });
});

describe("balancing and stickiness", () => {
  it("keeps a session on its node and spreads new ones 50/50", async () => {
    await expectBalancedAndSticky(bridge.url);
  });
});
