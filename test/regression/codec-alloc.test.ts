/**
 * Regression guard, not timed: the Forward Request encoder writes into one
 * buffer it owns, so a request costs no Buffer allocation however many
 * headers it has, and known header names are looked up without a lower-case
 * copy; a request body goes to the node through one reused packet buffer,
 * not a Buffer per 8 KiB packet; and a small request through the whole
 * bridge costs no Buffer of its own. Counted by wrapping the allocating
 * functions for the duration of the call, so a change that starts allocating
 * per header or per packet fails here instead of showing up later as a
 * slower benchmark.
 */
import http from "node:http";
import net from "node:net";
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { AjpConnection, type ResponseSink } from "../../bridge/ajp/connection.ts";
import { encodeEndResponse, encodeGetBodyChunk, encodeSendHeaders, decodeForwardRequest } from "../../peers/ajp-container.ts";
import { BodyReader } from "../../bridge/body-reader.ts";
import { bridgeRequest, startTestBridge } from "../support/bridge.ts";
import { startDemoNode } from "../../peers/demo-node.ts";
import { encodeForwardRequestInto, ForwardRequestEncoder, type ForwardRequest } from "../../bridge/ajp/forward-request.ts";
import { accountingAfterEach } from "../support/accounting.ts";

accountingAfterEach();

type Fn = (...args: unknown[]) => unknown;

/** Wraps the targets so that each call (whose stack passes `from`, if given) is recorded in `calls`; returns the undo. */
function record(targets: [object, string][], calls: string[], from?: (stack: string) => boolean): () => void {
  const restore: (() => void)[] = [];
  for (const [owner, name] of targets) {
    const o = owner as Record<string, Fn>;
    const original = o[name];
    if (typeof original !== "function") continue;
    o[name] = function (this: unknown, ...args: unknown[]) {
      if (!from || from(new Error().stack ?? "")) calls.push(name);
      return original.apply(this, args);
    };
    restore.push(() => (o[name] = original));
  }
  return () => restore.forEach((r) => r());
}

/** Calls of the wrapped functions while `fn` runs (synchronously). */
function counting<T>(targets: [object, string][], fn: () => T): { result: T; calls: string[] } {
  const calls: string[] = [];
  const undo = record(targets, calls);
  try {
    return { result: fn(), calls };
  } finally {
    undo();
  }
}

/**
 * The same until the promise `fn` returns settles, counting only calls made
 * from bridge code (the test runner talks to its parent meanwhile).
 */
async function countingAsync<T>(targets: [object, string][], fn: () => Promise<T>): Promise<{ result: T; calls: string[] }> {
  const calls: string[] = [];
  // The demo node encodes its answers with the bridge's codec: its calls are not the bridge's.
  const undo = record(targets, calls, (stack) => stack.includes("/bridge/") && !stack.includes("demo-node"));
  try {
    return { result: await fn(), calls };
  } finally {
    undo();
  }
}

const BUFFER_ALLOCATORS: [object, string][] = ["alloc", "allocUnsafe", "allocUnsafeSlow", "from", "concat", "copyBytesFrom"].map((n) => [Buffer, n]);
const LOWER_CASE: [object, string][] = [[String.prototype, "toLowerCase"], [String.prototype, "toLocaleLowerCase"]];

/** A browser-like request as Node hands it over: Title-Case and lower-case names, repeats, values of all sizes. */
function request(headerPairs: number): ForwardRequest {
  const known = ["Accept", "accept-language", "Accept-Encoding", "Cookie", "User-Agent", "content-type", "Referer", "Content-Length", "Authorization", "Pragma"];
  const headers: string[] = [];
  for (let i = 0; i < headerPairs; i++) headers.push(known[i % known.length], `value-${i}-${"v".repeat(i % 40)}`);
  return {
    method: "PROPFIND", // not in the method table: travels as a stored-method attribute
    protocol: "HTTP/1.1",
    uri: "/infostore/files/report.pdf",
    remoteAddr: "203.0.113.7",
    remoteHost: null,
    serverName: "ox.example.com",
    serverPort: 443,
    isSsl: true,
    headers,
    queryString: "action=document&id=4711",
    route: "OX1",
    secret: "ajp-secret",
    remotePort: "50123",
    localAddr: "10.0.0.5",
    sslProtocol: "TLSv1.3",
  };
}

describe("Forward Request encoder: no allocation per request or header", () => {
  it("the counting wrapper sees an allocation when there is one (so the guards below can fail)", () => {
    const { calls } = counting(BUFFER_ALLOCATORS, () => Buffer.concat([Buffer.from("a"), Buffer.alloc(1)]));
    // concat allocates through allocUnsafe itself; all three outer calls must be seen.
    expect(calls).toEqual(expect.arrayContaining(["alloc", "concat", "from"]));
    const lower = counting(LOWER_CASE, () => "X-Custom".toLowerCase());
    expect(lower.calls).toEqual(["toLowerCase"]);
  });

  it("encodeForwardRequestInto allocates no Buffer, for 1 header or 60", () => {
    const buf = Buffer.allocUnsafe(8192);
    for (const n of [1, 60]) {
      const { result: len, calls } = counting(BUFFER_ALLOCATORS, () => encodeForwardRequestInto(request(n), buf));
      expect(len).toBeGreaterThan(0);
      expect(calls).toEqual([]);
    }
  });

  it("known header names, Title-Case or lower-case, are coded without a toLowerCase() copy", () => {
    const buf = Buffer.allocUnsafe(8192);
    const { calls } = counting(LOWER_CASE, () => encodeForwardRequestInto(request(60), buf));
    expect(calls).toEqual([]);
  });

  it("ForwardRequestEncoder returns views of the same buffer every time, with no Buffer allocated", () => {
    const enc = new ForwardRequestEncoder(8192);
    const first = enc.encode(request(5))!;
    const { result: second, calls } = counting(BUFFER_ALLOCATORS, () => enc.encode(request(40))!);
    expect(calls).toEqual([]);
    expect(second.buffer).toBe(first.buffer);
    expect(second.byteOffset).toBe(first.byteOffset);
    // Reuse must not cost correctness: the second packet decodes to the second request.
    const decoded = decodeForwardRequest(second.subarray(4));
    expect(decoded.ok).toBe(true);
    if (decoded.ok) {
      expect(decoded.value.method).toBe("PROPFIND");
      expect(decoded.value.headers.length).toBe(80);
      expect(decoded.value.secret).toBe("ajp-secret");
    }
  });
});

/**
 * A node that takes a request body the way Tomcat does (the first packet
 * unasked, then one GET_BODY_CHUNK per packet) and answers 200 once it has
 * every byte. It only counts bytes, with integer arithmetic on the chunks the
 * socket delivers, so it allocates no Buffer of its own in JavaScript while
 * the bridge side is being counted.
 */
async function bodyCountingNode(bodySize: number): Promise<{ port: number; received: () => number; close: () => void }> {
  const askMore = encodeGetBodyChunk(8186);
  const answer = Buffer.concat([encodeSendHeaders(200, "OK", [])!, encodeEndResponse(true)]);
  let dataBytes = 0;
  const server = net.createServer((socket) => {
    // Position inside the current packet: header (4 bytes), then payload.
    let headerSeen = 0;
    let payloadLeft = 0;
    let payloadLen = 0;
    let packets = 0;
    let innerSeen = 0;
    socket.on("data", (chunk: Buffer) => {
      let i = 0;
      while (i < chunk.length) {
        if (headerSeen < 4) {
          if (headerSeen >= 2) payloadLen = (payloadLen << 8) | chunk[i];
          else payloadLen = 0;
          headerSeen++;
          i++;
          if (headerSeen === 4) {
            payloadLeft = payloadLen;
            innerSeen = 0;
          }
          continue;
        }
        const take = Math.min(payloadLeft, chunk.length - i);
        // A body packet's payload starts with its 2-byte data length; the rest is data.
        if (packets > 0) {
          const inner = Math.min(take, Math.max(0, 2 - innerSeen));
          innerSeen += take;
          dataBytes += take - inner;
        }
        payloadLeft -= take;
        i += take;
        if (payloadLeft === 0) {
          headerSeen = 0;
          packets++;
          if (packets > 1) socket.write(dataBytes < bodySize ? askMore : answer);
        }
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { port: (server.address() as net.AddressInfo).port, received: () => dataBytes, close: () => server.close() };
}

describe("request body: no allocation per packet", () => {
  it("sends a 4 MiB body as 513 packets through one reused buffer, allocating a handful of Buffers at most", async () => {
    const size = 4 * 1024 * 1024;
    const node = await bodyCountingNode(size);
    const conn = await AjpConnection.connect({ host: "127.0.0.1", port: node.port, connectTimeoutMs: 2000, packetSize: 8192 });
    // The client's body as the HTTP server would emit it: 64 KiB reads, made before counting starts.
    const client = new PassThrough({ highWaterMark: 64 * 1024 });
    const chunks = Array.from({ length: size / 65536 }, (_, i) => Buffer.alloc(65536, i));
    const sink: ResponseSink = { head: () => {}, write: () => true, onDrain: () => {}, flush: () => {}, holdsWrites: () => false };
    const req = { ...request(3), method: "POST", headers: ["Content-Length", String(size)] };
    const { result: outcome, calls } = await countingAsync(BUFFER_ALLOCATORS, async () => {
      const body = new BodyReader(client);
      const exchange = conn.forward(req, body, size, sink, 10_000);
      // Written while the exchange runs, as a client would: the reader pulls at the node's pace.
      (async () => {
        for (const c of chunks) if (!client.write(c)) await new Promise((r) => client.once("drain", r));
        client.end();
      })();
      return exchange.outcome;
    });
    conn.destroy();
    node.close();
    expect(outcome).toMatchObject({ ok: true, status: 200 });
    expect(node.received()).toBe(size);
    // One packet buffer per connection (and whatever a rare slow write forces); a Buffer per packet would be over 500.
    expect(calls.length).toBeGreaterThanOrEqual(1); // the packet buffer itself: the filter does see bridge code
    expect(calls.length).toBeLessThanOrEqual(4);
  });
});

describe("small requests: no Buffer per request", () => {
  it("200 GETs through the bridge to a node allocate a handful of Buffers in bridge code, not one per request", async () => {
    const node = await startDemoNode({ route: "OX1" });
    const bridge = await startTestBridge([{ route: "OX1", port: node.port, node }], { balancer: { healthcheck: 0 } });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    try {
      const get = () => bridgeRequest(bridge.url, { target: "/ajax/echo", agent });
      for (let i = 0; i < 20; i++) expect((await get()).status).toBe(200); // pool and buffers warm
      const { result: statuses, calls } = await countingAsync(BUFFER_ALLOCATORS, async () => {
        const out: number[] = [];
        for (let i = 0; i < 200; i++) out.push((await get()).status);
        return out;
      });
      expect(statuses.every((s) => s === 200)).toBe(true);
      expect(calls.length).toBeLessThan(20);
    } finally {
      agent.destroy();
      await bridge.close();
      await node.close();
    }
  });
});
