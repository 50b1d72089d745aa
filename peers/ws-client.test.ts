/**
 * The WebSocket client against a scripted server on loopback: the frames a real server
 * (Tomcat, in test/interop/tomcat-websocket.test.ts) never sends on purpose — broken ones,
 * pings, odd fragmentation, frames cut into single bytes.
 */
import { createHash } from "node:crypto";
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { OPCODE, WS_GUID, WsHandshakeError, wsConnect } from "./ws-client.ts";

interface ClientFrame {
  fin: boolean;
  opcode: number;
  masked: boolean;
  payload: Buffer;
}

/** A server frame (unmasked unless a mask is given). */
function frame(opcode: number, payload: Buffer | string, opts: { fin?: boolean; mask?: Buffer; rsv?: number } = {}): Buffer {
  const p = Buffer.from(payload);
  const len = p.length;
  const extra = len < 126 ? 0 : len < 0x10000 ? 2 : 8;
  const head = Buffer.alloc(2 + extra + (opts.mask ? 4 : 0));
  head[0] = (opts.fin === false ? 0 : 0x80) | ((opts.rsv ?? 0) << 4) | opcode;
  head[1] = (opts.mask ? 0x80 : 0) | (extra === 0 ? len : extra === 2 ? 126 : 127);
  if (extra === 2) head.writeUInt16BE(len, 2);
  if (extra === 8) head.writeBigUInt64BE(BigInt(len), 2);
  if (opts.mask) {
    opts.mask.copy(head, 2 + extra);
    for (let i = 0; i < len; i++) p[i] ^= opts.mask[i & 3];
  }
  return Buffer.concat([head, p]);
}

/** Client frames in `buf`, unmasked; the rest stays for the next read. */
function parseClientFrames(buf: Buffer): { frames: ClientFrame[]; rest: Buffer } {
  const frames: ClientFrame[] = [];
  let o = 0;
  for (;;) {
    if (buf.length - o < 2) break;
    const masked = (buf[o + 1] & 0x80) !== 0;
    let len = buf[o + 1] & 0x7f;
    let h = 2;
    if (len === 126) {
      if (buf.length - o < 4) break;
      len = buf.readUInt16BE(o + 2);
      h = 4;
    } else if (len === 127) {
      if (buf.length - o < 10) break;
      len = Number(buf.readBigUInt64BE(o + 2));
      h = 10;
    }
    const maskAt = o + h;
    if (masked) h += 4;
    if (buf.length - o < h + len) break;
    const payload = Buffer.from(buf.subarray(o + h, o + h + len));
    if (masked) for (let i = 0; i < len; i++) payload[i] ^= buf[maskAt + (i & 3)];
    frames.push({ fin: (buf[o] & 0x80) !== 0, opcode: buf[o] & 0x0f, masked, payload });
    o += h + len;
  }
  return { frames, rest: buf.subarray(o) };
}

interface Scripted {
  url: string;
  /** Frames the client sent, in order. */
  received: ClientFrame[];
  /** The server's socket of the latest connection. */
  socket(): net.Socket;
  /** Resolves when the client has sent n frames in all. */
  waitFrames(n: number): Promise<ClientFrame[]>;
}

const servers: net.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/**
 * A server that answers the handshake (or `response(key)` instead) and then runs `script`.
 * Client frames are parsed and recorded; a client close is answered and the socket ended, unless
 * `keepOpenOnClose`.
 */
async function scripted(
  script: (sock: net.Socket) => void,
  opts: { response?: (key: string) => string; keepOpenOnClose?: boolean } = {},
): Promise<Scripted> {
  const received: ClientFrame[] = [];
  const waiting: { n: number; resolve: (f: ClientFrame[]) => void }[] = [];
  let last: net.Socket | undefined;
  const server = net.createServer((sock) => {
    last = sock;
    let buf: Buffer = Buffer.alloc(0);
    let upgraded = false;
    sock.on("error", () => undefined);
    sock.on("data", (d) => {
      buf = Buffer.concat([buf, d]);
      if (!upgraded) {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) return;
        const key = /sec-websocket-key: (\S+)/i.exec(buf.subarray(0, end).toString())![1];
        buf = buf.subarray(end + 4);
        upgraded = true;
        const accept = createHash("sha1").update(key + WS_GUID).digest("base64");
        sock.write(opts.response?.(key) ?? `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
        if (!opts.response) script(sock);
      }
      const { frames, rest } = parseClientFrames(buf);
      buf = rest;
      for (const f of frames) {
        received.push(f);
        if (f.opcode === OPCODE.close && !opts.keepOpenOnClose) {
          sock.end(frame(OPCODE.close, f.payload));
        }
      }
      for (const w of waiting.filter((x) => received.length >= x.n)) w.resolve(received.slice());
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}/socket.io/ws?x=1`,
    received,
    socket: () => last!,
    waitFrames: (n) =>
      received.length >= n ? Promise.resolve(received.slice()) : new Promise((resolve) => waiting.push({ n, resolve })),
  };
}

describe("wsConnect handshake", () => {
  it("sends the RFC 6455 request with extra headers and checks Sec-WebSocket-Accept", async () => {
    let request = "";
    const srv = net.createServer((sock) =>
      sock.once("data", (d) => {
        request = d.toString();
        const key = /Sec-WebSocket-Key: (\S+)/.exec(request)![1];
        const accept = createHash("sha1").update(key + WS_GUID).digest("base64");
        sock.end(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Protocol: chat\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n`);
      }),
    );
    servers.push(srv);
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    const { port } = srv.address() as net.AddressInfo;
    const ws = await wsConnect(`ws://127.0.0.1:${port}/a/b?c=d`, { headers: { Cookie: "JSESSIONID=x.OX1" }, protocols: ["chat", "x"] });
    expect(request).toMatch(/^GET \/a\/b\?c=d HTTP\/1\.1\r\n/);
    expect(request).toContain(`\r\nHost: 127.0.0.1:${port}\r\n`);
    expect(request).toContain("\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n");
    expect(request).toContain("\r\nSec-WebSocket-Version: 13\r\n");
    expect(request).toContain("\r\nSec-WebSocket-Protocol: chat, x\r\n");
    expect(request).toContain("\r\nCookie: JSESSIONID=x.OX1\r\n");
    expect(ws.protocol).toBe("chat");
    expect(ws.headers["set-cookie"]).toBe("a=1\nb=2");
    expect(await ws.closed).toMatchObject({ code: 1006, closeFrame: false, initiator: "none", endedBy: "server" });
  });

  it("rejects a 101 with the wrong Sec-WebSocket-Accept", async () => {
    const s = await scripted(() => undefined, {
      response: () => "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: bm9wZQ==\r\n\r\n",
    });
    const err = await wsConnect(s.url).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WsHandshakeError);
    expect((err as Error).message).toContain("Sec-WebSocket-Accept");
  });

  it("rejects any other status with its headers and body", async () => {
    const s = await scripted(() => undefined, {
      response: () => "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Length: 11\r\n\r\nno members.",
    });
    const err = (await wsConnect(s.url).catch((e: unknown) => e)) as WsHandshakeError;
    expect(err).toBeInstanceOf(WsHandshakeError);
    expect([err.status, err.headers["retry-after"], err.body]).toEqual([503, "5", "no members."]);
  });

  it("gives up on a server that never answers, within timeoutMs", async () => {
    // It reads (or it would never see the client's FIN, and close() would wait for ever).
    const srv = net.createServer((sock) => sock.resume());
    servers.push(srv);
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    const { port } = srv.address() as net.AddressInfo;
    const t0 = Date.now();
    await expect(wsConnect(`ws://127.0.0.1:${port}/`, { timeoutMs: 200 })).rejects.toThrow(/not done within 200 ms/);
    expect(Date.now() - t0).toBeLessThan(2000);
  });
});

describe("WsClient frames", () => {
  it("reads frames that arrive with the handshake and one byte at a time", async () => {
    const big = Buffer.alloc(200_000, 9);
    const s = await scripted((sock) => {
      // The first frame travels in the same write as the 101 response.
      sock.write(frame(OPCODE.text, "early"));
      const bytes = Buffer.concat([frame(OPCODE.text, "x".repeat(300)), frame(OPCODE.binary, big)]);
      let i = 0;
      const drip = () => {
        // Bytes one by one for the headers, then the rest in two pieces.
        if (i < 8) {
          sock.write(bytes.subarray(i, i + 1));
          i++;
          setImmediate(drip);
        } else {
          sock.write(bytes.subarray(8, 100_000));
          sock.write(bytes.subarray(100_000));
        }
      };
      drip();
    });
    const ws = await wsConnect(s.url);
    expect(await ws.nextText()).toBe("early");
    expect(await ws.nextText()).toBe("x".repeat(300));
    expect((await ws.nextBinary()).equals(big)).toBe(true);
    await ws.close();
  });

  it("reassembles fragments around a ping, answers the ping with its payload", async () => {
    const s = await scripted((sock) => {
      sock.write(frame(OPCODE.text, "one ", { fin: false }));
      sock.write(frame(OPCODE.ping, "p1"));
      sock.write(frame(OPCODE.continuation, Buffer.from("two €").subarray(0, 5), { fin: false }));
      sock.write(frame(OPCODE.continuation, Buffer.from("two €").subarray(5)));
    });
    const ws = await wsConnect(s.url);
    expect(await ws.nextText()).toBe("one two €");
    const [pong] = await s.waitFrames(1);
    expect(pong).toMatchObject({ opcode: OPCODE.pong, masked: true, fin: true });
    expect(pong.payload.toString()).toBe("p1");
    expect(ws.pingsReceived.map(String)).toEqual(["p1"]);
    await ws.close();
  });

  it("sends masked frames with 7-, 16- and 64-bit lengths, and fragments on request", async () => {
    const s = await scripted(() => undefined);
    const ws = await wsConnect(s.url);
    const mid = Buffer.alloc(1000, 1);
    const large = Buffer.alloc(70_000, 2);
    await ws.sendText("short");
    await ws.sendBinary(mid);
    await ws.sendBinary(large);
    await ws.sendText("abcdefgh", { fragmentSize: 3 });
    const got = await s.waitFrames(6);
    expect(got.every((f) => f.masked)).toBe(true);
    expect(got.map((f) => [f.opcode, f.fin, f.payload.length])).toEqual([
      [OPCODE.text, true, 5],
      [OPCODE.binary, true, 1000],
      [OPCODE.binary, true, 70_000],
      [OPCODE.text, false, 3],
      [OPCODE.continuation, false, 3],
      [OPCODE.continuation, true, 2],
    ]);
    expect(got[2].payload.equals(large)).toBe(true);
    expect(Buffer.concat(got.slice(3).map((f) => f.payload)).toString()).toBe("abcdefgh");
    await ws.close();
  });

  it("runs the closing handshake: the server's code comes back, the server ends TCP", async () => {
    const s = await scripted(() => undefined);
    const ws = await wsConnect(s.url);
    const closed = await ws.close(4000, "bye");
    expect(closed).toEqual({ code: 4000, reason: "bye", closeFrame: true, initiator: "client", endedBy: "server" });
    expect(s.received.at(-1)).toMatchObject({ opcode: OPCODE.close, masked: true });
    expect(() => ws.sendText("late")).toThrow(/closing or closed/);
    await expect(ws.next(100)).rejects.toThrow(/closed/);
  });

  it("answers a server close without a code with an empty close: code 1005", async () => {
    const s = await scripted((sock) => sock.write(frame(OPCODE.close, Buffer.alloc(0))), { keepOpenOnClose: true });
    const ws = await wsConnect(s.url);
    const [reply] = await s.waitFrames(1);
    expect(reply).toMatchObject({ opcode: OPCODE.close, payload: Buffer.alloc(0) });
    s.socket().end();
    expect(await ws.closed).toMatchObject({ code: 1005, closeFrame: true, initiator: "server", endedBy: "server" });
  });

  it("cuts the connection when the server does not close TCP after the handshake", async () => {
    const s = await scripted(() => undefined, { keepOpenOnClose: true });
    const ws = await wsConnect(s.url, { closeTimeoutMs: 150 });
    const t0 = Date.now();
    expect(await ws.close()).toMatchObject({ code: 1006, closeFrame: false, initiator: "client", endedBy: "client" });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
  });

  for (const [what, bytes, code] of [
    ["a masked server frame", frame(OPCODE.text, "x", { mask: Buffer.from([1, 2, 3, 4]) }), 1002],
    ["reserved bits", frame(OPCODE.text, "x", { rsv: 4 }), 1002],
    ["an unknown opcode", frame(0x3, "x"), 1002],
    ["a fragmented ping", frame(OPCODE.ping, "x", { fin: false }), 1002],
    ["a continuation without a message", frame(OPCODE.continuation, "x"), 1002],
    ["text that is not UTF-8", frame(OPCODE.text, Buffer.from([0xc3, 0x28])), 1007],
    ["a message over maxMessageBytes", frame(OPCODE.binary, Buffer.alloc(2000)), 1009],
  ] as const) {
    it(`closes with ${code} on ${what}, and delivers nothing after it`, async () => {
      const s = await scripted((sock) => sock.write(Buffer.concat([bytes, frame(OPCODE.text, "after")])));
      const ws = await wsConnect(s.url, { maxMessageBytes: 1000 });
      const [close] = await s.waitFrames(1);
      expect(close.opcode).toBe(OPCODE.close);
      expect(close.payload.readUInt16BE(0)).toBe(code);
      const result = await ws.closed;
      expect(result.error).toBeTruthy();
      await expect(ws.next(50)).rejects.toThrow(/closed/);
    });
  }
});
