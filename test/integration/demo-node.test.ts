/**
 * The demo node against a raw AJP client assembled from the codec: no httpd, no bridge, so
 * these run in well under a second and pin the container-side rules (docs/ajp13.md:
 * Body packets, CPing and CPong, One request per connection, Tomcat rules the bridge relies on)
 * that the bridge will rely on when it talks to the demo node.
 */
import { createHash } from "node:crypto";
import net from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { encodeBodyPacket } from "../../peers/ajp-container.ts";
import { CPING_PACKET, CPONG_PACKET, EMPTY_BODY_PACKET, MAGIC_TO_PROXY } from "../../bridge/ajp/codes.ts";
import { ForwardRequestEncoder, type ForwardRequest } from "../../bridge/ajp/forward-request.ts";
import { PacketReader } from "../../bridge/ajp/reader.ts";
import { decodeContainerMessage, type ContainerMessage } from "../../bridge/ajp/response.ts";
import { patternSha256, startDemoNode, type DemoNode } from "../../peers/demo-node.ts";

const SECRET = "t0p-s3cret";

/** One AJP connection seen from the proxy side; every wait is bounded. */
class RawAjp {
  private readonly reader = new PacketReader(MAGIC_TO_PROXY, 65536 - 4);
  private readonly queue: ContainerMessage[] = [];
  private wake: (() => void) | undefined;
  closed = false;
  readonly encoder = new ForwardRequestEncoder(8192);

  private constructor(readonly sock: net.Socket) {
    sock.on("data", (d: Buffer) => {
      this.reader.push(d);
      for (let f = this.reader.next(); f.kind === "packet"; f = this.reader.next()) {
        const m = decodeContainerMessage(f.payload);
        if (!m.ok) throw new Error(`node sent a malformed message: ${m.reason}`);
        // Copy: the payload is a view of a socket buffer, and body data outlives this callback.
        this.queue.push(m.value.type === "body" ? { type: "body", data: Buffer.from(m.value.data) } : m.value);
      }
      this.wake?.();
    });
    sock.on("close", () => {
      this.closed = true;
      this.wake?.();
    });
    sock.on("error", () => {});
  }

  static connect(port: number): Promise<RawAjp> {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ host: "127.0.0.1", port }, () => resolve(new RawAjp(sock)));
      sock.once("error", reject);
    });
  }

  write(b: Buffer): void {
    this.sock.write(b);
  }

  /** Next message, or "closed" when the node closed the connection. */
  async next(timeoutMs = 3000): Promise<ContainerMessage | "closed"> {
    const deadline = Date.now() + timeoutMs;
    while (this.queue.length === 0) {
      if (this.closed) return "closed";
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no AJP message within ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.wake = () => {
          clearTimeout(t);
          r();
        };
      });
      this.wake = undefined;
    }
    return this.queue.shift()!;
  }

  async waitClosed(timeoutMs = 3000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error("connection still open");
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  close(): void {
    this.sock.destroy();
  }
}

function request(over: Partial<ForwardRequest> = {}): ForwardRequest {
  return {
    method: "GET",
    protocol: "HTTP/1.1",
    uri: "/ajax/echo",
    remoteAddr: "203.0.113.7",
    remoteHost: null,
    serverName: "ox.example.com",
    serverPort: 443,
    isSsl: true,
    headers: ["Host", "ox.example.com"],
    secret: SECRET,
    remotePort: "51234",
    localAddr: "10.0.0.1",
    ...over,
  };
}

interface Exchange {
  status: number;
  headers: string[];
  body: Buffer;
  reuse: boolean;
  /** requested_length of every GET_BODY_CHUNK, in order. */
  bodyAsks: number[];
  maxChunk: number;
}

/**
 * Sends one request and plays the proxy until END_RESPONSE: an unasked first body packet when
 * contentLength > 0 (as httpd does), then one packet per GET_BODY_CHUNK, the empty one at the end.
 */
async function exchange(c: RawAjp, req: ForwardRequest, bodyChunks: Buffer[] = [], unasked = false): Promise<Exchange> {
  const pkt = c.encoder.encode(req);
  if (!pkt) throw new Error("request does not fit");
  c.write(Buffer.from(pkt));
  const pending = [...bodyChunks];
  if (unasked && pending.length > 0) c.write(encodeBodyPacket(pending.shift()!));
  const out: Exchange = { status: 0, headers: [], body: Buffer.alloc(0), reuse: false, bodyAsks: [], maxChunk: 0 };
  const parts: Buffer[] = [];
  for (;;) {
    const m = await c.next();
    if (m === "closed") throw new Error("node closed the connection mid-response");
    if (m.type === "headers") {
      out.status = m.status;
      out.headers = m.headers;
    } else if (m.type === "body") {
      parts.push(m.data);
      out.maxChunk = Math.max(out.maxChunk, m.data.length);
    } else if (m.type === "get-body") {
      out.bodyAsks.push(m.length);
      const next = pending.shift();
      c.write(next ? encodeBodyPacket(next) : EMPTY_BODY_PACKET);
    } else if (m.type === "end") {
      out.reuse = m.reuse;
      break;
    }
  }
  out.body = Buffer.concat(parts);
  return out;
}

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const bodyJson = (e: Exchange) => JSON.parse(e.body.toString()) as Record<string, unknown>;

async function waitFor(cond: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("demo node (raw AJP client)", () => {
  let node: DemoNode;
  const logs: string[] = [];
  const clients: RawAjp[] = [];
  const connect = async () => {
    const c = await RawAjp.connect(node.port);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    node = await startDemoNode({ route: "OX1", secret: SECRET, log: (l) => logs.push(l) });
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  afterAll(async () => {
    await node.close();
  });

  it("answers CPing with CPong and keeps the connection for a request", async () => {
    const c = await connect();
    const raw = new Promise<Buffer>((resolve) => c.sock.once("data", resolve));
    c.write(CPING_PACKET);
    expect((await raw).equals(CPONG_PACKET)).toBe(true);
    expect(await c.next()).toEqual({ type: "cpong" });
    const e = await exchange(c, request());
    expect(e.status).toBe(200);
  });

  it("serves several requests on one connection (keep-alive)", async () => {
    const before = node.requestsSeen();
    const c = await connect();
    const a = await exchange(c, request({ queryString: "n=1" }));
    const b = await exchange(c, request({ method: "PATCH", uri: "/servlet/dav/echo", queryString: "n=2" }));
    expect([a.status, a.reuse, b.status, b.reuse]).toEqual([200, true, 200, true]);
    expect(bodyJson(a)).toMatchObject({ node: "OX1", method: "GET", queryString: "n=1", remoteAddr: "203.0.113.7" });
    expect(bodyJson(b)).toMatchObject({ method: "PATCH", uri: "/servlet/dav/echo", queryString: "n=2" });
    expect(bodyJson(a)).toMatchObject({ remotePort: 51234, localAddr: "10.0.0.1", isSsl: true, serverPort: 443 });
    expect(node.requestsSeen() - before).toBe(2);
    expect(node.openConnections()).toBeGreaterThanOrEqual(1);
  });

  it("pulls an unknown-length body with GET_BODY_CHUNK until the empty packet", async () => {
    const c = await connect();
    const chunks = [Buffer.alloc(1, 1), Buffer.alloc(8186, 2), Buffer.alloc(3000, 3)];
    const e = await exchange(c, request({ method: "POST", uri: "/ajax/upload-digest" }), chunks);
    expect(e.bodyAsks).toEqual([8186, 8186, 8186, 8186]); // three chunks, then the ask answered with the empty packet
    expect(bodyJson(e)).toMatchObject({ bodyLength: 11187, bodySha256: sha256(Buffer.concat(chunks)) });
    expect(e.reuse).toBe(true);
    // The connection is in step afterwards.
    expect((await exchange(c, request())).status).toBe(200);
  });

  it("expects the first body packet unasked with Content-Length and stops asking at the length", async () => {
    const c = await connect();
    const body = Buffer.alloc(20_000, 7);
    const chunks = [body.subarray(0, 8186), body.subarray(8186, 16372), body.subarray(16372)];
    const req = request({ method: "POST", uri: "/ajax/echo", headers: ["Content-Length", String(body.length)] });
    const e = await exchange(c, req, chunks, true);
    expect(e.bodyAsks).toEqual([8186, 8186]);
    expect(bodyJson(e)).toMatchObject({ bodyLength: 20_000, bodySha256: sha256(body) });
    expect((await exchange(c, request())).status).toBe(200);
  });

  it("swallows only the unasked first packet when the endpoint does not read the body (Tomcat)", async () => {
    const c = await connect();
    const req = request({ method: "POST", uri: "/ajax/status", queryString: "code=201", headers: ["Content-Length", "20000"] });
    const e = await exchange(c, req, [Buffer.alloc(8186), Buffer.alloc(8186), Buffer.alloc(3628)], true);
    expect(e.status).toBe(201);
    expect(e.bodyAsks).toEqual([]);
    expect(e.body.toString()).toBe("node OX1 says 201");
    expect((await exchange(c, request())).status).toBe(200);
  });

  it("streams a download in packetSize-8 chunks with the shared pattern", async () => {
    const c = await connect();
    const e = await exchange(c, request({ uri: "/infostore/download", queryString: "size=100000" }));
    expect(e.headers).toEqual(["Content-Type", "application/octet-stream", "Content-Length", "100000"]);
    expect(e.maxChunk).toBe(8184);
    expect(e.body.length).toBe(100_000);
    expect(sha256(e.body)).toBe(patternSha256(100_000));
    expect(e.body[1000]).toBe((1000 * 31 + 7) & 0xff);
  });

  it("issues sessions with its route and ignores another route's JSESSIONID", async () => {
    const c = await connect();
    const login = await exchange(c, request({ uri: "/ajax/login" }));
    const cookies = login.headers.filter((_, i) => i % 2 === 1 && login.headers[i - 1] === "Set-Cookie");
    expect(cookies[0]).toMatch(/^JSESSIONID=[0-9A-F]{32}\.OX1; Path=\/; HttpOnly$/);
    expect(cookies).toHaveLength(3);
    const id = (bodyJson(login).sessionId as string);
    const mine = await exchange(c, request({ uri: "/ajax/session", headers: ["Cookie", `a=b; JSESSIONID=${id}`] }));
    expect(bodyJson(mine)).toEqual({ node: "OX1", sessionId: id, valid: true });
    const viaPath = await exchange(c, request({ uri: `/ajax/session;jsessionid=${id}` }));
    expect(bodyJson(viaPath)).toMatchObject({ sessionId: id, valid: true });
    const other = await exchange(c, request({ uri: "/ajax/session", headers: ["Cookie", `JSESSIONID=${id.replace(".OX1", ".OX2")}`] }));
    expect(bodyJson(other)).toEqual({ node: "OX1", sessionId: null, valid: false });
    expect(other.headers).toContain("Set-Cookie");
  });

  it("answers 404 outside the OX prefixes and for unknown endpoints, and sends no body for 204", async () => {
    const c = await connect();
    expect((await exchange(c, request({ uri: "/etc/echo" }))).status).toBe(404);
    const e = await exchange(c, request({ uri: "/ajax/nope" }));
    expect([e.status, bodyJson(e).error]).toEqual([404, "unknown endpoint"]);
    const nc = await exchange(c, request({ uri: "/ajax/status", queryString: "code=204" }));
    expect([nc.status, nc.body.length, nc.reuse]).toEqual([204, 0, true]);
    const head = await exchange(c, request({ method: "HEAD", uri: "/ajax/download", queryString: "size=5000" }));
    expect([head.status, head.body.length]).toEqual([200, 0]);
  });

  it("refuses a wrong or missing secret with 403, END_RESPONSE reuse=0 and a close", async () => {
    for (const secret of ["must-not-be-logged", undefined]) {
      const c = await connect();
      const e = await exchange(c, request({ secret }));
      expect([e.status, e.reuse, e.body.length]).toEqual([403, false, 0]);
      await c.waitClosed();
    }
    expect(logs).toContain("OX1: refusing request with 403: wrong secret");
    expect(logs).toContain("OX1: refusing request with 403: secret missing");
    expect(logs.join("\n")).not.toMatch(/must-not-be-logged|t0p-s3cret/);
  });

  it("refuses req_attributes outside Tomcat's allow-list (Ghostcat shape) with 403", async () => {
    // The codec only writes allow-listed attributes, so patch one into an encoded request:
    // AJP_LOCAL_ADDR → AJP_LOCAL_ADDX keeps every length intact.
    const c = await connect();
    const pkt = Buffer.from(c.encoder.encode(request())!);
    const at = pkt.indexOf("AJP_LOCAL_ADDR");
    pkt.write("X", at + "AJP_LOCAL_ADD".length, "latin1");
    c.write(pkt);
    const first = await c.next();
    expect(first).toMatchObject({ type: "headers", status: 403 });
    expect(await c.next()).toEqual({ type: "end", reuse: false });
    await c.waitClosed();
  });

  it("closes the connection on a malformed packet and keeps serving new connections", async () => {
    const bad = await connect();
    bad.write(Buffer.from([0x41, 0x42, 0x00, 0x01, 0x0a])); // container magic from a proxy
    await bad.waitClosed();
    const garbage = await connect();
    garbage.write(Buffer.from([0x12, 0x34, 0x00, 0x05, 0x02, 0x02, 0x00, 0x08, 0x48])); // truncated forward request
    await garbage.waitClosed();
    const unexpected = await connect();
    unexpected.write(encodeBodyPacket(Buffer.from("body without a request")));
    await unexpected.waitClosed();
    const good = await connect();
    expect((await exchange(good, request())).status).toBe(200);
    expect(logs.filter((l) => l.includes("closing the connection")).length).toBeGreaterThanOrEqual(3);
  });

  it("frees a connection whose proxy leaves mid-download, and openConnections returns to 0", async () => {
    const c = await connect();
    c.sock.pause(); // stop reading: the node must stop at the socket's high-water mark, not buffer 200 MiB
    c.write(Buffer.from(c.encoder.encode(request({ uri: "/ajax/download", queryString: "size=200000000" }))!));
    await new Promise((r) => setTimeout(r, 100));
    c.close();
    const slow = await connect();
    slow.write(Buffer.from(slow.encoder.encode(request({ uri: "/ajax/slow", queryString: "ms=60000" }))!));
    await new Promise((r) => setTimeout(r, 50));
    slow.close();
    for (const x of clients.splice(0)) x.close();
    await waitFor(() => node.openConnections() === 0);
    const again = await connect();
    expect((await exchange(again, request())).status).toBe(200);
    again.close();
    await waitFor(() => node.openConnections() === 0);
  });
});
