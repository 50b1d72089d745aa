/**
 * Every way out of an exchange gives back what it leased. For each error
 * kind the bridge can produce before, during and after the Forward Request,
 * the request is run three times against a node that counts its sockets:
 * the pool's busy count must be back where it was, and the node must hold
 * exactly the connections the pool keeps idle — a leaked slot or socket
 * shows up as a number here, not only as a later 503.
 */
import http from "node:http";
import { PassThrough } from "node:stream";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { encodeBodyChunk } from "../../peers/ajp-container.ts";
import type { BridgeConfigInput } from "../../bridge/config.ts";
import { accountingAfterEach, settled } from "../support/accounting.ts";
import { bridgeRequest, handoffHeaders, startTestBridge, type BridgeResponse, type TestBridge } from "../support/bridge.ts";
import { startScriptedNode, type NodeReply, type ScriptedNode } from "../support/scripted-node.ts";
import { until } from "../support/wait.ts";
import { freePort } from "../../peers/ports.ts";

accountingAfterEach();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Held answers, released by the test (pool and queue cases). */
const held: (() => void)[] = [];

/** The node's behaviour, picked by the last path segment of the request. */
function behave(r: NodeReply, uri: string): void {
  const what = uri.slice(uri.lastIndexOf("/") + 1);
  switch (what) {
    case "garbage":
      return void r.sock.write(Buffer.from("HTTP/1.1 200 OK\r\n\r\nnot ajp at all"));
    case "close-early":
      return void r.sock.destroy();
    case "close-mid-body":
      r.headers(200, ["Content-Length", "100000"]);
      r.body(Buffer.alloc(1000, 1));
      return void setTimeout(() => r.sock.destroy(), 20);
    case "silent":
      return;
    case "drip": {
      // Within the reply timeout forever: only a deadline ends it.
      r.headers(200, []);
      const t = setInterval(() => (r.sock.destroyed ? clearInterval(t) : r.body("x")), 50);
      return;
    }
    case "overrun":
      r.headers(200, ["Content-Length", "10"]);
      r.body(Buffer.alloc(5000, 2));
      return;
    case "switch":
      r.headers(101, ["Upgrade", "websocket", "Connection", "Upgrade"]);
      return r.end(true);
    case "no-headers":
      return r.end(true);
    case "slow-body":
      // Reads nothing more of the body after the first packet; the answer comes much later.
      return void setTimeout(() => !r.sock.destroyed && r.ok(), 5000);
    case "stream":
      r.headers(200, []);
      for (let i = 0; i < 20; i++) r.body(Buffer.alloc(8000, 3));
      return void setTimeout(() => !r.sock.destroyed && r.end(true), 3000);
    case "hold":
      return void held.push(() => r.ok());
    default:
      return r.ok();
  }
}

let node: ScriptedNode;
beforeAll(async () => {
  node = await startScriptedNode((r, req) => behave(r, req.uri));
});
afterAll(async () => {
  await node?.close();
});

const bridges: TestBridge[] = [];
afterEach(async () => {
  for (const h of held.splice(0)) h();
  for (const b of bridges.splice(0)) {
    expect(await settled()).toBeUndefined();
    await b.close();
  }
});

async function bridgeWith(member: Record<string, unknown> = {}, extra: Partial<BridgeConfigInput> = {}): Promise<TestBridge> {
  const b = await startTestBridge([{ route: "OX1", port: node.port, node, timeout: 1, ...member }], { balancer: { healthcheck: 0, fails: 0 }, ...extra });
  bridges.push(b);
  return b;
}

/** A request whose client gives up at `when`. */
async function abandoned(b: TestBridge, target: string, when: "after-first-byte" | number, method = "GET"): Promise<void> {
  const ac = new AbortController();
  if (typeof when === "number") setTimeout(() => ac.abort(), when);
  await bridgeRequest(b.url, {
    method,
    target,
    signal: ac.signal,
    keepBody: false,
    onResponse: (res) => when === "after-first-byte" && res.once("data", () => ac.abort()),
  }).catch(() => {});
}

/** A POST whose body arrives at `bytesPerTick` every 100 ms, for at most `ms`. */
async function drippedPost(b: TestBridge, target: string, bytesPerTick: number, ms: number): Promise<{ status: number; kind: string | undefined }> {
  const headers = { ...(await handoffHeaders({ method: "POST", target })), "content-length": "1000000" };
  const url = new URL(b.url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, path: target, method: "POST", headers, agent: false }, (res) => {
      clearInterval(t);
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode ?? 0, kind: res.headers["x-oxedge-error"] as string | undefined }));
    });
    req.on("error", reject);
    const end = Date.now() + ms;
    const t = setInterval(() => {
      if (Date.now() > end) {
        clearInterval(t);
        req.destroy();
        return;
      }
      req.write(Buffer.alloc(bytesPerTick, 7));
    }, 100);
  });
}

interface Case {
  name: string;
  member?: Record<string, unknown>;
  extra?: Partial<BridgeConfigInput>;
  /** Runs one request; returns what the client saw (status, or "aborted"). */
  run(b: TestBridge): Promise<number | "aborted" | "gone">;
  expect: number | "aborted" | "gone";
}

const seen = (r: BridgeResponse): number | "aborted" => (r.aborted ? "aborted" : r.status);

const cases: Case[] = [
  // Before the Forward Request is sent
  { name: "bad signature (401)", run: async (b) => seen(await bridgeRequest(b.url, { target: "/ajax/ok", tamper: { route: "OX9" } })), expect: 401 },
  { name: "bad path (400)", run: async (b) => seen(await bridgeRequest(b.url, { target: "/ajax/%2e%2e/ok" })), expect: 400 },
  { name: "not a cluster path (404)", run: async (b) => seen(await bridgeRequest(b.url, { target: "/other/ok" })), expect: 404 },
  { name: "provisioning from outside (403)", run: async (b) => seen(await bridgeRequest(b.url, { target: "/servlet/axis2/services/ok" })), expect: 403 },
  {
    name: "headers that fit Node's limit but not one AJP packet (431)",
    run: async (b) => seen(await bridgeRequest(b.url, { target: "/ajax/ok", route: "OX1", headers: { "x-big": "b".repeat(9000) } })),
    expect: 431,
  },
  {
    name: "pool and queue full (503 pool-exhausted)",
    member: { max: 1, queue: 0 },
    run: async (b) => {
      const first = bridgeRequest(b.url, { target: "/ajax/hold" });
      await until(() => held.length === 1);
      const r = await bridgeRequest(b.url, { target: "/ajax/ok" });
      held.shift()!();
      expect((await first).status).toBe(200);
      return seen(r);
    },
    expect: 503,
  },
  {
    name: "client gone while waiting for a connection",
    member: { max: 1, queue: 4 },
    run: async (b) => {
      const first = bridgeRequest(b.url, { target: "/ajax/hold" });
      await until(() => held.length === 1);
      const gone = abandoned(b, "/ajax/ok", 100);
      await until(() => b.cluster.status().members[0].pool.waiting === 1);
      await gone;
      held.shift()!();
      expect((await first).status).toBe(200);
      return "gone";
    },
    expect: "gone",
  },
  // During the exchange
  { name: "node sends garbage (502 backend-protocol)", run: async (b) => seen(await bridgeRequest(b.url, { target: "/ajax/garbage" })), expect: 502 },
  { name: "node closes before answering (502 backend-aborted)", run: async (b) => seen(await bridgeRequest(b.url, { target: "/ajax/close-early" })), expect: 502 },
  { name: "node closes mid-body (aborted)", run: async (b) => seen(await bridgeRequest(b.url, { target: "/ajax/close-mid-body" })), expect: "aborted" },
  { name: "node silent past timeout (504)", member: { timeout: 0.3 }, run: async (b) => seen(await bridgeRequest(b.url, { target: "/ajax/silent" })), expect: 504 },
  {
    name: "node drips past the prefix deadline (aborted)",
    extra: { timeouts: [{ prefix: "/ajax", deadline: 0.5 }] },
    run: async (b) => seen(await bridgeRequest(b.url, { target: "/ajax/drip" })),
    expect: "aborted",
  },
  { name: "body beyond the node's Content-Length (aborted)", run: async (b) => seen(await bridgeRequest(b.url, { target: "/ajax/overrun" })), expect: "aborted" },
  { name: "101 from an AJP node (502)", run: async (b) => seen(await bridgeRequest(b.url, { target: "/ajax/switch" })), expect: 502 },
  { name: "END_RESPONSE without headers (502)", run: async (b) => seen(await bridgeRequest(b.url, { target: "/ajax/no-headers" })), expect: 502 },
  {
    name: "client body slower than body_min_rate (408)",
    extra: { limits: { body_timeout: 0.3, body_min_rate: 1000 } },
    run: async (b) => (await drippedPost(b, "/ajax/slow-body", 10, 5000)).status,
    expect: 408,
  },
  {
    name: "client gone mid-upload",
    run: async (b) => {
      const src = new PassThrough();
      const ac = new AbortController();
      const p = bridgeRequest(b.url, { method: "POST", target: "/ajax/slow-body", headers: { "content-length": "100000" }, body: src, signal: ac.signal }).catch(() => {});
      src.write(Buffer.alloc(10_000, 1));
      await sleep(100);
      ac.abort();
      await p;
      return "gone";
    },
    expect: "gone",
  },
  { name: "client gone mid-response", run: async (b) => (await abandoned(b, "/ajax/stream", "after-first-byte"), "gone"), expect: "gone" },
  { name: "client gone while the node thinks", run: async (b) => (await abandoned(b, "/ajax/silent", 100), "gone"), expect: "gone" },
  // After: a normal exchange, for the baseline
  { name: "a normal request (200)", run: async (b) => seen(await bridgeRequest(b.url, { target: "/ajax/ok" })), expect: 200 },
];

describe("every way out of an exchange releases its connection", () => {
  it.each(cases)("$name", async (c) => {
    const b = await bridgeWith(c.member, c.extra);
    // Warm the pool by one connection, so "back where it was" is not trivially zero.
    expect((await bridgeRequest(b.url, { target: "/ajax/ok" })).status).toBe(200);
    const before = b.cluster.status().members[0].pool;
    expect(before).toMatchObject({ busy: 0, idle: 1, open: 1 });
    for (let i = 0; i < 3; i++) {
      expect(await c.run(b)).toBe(c.expect);
      expect(await settled(), `after run ${i + 1}`).toBeUndefined();
      const after = b.cluster.status().members[0].pool;
      expect(after.busy).toBe(before.busy);
      // The node never holds more than the one connection the pool may keep idle.
      expect(node.connections()).toBe(after.idle);
      expect(after.idle).toBeLessThanOrEqual(1);
    }
    // And the bridge still serves at once.
    expect((await bridgeRequest(b.url, { target: "/ajax/ok" })).status).toBe(200);
  });
});

describe("the reported leak: 64 requests with headers too large for one AJP packet", () => {
  it("leave OX1's pool of 64 free, and the next request is served at once", async () => {
    const b = await bridgeWith({ max: 64, acquire: 5 });
    const big = { "x-big": "b".repeat(9000) };
    const rs = await Promise.all(Array.from({ length: 64 }, () => bridgeRequest(b.url, { target: "/ajax/echo", route: "OX1", headers: big })));
    expect(rs.map((r) => r.status)).toEqual(Array(64).fill(431));
    const pool = b.cluster.status().members[0].pool;
    expect(pool.busy).toBe(0);
    expect(node.connections()).toBe(pool.idle);
    const t0 = Date.now();
    const r = await bridgeRequest(b.url, { target: "/ajax/echo", route: "OX1" });
    expect(r.status).toBe(200);
    // A leaked pool would have made it wait `acquire` (5 s) for a 503.
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(b.cluster.status().members[0].pool.waiting).toBe(0);
  });
});

describe("a Content-Length overrun stops the node at once", () => {
  it("destroys the node connection without reading on", async () => {
    const chunk = encodeBodyChunk(Buffer.alloc(8184, 0x61));
    const endless = await startScriptedNode((r) => {
      r.headers(200, ["Content-Length", "100"]);
      // Endless: as fast as the socket takes it, until the bridge hangs up.
      const pump = () => {
        while (!r.sock.destroyed && r.sock.write(chunk)) {
          /* keep writing */
        }
        if (!r.sock.destroyed) r.sock.once("drain", pump);
      };
      pump();
    });
    try {
      const b = await startTestBridge([{ route: "OX1", port: endless.port, node: endless }], { balancer: { healthcheck: 0 } });
      bridges.push(b);
      const t0 = Date.now();
      const r = await bridgeRequest(b.url, { target: "/ajax/endless" });
      expect(r.aborted).toBe(true);
      expect(r.length).toBeLessThanOrEqual(100);
      expect(Date.now() - t0).toBeLessThan(3000);
      expect(b.logged("more body than its Content-Length").length).toBe(1);
    } finally {
      await endless.close();
    }
  });
});

describe("no leak when the node never accepts", () => {
  it("connect-failed leaves nothing open or busy", async () => {
    const port = await freePort();
    const b = await startTestBridge([{ route: "OX1", port }], { balancer: { healthcheck: 0 } });
    bridges.push(b);
    for (let i = 0; i < 3; i++) expect((await bridgeRequest(b.url, { target: "/ajax/ok" })).status).toBe(503);
    expect(b.cluster.status().members[0].pool).toMatchObject({ open: 0, busy: 0, waiting: 0 });
  });
});
