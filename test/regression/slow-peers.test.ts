/**
 * Regression guard, not timed: the bridge holds a bounded number of body
 * bytes per request whatever the body size, because it reads from one side
 * only as fast as the other side takes.
 *
 * What is measured is the bridge's own user-space backlog, by byte
 * accounting on its two sockets: bytes it has read from one peer's socket
 * minus bytes the kernel has accepted on the other peer's socket. Whatever
 * sits in between (packet reader, body queue, stream buffers, anything a
 * future change might add) is counted, and kernel socket buffers, which are
 * not the bridge's memory, are not. The sockets are found through two hooks
 * a test can attach from outside: the server's 'request' event and a wrapper
 * around Cluster.lease.
 *
 * Each direction also runs once with back-pressure deliberately defeated, to
 * show that the meter would catch a buffering bridge.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import net from "node:net";
import type { Socket } from "node:net";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { maxBodyChunk } from "../../bridge/ajp/body.ts";
import { decodeBodyPacket, decodeForwardRequest, encodeBodyChunk, encodeEndResponse, encodeGetBodyChunk, encodeSendHeaders } from "../../peers/ajp-container.ts";
import { MAGIC_TO_CONTAINER, ProxyMsg } from "../../bridge/ajp/codes.ts";
import { PacketReader } from "../../bridge/ajp/reader.ts";
import type { AjpTransport } from "../../bridge/transport/ajp.ts";
import { handoffHeaders, startTestBridge, type TestBridge } from "../support/bridge.ts";
import { patternSha256, startDemoNode, type DemoNode } from "../../peers/demo-node.ts";
import { PATTERN } from "../../peers/pattern.ts";
import { accountingAfterEach } from "../support/accounting.ts";

accountingAfterEach();

const MIB = 1024 * 1024;
const BODY = 64 * MIB;
/** Far above what a streaming bridge holds (a few 64 KiB reads), far below a body. */
const BOUND = 1 * MIB;
/** What the sabotaged runs must exceed to prove the meter sees buffering. */
const BUFFERING = 8 * MIB;
/** A stalled transfer counts as settled when the bridge has read nothing more for this long. */
const SETTLED_MS = 300;
/** Give up waiting for a stall to settle (or for a sabotaged backlog to build) after this. */
const PATIENCE_MS = 15_000;
const PACKET = 8192;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Bytes the kernel has taken from a socket's writes (bytesWritten counts what is still queued in user space too). */
function kernelAccepted(s: Socket): number {
  return s.bytesWritten - s.writableLength;
}

/** OXEDGE_TEST_LOG=1 shows the measured backlogs (to see the margin to the bounds). */
function note(what: string, bytes: number): void {
  if (process.env.OXEDGE_TEST_LOG) console.error(`${what}: ${(bytes / 1024).toFixed(0)} KiB`);
}

/**
 * Samples `backlog` every 10 ms until `progress` (bytes the bridge has read)
 * has not moved for SETTLED_MS, i.e. until everything that could flow into
 * the bridge has; returns the largest backlog seen. Waiting for the flow to
 * stop rather than for a fixed time keeps this independent of machine speed.
 */
async function maxUntilSettled(progress: () => number, backlog: () => number): Promise<number> {
  let max = backlog();
  let last = progress();
  let still = Date.now();
  for (const end = Date.now() + PATIENCE_MS; Date.now() < end; ) {
    await sleep(10);
    max = Math.max(max, backlog());
    const p = progress();
    if (p !== last) {
      last = p;
      still = Date.now();
    } else if (Date.now() - still >= SETTLED_MS) {
      return max;
    }
  }
  throw new Error(`the stalled transfer never settled: the bridge kept reading (now ${last} bytes)`);
}

// ---------------------------------------------------------------------------------------------
// An AJP node that does not read the upload until told to, then reads all of it.

interface SlowNode {
  port: number;
  /** Body bytes received by the node so far. */
  received(): number;
  /** Start reading (and asking for) the body. */
  go(): void;
  close(): Promise<void>;
}

async function startSlowReadingNode(): Promise<SlowNode> {
  let received = 0;
  let release: (() => void) | undefined;
  let released = false;
  const sockets = new Set<Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on("close", () => sockets.delete(sock));
    sock.on("error", () => {});
    const reader = new PacketReader(MAGIC_TO_CONTAINER, PACKET - 4);
    let contentLength = -1;
    let inBody = false;
    const finish = () => {
      const body = Buffer.from(JSON.stringify({ bodyLength: received }));
      sock.write(encodeSendHeaders(200, "200", ["Content-Type", "application/json", "Content-Length", String(body.length)], PACKET)!);
      sock.write(encodeBodyChunk(body));
      sock.write(encodeEndResponse(true));
      inBody = false;
    };
    const onPacket = (p: Buffer) => {
      if (!inBody) {
        if (p[0] === ProxyMsg.CPing) return void sock.write(Buffer.from([0x41, 0x42, 0, 1, 9]));
        const fr = decodeForwardRequest(p);
        if (!fr.ok) return void sock.destroy();
        for (let i = 0; i + 1 < fr.value.headers.length; i += 2) if (fr.value.headers[i].toLowerCase() === "content-length") contentLength = Number(fr.value.headers[i + 1]);
        inBody = true;
        received = 0;
        // The first body packet comes unasked; until go(), nothing is read and nothing more asked for.
        if (!released) {
          sock.pause();
          release = () => sock.resume();
        }
        return;
      }
      const b = decodeBodyPacket(p);
      if (!b.ok) return void sock.destroy();
      received += b.value.length;
      if (b.value.length === 0 || received >= contentLength) return finish();
      sock.write(encodeGetBodyChunk(maxBodyChunk(PACKET)));
    };
    sock.on("data", (chunk: Buffer) => {
      reader.push(chunk);
      for (let f = reader.next(); f.kind === "packet"; f = reader.next()) onPacket(f.payload);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as net.AddressInfo).port,
    received: () => received,
    go() {
      released = true;
      release?.();
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

// ---------------------------------------------------------------------------------------------

interface Tap {
  /** The bridge's side of the latest client request. */
  req?: IncomingMessage;
  res?: ServerResponse;
  /** The AJP socket of the latest lease (pooled: it may have carried earlier requests). */
  ajp?: Socket;
  /** Its counters when it was leased, so earlier requests on it do not count. */
  ajpReadAtLease: number;
  ajpAcceptedAtLease: number;
  /** Applied to each new request before the bridge reads from it (sabotage runs). */
  onRequest?: (req: IncomingMessage, res: ServerResponse) => void;
}

function tap(bridge: TestBridge): Tap {
  const t: Tap = { ajpReadAtLease: 0, ajpAcceptedAtLease: 0 };
  bridge.server.prependListener("request", (req: IncomingMessage, res: ServerResponse) => {
    t.req = req;
    t.res = res;
    t.onRequest?.(req, res);
  });
  const pool = (bridge.cluster.members.get("OX1")!.transport as AjpTransport).pool;
  const acquire = pool.acquire.bind(pool);
  pool.acquire = async () => {
    const conn = await acquire();
    t.ajpReadAtLease = conn.socket.bytesRead;
    t.ajpAcceptedAtLease = kernelAccepted(conn.socket);
    t.ajp = conn.socket;
    return conn;
  };
  return t;
}

/** tcp_wmem/tcp_rmem maxima: how much the kernel may hold for one connection's two ends. */
function kernelBufferBound(): number | undefined {
  try {
    const max = (f: string) => Number(fs.readFileSync(f, "utf8").trim().split(/\s+/)[2]);
    return max("/proc/sys/net/ipv4/tcp_wmem") + max("/proc/sys/net/ipv4/tcp_rmem");
  } catch {
    return undefined;
  }
}

async function waitFor(what: string, f: () => boolean, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; !f(); ) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

// ---------------------------------------------------------------------------------------------

describe("a client that does not read: the bridge's download backlog stays bounded", () => {
  let node: DemoNode;
  let bridge: TestBridge;
  let t: Tap;

  beforeAll(async () => {
    node = await startDemoNode({ route: "OX1", secret: "s1" });
    bridge = await startTestBridge([{ route: "OX1", port: node.port, node, secret: "s1" }], { balancer: { healthcheck: 0 } });
    t = tap(bridge);
  });
  afterAll(async () => {
    await bridge?.close();
    await node?.close();
  });

  /** Starts a 64 MiB download whose response is not read; returns the response and a way to read it all. */
  async function stalledDownload(): Promise<{ res: IncomingMessage; readAll(): Promise<{ length: number; sha256: string }> }> {
    const target = `/ajax/download?size=${BODY}`;
    const headers = await handoffHeaders({ target });
    const url = new URL(bridge.url);
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = http.request({ host: url.hostname, port: url.port, path: target, headers, agent: false }, resolve);
      req.on("error", reject);
      req.end();
    });
    // Not reading: Node's client buffers one highWaterMark, then stops reading the socket.
    return {
      res,
      readAll: () =>
        new Promise((resolve, reject) => {
          const hash = createHash("sha256");
          let length = 0;
          res.on("data", (c: Buffer) => {
            length += c.length;
            hash.update(c);
          });
          res.on("end", () => resolve({ length, sha256: hash.digest("hex") }));
          res.on("error", reject);
        }),
    };
  }

  /** Read from the node minus accepted by the kernel towards the client. */
  const backlog = () => t.ajp!.bytesRead - t.ajpReadAtLease - kernelAccepted(t.res!.socket!);

  it("holds under 1 MiB of a 64 MiB download while the client reads nothing, then delivers all of it intact", async () => {
    t.onRequest = undefined;
    const d = await stalledDownload();
    expect(d.res.statusCode).toBe(200);
    await waitFor("the AJP lease", () => t.ajp !== undefined && t.res !== undefined);
    const held = await maxUntilSettled(() => t.ajp!.bytesRead, backlog);
    note("download backlog, client not reading", held);
    expect(held).toBeLessThan(BOUND);
    // And the node was held back: the bridge has read less than the body from it.
    expect(t.ajp!.bytesRead - t.ajpReadAtLease).toBeLessThan(BODY);
    const all = await d.readAll();
    expect(all.length).toBe(BODY);
    expect(all.sha256).toBe(patternSha256(BODY));
  });

  it("(meter check) sees the backlog grow when the bridge ignores the client's back-pressure", async () => {
    // res.write always reporting "room left" (and writableNeedDrain never set) is exactly a
    // bridge that never waits for 'drain'.
    t.onRequest = (_req, res) => {
      const write = res.write.bind(res) as (...a: unknown[]) => boolean;
      res.write = ((...a: unknown[]) => {
        write(...a);
        return true;
      }) as typeof res.write;
      Object.defineProperty(res, "writableNeedDrain", { get: () => false });
    };
    t.ajp = undefined;
    const d = await stalledDownload();
    await waitFor("the AJP lease", () => t.ajp !== undefined);
    await waitFor("a backlog beyond 8 MiB", () => backlog() > BUFFERING, PATIENCE_MS).catch(() => {});
    const held = backlog();
    note("download backlog, back-pressure defeated", held);
    t.onRequest = undefined;
    expect(held).toBeGreaterThan(BUFFERING);
    expect((await d.readAll()).length).toBe(BODY);
  });
});

/** Starts a 64 MiB upload written only as fast as the socket drains; `done` resolves once the node has read it and answered. */
async function upload(bridgeUrl: string): Promise<{ clientAccepted(): number; abort(): void; done: Promise<{ status: number; body: string }> }> {
  const target = "/ajax/upload-digest";
  const headers = { ...(await handoffHeaders({ method: "POST", target })), "content-length": String(BODY) };
  const url = new URL(bridgeUrl);
  const req = http.request({ host: url.hostname, port: url.port, path: target, method: "POST", headers, agent: false });
  const block = PATTERN.subarray(0, 64 * 1024);
  let sent = 0;
  const pump = (): void => {
    while (sent < BODY) {
      sent += block.length;
      if (!req.write(block)) return void req.once("drain", pump);
    }
    req.end();
  };
  const done = new Promise<{ status: number; body: string }>((resolve, reject) => {
    req.on("response", (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
  });
  pump();
  return {
    clientAccepted: () => (req.socket ? kernelAccepted(req.socket) : 0),
    abort: () => {
      done.catch(() => {});
      req.destroy();
    },
    done,
  };
}

describe("a node that does not read: the bridge's upload backlog stays bounded", () => {
  let node: SlowNode;
  let bridge: TestBridge;
  let t: Tap;

  beforeEach(async () => {
    node = await startSlowReadingNode();
    bridge = await startTestBridge([{ route: "OX1", port: node.port }], { balancer: { healthcheck: 0 } });
    t = tap(bridge);
  });
  afterEach(async () => {
    await bridge?.close();
    await node?.close();
  });

  /** Read from the client minus accepted by the kernel towards the node. */
  const backlog = () => t.req!.socket.bytesRead - (kernelAccepted(t.ajp!) - t.ajpAcceptedAtLease);

  it("holds under 1 MiB of a 64 MiB upload while the node reads nothing, and the client is held back", async () => {
    const u = await upload(bridge.url);
    await waitFor("the AJP lease", () => t.ajp !== undefined && t.req !== undefined);
    const held = await maxUntilSettled(() => t.req!.socket.bytesRead, backlog);
    note("upload backlog, node not reading", held);
    expect(held).toBeLessThan(BOUND);
    // End to end: what left the client but has not reached the node is at most what kernels buffer plus the bridge's backlog.
    const kernel = kernelBufferBound();
    const inFlight = u.clientAccepted() - node.received();
    note("upload in flight between client and node (kernel buffers included)", inFlight);
    if (kernel !== undefined) expect(inFlight).toBeLessThanOrEqual(kernel + BOUND);
    if (kernel !== undefined && kernel + BOUND < BODY) expect(u.clientAccepted()).toBeLessThan(BODY);
    node.go();
    const r = await u.done;
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).bodyLength).toBe(BODY);
  });

  it("(meter check) sees the backlog grow when the bridge ignores the node's pace", async () => {
    // A request stream that cannot be paused is a bridge that reads the client regardless of the node.
    t.onRequest = (req) => {
      req.pause = () => req;
    };
    const u = await upload(bridge.url);
    await waitFor("the AJP lease", () => t.ajp !== undefined && t.req !== undefined);
    await waitFor("a backlog beyond 8 MiB", () => backlog() > BUFFERING, PATIENCE_MS).catch(() => {});
    const held = backlog();
    note("upload backlog, back-pressure defeated", held);
    expect(held).toBeGreaterThan(BUFFERING);
    u.abort();
  });
});
