/**
 * One case per way an AJP exchange can go wrong on the node's side
 * (bridge/ajp/connection.ts), through a real bridge to a node that
 * misbehaves on cue. Each case checks what the client gets, that the
 * connection in doubt is closed rather than pooled, that the pool's books
 * are balanced afterwards, and that the bridge then serves a normal request.
 */
import http from "node:http";
import net from "node:net";
import { PassThrough } from "node:stream";
import { Worker } from "node:worker_threads";
import { afterEach, describe, expect, it } from "vitest";
import type { ErrorKind } from "../../common/errors.ts";
import { CPONG_PACKET, MAGIC_TO_CONTAINER, ProxyMsg } from "../../bridge/ajp/codes.ts";
import { PacketReader } from "../../bridge/ajp/reader.ts";
import { encodeBodyChunk, encodeEndResponse, encodeGetBodyChunk, encodeSendHeaders } from "../../peers/ajp-container.ts";
import { bridgeRequest, handoffHeaders, startTestBridge, type TestBridge } from "../support/bridge.ts";
import { until } from "../support/wait.ts";

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** What the node reads from the bridge, one packet at a time. */
type NodeEvent = { kind: "request" } | { kind: "body"; data: Buffer } | { kind: "body-end" } | { kind: "cping" };

interface NodeConn {
  sock: net.Socket;
  closed: boolean;
}

interface ScriptedNode {
  port: number;
  conns: NodeConn[];
  /** Sockets the node holds open right now. */
  open(): number;
  /** Forward requests seen so far. */
  requests(): number;
}

/** The answer of a well-behaved node: 200, "ok", reuse=1. */
const NORMAL_ANSWER = Buffer.concat([
  encodeSendHeaders(200, "200", ["Content-Type", "text/plain", "Content-Length", "2"])!,
  encodeBodyChunk(Buffer.from("ok")),
  encodeEndResponse(true),
]);

/**
 * A node that plays `first` for everything belonging to its first request
 * (the request itself and the body packets after it) and answers every later
 * request normally.
 */
async function scriptedNode(first: (ev: NodeEvent, sock: net.Socket) => void): Promise<ScriptedNode> {
  const conns: NodeConn[] = [];
  let requests = 0;
  const server = net.createServer((sock) => {
    const conn: NodeConn = { sock, closed: false };
    conns.push(conn);
    sock.on("close", () => (conn.closed = true));
    sock.on("error", () => {});
    const reader = new PacketReader(MAGIC_TO_CONTAINER, 8188);
    sock.on("data", (chunk) => {
      reader.push(chunk);
      for (let f = reader.next(); f.kind === "packet"; f = reader.next()) {
        const p = f.payload;
        let ev: NodeEvent;
        if (p.length === 0) ev = { kind: "body-end" };
        else if (p.length === 1 && p[0] === ProxyMsg.CPing) ev = { kind: "cping" };
        // Body packets here are small, so their first byte (the high byte of their length) is 0.
        else if (p[0] === ProxyMsg.ForwardRequest) {
          ev = { kind: "request" };
          requests++;
        } else ev = { kind: "body", data: p.subarray(2) };
        if (ev.kind === "cping") sock.write(CPONG_PACKET);
        else if (requests === 1) first(ev, sock);
        else if (ev.kind === "request") sock.write(NORMAL_ANSWER);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        for (const c of conns) c.sock.destroy();
        server.close(() => r());
      }),
  );
  return {
    port: (server.address() as net.AddressInfo).port,
    conns,
    open: () => conns.filter((c) => !c.closed).length,
    requests: () => requests,
  };
}

async function bridgeFor(port: number): Promise<TestBridge> {
  // No health checks: their probes would open sockets of their own on the node.
  const b = await startTestBridge([{ route: "OX1", port, timeout: 5 }], { balancer: { healthcheck: 0 } });
  cleanups.push(() => b.close());
  return b;
}

function poolOf(b: TestBridge) {
  return b.cluster.status().members[0].pool;
}

/** Nothing busy, and every socket the node still holds is one the pool keeps idle. */
async function expectPoolBack(b: TestBridge, nodeOpen: () => number): Promise<void> {
  const balanced = () => {
    const p = poolOf(b);
    return p.busy === 0 && p.waiting === 0 && p.open === p.idle && nodeOpen() === p.idle;
  };
  const ok = await until(balanced);
  expect(ok, `pool ${JSON.stringify(poolOf(b))}, node holds ${nodeOpen()}`).toBe(true);
}

/** A normal request is served: nothing is stuck. */
async function expectServes(b: TestBridge): Promise<void> {
  const r = await bridgeRequest(b.url, { target: "/ajax/after" });
  expect(r.status).toBe(200);
  expect(r.aborted).toBe(false);
  expect(r.body.toString()).toBe("ok");
}

interface Want {
  status: number;
  /** x-oxedge-error; absent for a response that started with the node's own status. */
  error?: ErrorKind;
  /** The client response was cut off (the node's headers had already gone out). */
  aborted: boolean;
  /** A piece of the bridge's log line naming the cause; absent when nothing is logged. */
  log?: string;
}

/** What the client saw. */
interface Seen {
  status: number;
  error: string | undefined;
  aborted: boolean;
}

interface Case {
  name: string;
  /** The client's request: GET /ajax/x unless set. */
  send?: (b: TestBridge) => Promise<Seen>;
  first: (ev: NodeEvent, sock: net.Socket) => void;
  /** After the first response, before the books are checked. */
  between?: (node: ScriptedNode, b: TestBridge) => Promise<void>;
  want: Want;
}

const headers200 = (...extra: string[]) => encodeSendHeaders(200, "200", ["Content-Type", "text/plain", ...extra])!;
const onRequest = (answer: (sock: net.Socket) => void) => (ev: NodeEvent, sock: net.Socket) => {
  if (ev.kind === "request") answer(sock);
};
const PROTOCOL = (log: string): Want => ({ status: 502, error: "backend-protocol", aborted: false, log });

async function get(b: TestBridge): Promise<Seen> {
  const r = await bridgeRequest(b.url, { target: "/ajax/x" });
  return { status: r.status, error: r.headers["x-oxedge-error"] as string | undefined, aborted: r.aborted };
}

/**
 * A POST that announces `length` body bytes and sends none, so the bridge has
 * nothing for the first body packet. Node's client sends the headers only
 * with the first body bytes unless flushed, hence no bridgeRequest().
 */
async function postWithheldBody(b: TestBridge, length: number): Promise<Seen> {
  const url = new URL(b.url);
  const headers = { ...(await handoffHeaders({ method: "POST", target: "/ajax/x" })), "content-length": String(length) };
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, path: "/ajax/x", method: "POST", headers, agent: false }, (res) => {
      let aborted = false;
      res.resume();
      res.on("aborted", () => (aborted = true));
      res.on("error", () => (aborted = true));
      res.on("end", () => {
        resolve({ status: res.statusCode ?? 0, error: res.headers["x-oxedge-error"] as string | undefined, aborted: aborted || !res.complete });
        req.destroy();
      });
    });
    req.on("error", reject);
    req.flushHeaders();
  });
}

const CASES: Case[] = [
  {
    name: "headers sent twice",
    first: onRequest((s) => s.write(Buffer.concat([headers200(), encodeBodyChunk(Buffer.from("part")), headers200()]))),
    want: { status: 200, aborted: true, log: "node sent headers twice" },
  },
  {
    name: "GET_BODY_CHUNK after the end of the body was sent",
    send: async (b) => {
      const r = await bridgeRequest(b.url, { method: "POST", target: "/ajax/x", body: Buffer.from("abc") });
      return { status: r.status, error: r.headers["x-oxedge-error"] as string | undefined, aborted: r.aborted };
    },
    first: (ev, s) => {
      // Asks for more after the first packet (answered with the empty packet), then again after the end.
      if (ev.kind === "body" || ev.kind === "body-end") s.write(encodeGetBodyChunk(8186));
    },
    want: PROTOCOL("node asked for body after its end"),
  },
  {
    name: "GET_BODY_CHUNK before the first body packet of a Content-Length body",
    send: (b) => postWithheldBody(b, 10),
    first: onRequest((s) => s.write(encodeGetBodyChunk(8186))),
    want: PROTOCOL("node asked for body before the first packet"),
  },
  {
    name: "GET_BODY_CHUNK again before the last one was answered",
    send: async (b) => {
      // 10 bytes of an announced 100000, then the client says nothing more.
      const src = new PassThrough();
      const p = bridgeRequest(b.url, { method: "POST", target: "/ajax/x", headers: { "content-length": "100000" }, body: src });
      src.write(Buffer.alloc(10, 1));
      const r = await p;
      src.destroy();
      return { status: r.status, error: r.headers["x-oxedge-error"] as string | undefined, aborted: r.aborted };
    },
    // Two requests for body at once: the first cannot be answered yet (the client is slow).
    first: (ev, s) => {
      if (ev.kind === "body") s.write(Buffer.concat([encodeGetBodyChunk(8186), encodeGetBodyChunk(8186)]));
    },
    want: PROTOCOL("node asked for body again before it got the last"),
  },
  {
    name: "CPong during a request",
    first: onRequest((s) => s.write(CPONG_PACKET)),
    want: PROTOCOL("CPong during a request"),
  },
  {
    name: "END_RESPONSE without headers",
    first: onRequest((s) => s.write(encodeEndResponse(true))),
    want: PROTOCOL("END_RESPONSE without headers"),
  },
  {
    name: "body data before headers",
    first: onRequest((s) => s.write(Buffer.concat([encodeBodyChunk(Buffer.from("early")), headers200(), encodeEndResponse(true)]))),
    want: PROTOCOL("body data before headers"),
  },
  {
    name: "unknown message type",
    first: onRequest((s) => s.write(Buffer.from([0x41, 0x42, 0x00, 0x01, 0x63]))),
    want: PROTOCOL("unknown message type 99"),
  },
  {
    name: "a packet with a bad magic",
    first: onRequest((s) => s.write(Buffer.concat([Buffer.from([0x41, 0x43]), encodeEndResponse(true).subarray(2)]))),
    want: PROTOCOL("bad magic 0x4143"),
  },
  {
    name: "a packet longer than the packet size",
    // Announces 8189 payload bytes: one more than an 8192-byte packet holds. The header alone must be refused.
    first: onRequest((s) => s.write(Buffer.from([0x41, 0x42, 0x1f, 0xfd, 0x03]))),
    want: PROTOCOL("packet length 8189 exceeds the maximum 8188"),
  },
  {
    name: "a truncated packet followed by close",
    first: onRequest((s) => s.end(headers200().subarray(0, 9))),
    want: { status: 502, error: "backend-aborted", aborted: false, log: "node closed the connection before answering" },
  },
  {
    name: "data arriving on an idle pooled connection",
    first: onRequest((s) => s.write(NORMAL_ANSWER)),
    between: async (node, b) => {
      expect(await until(() => poolOf(b).idle === 1)).toBe(true);
      node.conns[0].sock.write(encodeBodyChunk(Buffer.from("stray")));
      expect(await until(() => node.conns[0].closed)).toBe(true);
    },
    want: { status: 200, aborted: false },
  },
  {
    name: "the node closing before answering",
    first: onRequest((s) => s.destroy()),
    want: { status: 502, error: "backend-aborted", aborted: false, log: "node closed the connection before answering" },
  },
  {
    name: "the node closing mid-body",
    // The bridge reads the headers and a chunk before it sees the close (FIN after the data).
    first: onRequest((s) => s.end(Buffer.concat([headers200(), encodeBodyChunk(Buffer.alloc(100, 0x61))]))),
    want: { status: 200, aborted: true, log: "node closed the connection mid-response" },
  },
  {
    name: "END_RESPONSE with reuse=0",
    first: onRequest((s) => s.write(Buffer.concat([headers200("Content-Length", "2"), encodeBodyChunk(Buffer.from("ok")), encodeEndResponse(false)]))),
    want: { status: 200, aborted: false },
  },
];

describe("connection error paths, one scripted node each", () => {
  it.each(CASES)("$name", async (c) => {
    const node = await scriptedNode(c.first);
    const b = await bridgeFor(node.port);
    const seen = await (c.send ?? get)(b);
    expect(seen).toEqual({ status: c.want.status, error: c.want.error, aborted: c.want.aborted });
    if (c.want.log) expect(b.logged(c.want.log)).toHaveLength(1);
    await c.between?.(node, b);
    // The connection of the first exchange must not be pooled: the node sees it closed.
    expect(await until(() => node.conns[0]?.closed === true)).toBe(true);
    await expectPoolBack(b, node.open);
    expect(poolOf(b).open).toBe(0);
    // Nor was the member taken out: a broken exchange is not a node that is down.
    expect(b.cluster.status().members[0].inError).toBe(false);
    await expectServes(b);
    expect(node.conns).toHaveLength(2);
    await expectPoolBack(b, node.open);
    expect(poolOf(b)).toMatchObject({ open: 1, idle: 1 });
  });
});

/**
 * A listener that accepts no connection: its worker thread blocks before
 * accepting, and the accept queue (backlog 1) is filled first, so the kernel
 * drops further SYNs and a connect neither succeeds nor fails. Once released
 * it answers like a normal node and reports how many sockets it holds.
 */
async function unresponsiveListener(): Promise<{ port: number; open: () => number; release(): Promise<void> }> {
  const gate = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(
    `
const { parentPort, workerData } = require("node:worker_threads");
const net = require("node:net");
let open = 0;
let accepted = 0;
const server = net.createServer((sock) => {
  open++;
  parentPort.postMessage({ open, accepted: ++accepted });
  sock.on("error", () => {});
  sock.on("close", () => parentPort.postMessage({ open: --open, accepted }));
  let buf = Buffer.alloc(0);
  sock.on("data", (d) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 4 && buf.length >= 4 + buf.readUInt16BE(2)) {
      const type = buf[4];
      buf = buf.subarray(4 + buf.readUInt16BE(2));
      if (type === ${ProxyMsg.ForwardRequest}) sock.write(workerData.answer);
    }
  });
});
server.listen({ port: 0, host: "127.0.0.1", backlog: 1 }, () => {
  parentPort.postMessage({ port: server.address().port });
  Atomics.wait(workerData.gate, 0, 0);
});
`,
    { eval: true, workerData: { gate, answer: NORMAL_ANSWER } },
  );
  let open = 0;
  let accepted = 0;
  const port = await new Promise<number>((resolve, reject) => {
    worker.on("message", (m: { port?: number; open?: number; accepted?: number }) => {
      if (m.port !== undefined) resolve(m.port);
      if (m.open !== undefined) open = m.open;
      if (m.accepted !== undefined) accepted = m.accepted;
    });
    worker.once("error", reject);
  });
  const release = () => {
    Atomics.store(gate, 0, 1);
    Atomics.notify(gate, 0);
  };
  // Fill the accept queue: connects complete without accept() until it is full.
  const fillers: net.Socket[] = [];
  let queued = 0;
  let full = false;
  for (let i = 0; i < 16 && !full; i++) {
    const s = net.connect(port, "127.0.0.1");
    s.on("error", () => {});
    fillers.push(s);
    full = !(await new Promise<boolean>((r) => {
      const t = setTimeout(() => r(false), 250);
      s.once("connect", () => {
        clearTimeout(t);
        r(true);
      });
    }));
    if (!full) queued++;
  }
  cleanups.push(async () => {
    release();
    await worker.terminate();
  });
  expect(full, "the accept queue never filled up").toBe(true);
  return {
    port,
    open: () => open,
    release: async () => {
      for (const f of fillers) f.destroy();
      release();
      // Until the queued fillers are accepted (and seen closed) the queue is still full.
      const drained = await until(() => accepted >= queued && open === 0);
      expect(drained, `accepted ${accepted} of ${queued} queued, ${open} open`).toBe(true);
    },
  };
}

describe("connect timeout", () => {
  it("answers 503 connect-failed after connectiontimeout when the node accepts nothing, then recovers", async () => {
    const node = await unresponsiveListener();
    const b = await startTestBridge([{ route: "OX1", port: node.port, connectiontimeout: 0.3 }], { balancer: { healthcheck: 0 } });
    cleanups.push(() => b.close());
    const t0 = Date.now();
    const r = await bridgeRequest(b.url, { target: "/ajax/x" });
    const took = Date.now() - t0;
    expect(r.status).toBe(503);
    expect(r.headers["x-oxedge-error"]).toBe("connect-failed");
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(2000);
    expect(b.logged("kind=connect-failed")).toHaveLength(1);
    expect(b.logged("timed out after 300 ms")[0]).toMatch(/member down/);
    expect(poolOf(b)).toMatchObject({ open: 0, busy: 0, idle: 0, waiting: 0, created: 0 });
    await node.release();
    // The only member is in error; forced recovery tries it again, and now it accepts.
    await expectServes(b);
    await expectPoolBack(b, node.open);
    expect(poolOf(b)).toMatchObject({ open: 1, idle: 1 });
  });
});
