/**
 * WebSocket push through the bridge (App Suite's /socket.io): the upgrade
 * is signed like any request and sticky by the session's route, bytes are
 * relayed both ways with back-pressure, a close on either side closes the
 * other, the bridge's pings keep a live peer talking and an idle limit ends
 * a dead one, and a WebSocket never reaches an AJP member.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { accountingAfterEach } from "../support/accounting.ts";
import { bridgeRequest, sha256, startTestBridge, type TestBridge } from "../support/bridge.ts";
import { until } from "../support/wait.ts";
import { WsHandshakeError } from "../../peers/ws-client.ts";
import { openWs, signedWs, startWsNode, type WsNode } from "../support/ws.ts";

const within = <T>(p: Promise<T>, ms: number): Promise<T | undefined> => Promise.race([p, new Promise<undefined>((r) => setTimeout(() => r(undefined), ms))]);
const status = async (p: ReturnType<typeof signedWs>) => {
  const c = await p;
  if (c instanceof WsHandshakeError) return c.status;
  c.terminate();
  return 101;
};
import { startDemoNode, type DemoNode } from "../../peers/demo-node.ts";

accountingAfterEach();

const PATHS = [
  { prefix: "/ajax", cluster: true },
  { prefix: "/socket.io", cluster: true, websocket: true },
];

describe("WebSocket relay", () => {
  let ox1: WsNode;
  let ox2: WsNode;
  let b: TestBridge;
  beforeAll(async () => {
    [ox1, ox2] = await Promise.all([startWsNode("OX1"), startWsNode("OX2")]);
    b = await startTestBridge(
      [
        { route: "OX1", address: `http://127.0.0.1:${ox1.port}`, port: ox1.port },
        { route: "OX2", address: `http://127.0.0.1:${ox2.port}`, port: ox2.port },
      ],
      { paths: PATHS, balancer: { healthcheck: 0 }, limits: { websocket_ping: 0.2, websocket_idle: 1 } },
    );
  });
  afterAll(async () => {
    await b?.close();
    await Promise.all([ox1?.close(), ox2?.close()]);
  });

  it("the upgrade goes to the session's node, 50 of 50, and the node sees the client's Host and X-Forwarded-For", async () => {
    for (let i = 0; i < 50; i++) {
      const route = i % 2 ? "OX2" : "OX1";
      const c = await openWs(b.url, { target: "/socket.io/?EIO=3&transport=websocket", route, clientIp: "198.51.100.4", host: "ox.example.com" });
      expect(c.headers["x-oxedge-served-by"]).toBe(route);
      expect(await c.nextText()).toBe(`hello node=${route}`);
      await c.close();
    }
    const seen = ox1.upgrades[ox1.upgrades.length - 1];
    const value = (name: string) => seen[seen.findIndex((h, i) => i % 2 === 0 && h.toLowerCase() === name) + 1];
    expect(value("host")).toBe("ox.example.com");
    expect(value("x-forwarded-for")).toBe("198.51.100.4");
    expect(value("upgrade")).toBe("websocket");
    expect(ox1.upgrades.length + ox2.upgrades.length).toBeGreaterThanOrEqual(50);
  });

  it("echoes 10 MiB in both directions intact, and pushes from the node arrive in order", async () => {
    const before = b.cluster.status().members[0].stats;
    const relayedBefore = b.cluster.members.get("OX1")!.tally.websockets;
    const c = await openWs(b.url, { target: "/socket.io/", route: "OX1" });
    await c.next();
    const big = randomBytes(10 * 1024 * 1024);
    await c.sendBinary(big);
    expect(sha256(await c.nextBinary(20_000))).toBe(sha256(big));
    await c.sendText("push 100");
    for (let i = 1; i <= 100; i++) expect(await c.nextText()).toBe(`push ${i}/100 node=OX1`);
    expect((await c.close()).code).toBe(1000);
    // The member's books: one WebSocket more, and its bytes each way once it has ended.
    expect(b.cluster.members.get("OX1")!.tally.websockets).toBe(relayedBefore + 1);
    const MiB10 = 10 * 1024 * 1024;
    expect(await until(() => b.cluster.status().members[0].stats.bytesIn - before.bytesIn >= MiB10)).toBe(true);
    const after = b.cluster.status().members[0].stats;
    // Framing on top of the payload, never more than a few KiB of it.
    expect(after.bytesIn - before.bytesIn).toBeLessThan(MiB10 + 64 * 1024);
    expect(after.bytesOut - before.bytesOut).toBeGreaterThanOrEqual(MiB10);
    expect(after.bytesOut - before.bytesOut).toBeLessThan(MiB10 + 64 * 1024);
  });

  it("a frame that takes longer than the idle limit to arrive does not count as the node's silence", async () => {
    // One 256 KiB binary frame written in ten pieces over 2.5 s (idle limit 1 s): the node reads
    // all along but cannot be pinged, nor answer, before the frame ends. The client answers no
    // pings here: its pong would land inside the frame being written by hand.
    const c = await openWs(b.url, { target: "/socket.io/", route: "OX1" }, { answerPings: false });
    await c.next();
    const payload = randomBytes(256 * 1024);
    const head = Buffer.alloc(14);
    head[0] = 0x82;
    head[1] = 0x80 | 127;
    head.writeBigUInt64BE(BigInt(payload.length), 2);
    // mask key 0: the payload goes as it is
    const frame = Buffer.concat([head, payload]);
    const piece = Math.ceil(frame.length / 10);
    for (let at = 0; at < frame.length; at += piece) {
      c.socket.write(frame.subarray(at, at + piece));
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(sha256(await c.nextBinary(5000))).toBe(sha256(payload));
    expect(b.logged("websocket closed").filter((l) => l.includes("silent"))).toEqual([]);
    expect((await c.close()).code).toBe(1000);
  });

  it("a close from the node closes the client's socket, and a close from the client the node's", async () => {
    const a = await openWs(b.url, { target: "/socket.io/", route: "OX2" });
    await a.next();
    await a.sendText("close 4001");
    expect((await within(a.closed, 3000))?.code).toBe(4001);

    // The first socket's TCP may still be closing after its close frame.
    expect(await until(() => b.cluster.status().members[1].pool.websockets === 0 && ox2.openConnections() === 0)).toBe(true);
    const before = ox2.openConnections();
    const c = await openWs(b.url, { target: "/socket.io/", route: "OX2" });
    await c.next();
    expect(ox2.openConnections()).toBe(before + 1);
    c.terminate();
    expect(await until(() => ox2.openConnections() === before)).toBe(true);
    expect(await until(() => b.cluster.status().members[1].pool.websockets === 0)).toBe(true);
  });

  it("the bridge pings both sides; a client that stops answering is closed after the idle limit", async () => {
    const pingsBefore = ox1.pings();
    const c = await openWs(b.url, { target: "/socket.io/", route: "OX1" });
    await c.next();
    expect(await until(() => c.pingsReceived.length >= 2 && ox1.pings() >= pingsBefore + 2, 3000)).toBe(true);
    // Still open well past the idle limit while it answers.
    expect(await within(c.closed, 1500)).toBeUndefined();
    // Now it stops reading and answering altogether (a dead peer; a paused socket sees no close,
    // so the bridge's side is what is checked).
    c.socket.pause();
    c.socket.removeAllListeners("data");
    expect(await until(() => b.logged("websocket closed").some((l) => l.includes("client silent")), 4000)).toBe(true);
    expect(await until(() => b.cluster.status().members[0].pool.websockets === 0)).toBe(true);
    c.terminate();
  });

  it("an upgrade the node refuses reaches the client as the node's answer", async () => {
    const c = await signedWs(b.url, { target: "/socket.io/refuse", route: "OX1" });
    expect(c).toBeInstanceOf(WsHandshakeError);
    expect((c as WsHandshakeError).status).toBe(403);
    expect((c as WsHandshakeError).body).toBe("no way");
  });

  it("is refused unsigned, outside the WebSocket prefixes, and for anything but websocket", async () => {
    expect(await status(signedWs(b.url, { target: "/socket.io/", unsigned: true }))).toBe(401);
    expect(await status(signedWs(b.url, { target: "/ajax/ws" }))).toBe(400);
    expect(await status(signedWs(b.url, { target: "/other/ws" }))).toBe(404);
    expect(ox1.upgrades.concat(ox2.upgrades).some((h) => h.includes("/ajax/ws"))).toBe(false);
  });

  it("a node that goes away closes its WebSockets", async () => {
    const node = await startWsNode("OX9");
    const b2 = await startTestBridge([{ route: "OX9", address: `http://127.0.0.1:${node.port}`, port: node.port }], { paths: PATHS, balancer: { healthcheck: 0 } });
    try {
      const c = await openWs(b2.url, { target: "/socket.io/", route: "OX9" });
      await c.next();
      await node.close();
      expect(await within(c.closed, 2000)).toBeDefined();
      expect(b2.cluster.status().members[0].pool.websockets).toBe(0);
    } finally {
      await b2.close();
    }
  });
});

describe("WebSocket and AJP members", () => {
  let demo: DemoNode;
  let ws: WsNode;
  let b: TestBridge;
  beforeAll(async () => {
    [demo, ws] = await Promise.all([startDemoNode({ route: "OX1" }), startWsNode("OX2")]);
    b = await startTestBridge(
      [
        { route: "OX1", port: demo.port, node: demo },
        { route: "OX2", address: `http://127.0.0.1:${ws.port}`, port: ws.port },
      ],
      { paths: PATHS, balancer: { healthcheck: 0 } },
    );
  });
  afterAll(async () => {
    await b?.close();
    await Promise.all([demo?.close(), ws?.close()]);
  });

  it("a session on an AJP member gets no WebSocket (its client falls back to polling there); new ones go to an HTTP member", async () => {
    expect(await status(signedWs(b.url, { target: "/socket.io/", route: "OX1" }))).toBe(503);
    expect(b.logged("carries no WebSocket").length).toBe(1);
    for (let i = 0; i < 4; i++) {
      const c = await openWs(b.url, { target: "/socket.io/" });
      expect(c.headers["x-oxedge-served-by"]).toBe("OX2");
      c.terminate();
    }
    // Long polling still reaches the AJP member as plain requests.
    expect((await bridgeRequest(b.url, { target: "/ajax/echo", route: "OX1" })).servedBy).toBe("OX1");
  });

  it("a WebSocket prefix with only AJP members is a config error", async () => {
    await expect(startTestBridge([{ route: "OX1", port: demo.port }], { paths: PATHS })).rejects.toThrow(/paths = \["\/socket.io"\]: WebSocket prefixes need at least one HTTP member/);
  });
});
