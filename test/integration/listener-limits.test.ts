/**
 * No peer can hold the bridge: connections that never finish their headers
 * are closed after header_timeout, a body dripped below body_min_rate is a
 * 408 that frees its AJP connection, and beyond max_connections a new
 * connection gets 503 at once — while signed requests and the health
 * checks (outbound, not counted against the cap) go on working.
 */
import http from "node:http";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { accountingAfterEach, settled } from "../support/accounting.ts";
import { bridgeRequest, handoffHeaders, startTestBridge, type TestBridge } from "../support/bridge.ts";
import { startDemoNode, type DemoNode } from "../../peers/demo-node.ts";
import { until } from "../support/wait.ts";

accountingAfterEach();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface RawConn {
  sock: net.Socket;
  got: string;
  closed: boolean;
}

/** A raw connection that sends `hello` (maybe nothing) and records what it gets and whether the bridge closed it. */
function rawConnect(url: string, hello: string): Promise<RawConn> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const c: RawConn = { sock: net.connect(Number(u.port), u.hostname), got: "", closed: false };
    c.sock.setNoDelay(true);
    c.sock.on("data", (d) => (c.got += d.toString("latin1")));
    c.sock.on("close", () => (c.closed = true));
    c.sock.once("error", reject);
    c.sock.once("connect", () => {
      c.sock.off("error", reject);
      c.sock.on("error", () => {});
      if (hello) c.sock.write(hello);
      resolve(c);
    });
  });
}

describe("half-open connections and the connection cap", () => {
  const HALF_OPEN = 2000;
  const CAP = HALF_OPEN + 40;
  const HEADER_TIMEOUT_S = 8;
  let node: DemoNode;
  let b: TestBridge;
  const conns: RawConn[] = [];

  beforeAll(async () => {
    node = await startDemoNode({ route: "OX1" });
    b = await startTestBridge([{ route: "OX1", port: node.port, node }], { limits: { header_timeout: HEADER_TIMEOUT_S, max_connections: CAP }, balancer: { healthcheck: 0.2 } });
  });
  afterAll(async () => {
    for (const c of conns) c.sock.destroy();
    await b?.close();
    await node?.close();
  });

  it(`${HALF_OPEN} half-open connections are closed after header_timeout; signed requests and health checks go on; beyond the cap, 503`, async () => {
    const t0 = Date.now();
    // Half say nothing at all, half stop in the middle of their headers.
    for (let i = 0; i < HALF_OPEN; i += 250) {
      const batch = await Promise.all(Array.from({ length: 250 }, (_, k) => rawConnect(b.url, (i + k) % 2 ? "GET /ajax/echo HTTP/1.1\r\nHost: x\r\nX-Half: " : "")));
      conns.push(...batch);
    }
    const pingsBefore = node.cpingsSeen();
    // Served meanwhile: each on its own connection, so each counts against the cap too.
    for (let i = 0; i < 20; i++) expect((await bridgeRequest(b.url, { target: "/ajax/echo" })).status).toBe(200);

    // Fill the cap, then go beyond it: those get a 503 at once and are closed.
    // All of them at once: none timed out yet (opening 2000 on 2 busy cores takes a few seconds).
    expect(conns.filter((c) => c.closed).length).toBe(0);
    const extra = await Promise.all(Array.from({ length: 60 }, () => rawConnect(b.url, "")));
    conns.push(...extra);
    expect(await until(() => extra.filter((c) => c.closed).length >= 20, 3000)).toBe(true);
    const refused = extra.filter((c) => c.closed);
    expect(refused.length).toBe(HALF_OPEN + extra.length - CAP);
    for (const c of refused) expect(c.got).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n[^]*x-oxedge-error: over-capacity/);
    // The flood did not starve the health checks: they kept reaching the node, and it stays in.
    expect(await until(() => node.cpingsSeen() >= pingsBefore + 3, 3000)).toBe(true);
    expect(b.cluster.status().members[0].inError).toBe(false);

    // Then header_timeout passes: every half-open connection is answered 408 and closed.
    const halfOpen = conns.slice(0, HALF_OPEN);
    expect(await until(() => halfOpen.every((c) => c.closed), 20_000)).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(HEADER_TIMEOUT_S * 1000);
    expect(halfOpen.filter((c) => !c.got.startsWith("HTTP/1.1 408 ")).length).toBe(0);
    // Capped connections that got in (not refused) also said nothing: closed the same way.
    expect(await until(() => extra.every((c) => c.closed), 5000)).toBe(true);
    // One line for the flood, not one per connection.
    expect(b.logged("client sent no complete request headers in time").length).toBeLessThanOrEqual(2);
    expect(b.logged("max_connections reached").length).toBeLessThanOrEqual(2);

    // The cap is free again.
    expect((await bridgeRequest(b.url, { target: "/ajax/echo" })).status).toBe(200);
  });
});

describe("request bodies and keep-alive", () => {
  let node: DemoNode;
  let b: TestBridge;
  beforeAll(async () => {
    node = await startDemoNode({ route: "OX1" });
    b = await startTestBridge([{ route: "OX1", port: node.port, node }], { limits: { body_timeout: 0.5, body_min_rate: 1000, keepalive_timeout: 1 }, balancer: { healthcheck: 0 } });
  });
  afterAll(async () => {
    await b?.close();
    await node?.close();
  });

  /** POST of `total` declared bytes, `bite` bytes every 100 ms, for at most `ms`. */
  async function drip(target: string, bite: number, total: number, ms: number): Promise<{ status: number; kind: string | undefined; sent: number; connection: string | undefined }> {
    const headers = { ...(await handoffHeaders({ method: "POST", target })), "content-length": String(total) };
    const url = new URL(b.url);
    let sent = 0;
    return new Promise((resolve, reject) => {
      const req = http.request({ host: url.hostname, port: url.port, path: target, method: "POST", headers, agent: false }, (res) => {
        clearInterval(t);
        res.resume();
        res.on("end", () => resolve({ status: res.statusCode ?? 0, kind: res.headers["x-oxedge-error"] as string | undefined, sent, connection: res.headers.connection }));
      });
      req.on("error", reject);
      const end = Date.now() + ms;
      const t = setInterval(() => {
        if (Date.now() > end || sent >= total) return clearInterval(t);
        const n = Math.min(bite, total - sent);
        req.write(Buffer.alloc(n, 9));
        sent += n;
      }, 100);
    });
  }

  it("a body dripped below body_min_rate gets 408, and its AJP connection is freed", async () => {
    // 10 bytes per 100 ms = 100 B/s, where 1000 B/s are required: due after 0.5 s + 1 ms per byte.
    const r = await drip("/ajax/upload-digest", 10, 100_000, 8000);
    expect(r.status).toBe(408);
    expect(r.kind).toBe("client-timeout");
    expect(r.connection).toBe("close");
    expect(r.sent).toBeLessThan(300);
    expect(await settled()).toBeUndefined();
    expect(b.logged("slower than 1000 bytes/s").length).toBe(1);
  });

  it("a body that pauses longer than body_timeout gets 408", async () => {
    // 2000 bytes at once (meets the rate), then nothing.
    const r = await drip("/ajax/upload-digest", 2000, 100_000, 300);
    expect(r.status).toBe(408);
    expect(b.logged("sent no body for 500 ms").length).toBe(1);
  });

  it("a body sent at the required rate arrives intact", async () => {
    // 200 bytes per 100 ms = 2000 B/s for 3 s: longer than body_timeout, faster than the minimum.
    const r = await drip("/ajax/upload-digest", 200, 6000, 5000);
    expect(r.status).toBe(200);
  });

  it("a body held back by the bridge (the node is slow to read) is not the client's delay", async () => {
    // The node thinks for 1.5 s before reading: the bridge stops reading the client after its
    // high-water mark, and that time does not count against the client.
    const body = Buffer.alloc(512 * 1024, 5);
    const r = await bridgeRequest(b.url, { method: "POST", target: "/ajax/slow?ms=1500", body });
    expect(r.status).toBe(200);
  });

  it("an idle keep-alive connection is closed after keepalive_timeout", async () => {
    // A raw socket: Node's own client agent drops idle sockets early on the server's hint.
    const target = "/ajax/echo";
    const head = Object.entries(await handoffHeaders({ target })).map(([k, v]) => `${k}: ${v}\r\n`).join("");
    const c = await rawConnect(b.url, `GET ${target} HTTP/1.1\r\nHost: ox.example.com\r\n${head}\r\n`);
    expect(await until(() => /\r\n\r\n/.test(c.got), 3000)).toBe(true);
    const idleFrom = Date.now();
    expect(c.got).toMatch(/^HTTP\/1\.1 200 [^]*keep-alive: timeout=1/i);
    expect(await until(() => c.closed, 5000)).toBe(true);
    expect(Date.now() - idleFrom).toBeGreaterThanOrEqual(900);
  });
});
