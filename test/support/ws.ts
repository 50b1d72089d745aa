/**
 * WebSocket peers for the bridge's relay tests (RFC 6455): a node that
 * upgrades on any path, greets with its route, echoes every message and
 * pushes on request; and the test client's upgrade, signed like the
 * worker's. Messages are whole (fragments joined); pings are answered.
 */
import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { WsHandshakeError, wsConnect, type WsClient, type WsConnectOptions } from "../../peers/ws-client.ts";
import { handoffHeaders, type HandoffOptions } from "./bridge.ts";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

export interface Message {
  opcode: number;
  data: Buffer;
}

/** Encodes one frame; `mask` for the client side. */
export function frame(opcode: number, data: Buffer, mask: boolean, fin = true): Buffer {
  const len = data.length;
  const ext = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const head = Buffer.alloc(2 + ext + (mask ? 4 : 0));
  head[0] = (fin ? 0x80 : 0) | opcode;
  head[1] = (mask ? 0x80 : 0) | (len < 126 ? len : len < 65536 ? 126 : 127);
  if (ext === 2) head.writeUInt16BE(len, 2);
  if (ext === 8) head.writeBigUInt64BE(BigInt(len), 2);
  if (!mask) return Buffer.concat([head, data]);
  const key = randomBytes(4);
  key.copy(head, 2 + ext);
  const out = Buffer.from(data);
  for (let i = 0; i < out.length; i++) out[i] ^= key[i & 3];
  return Buffer.concat([head, out]);
}

/** Reads frames from a socket and hands out whole messages and control frames. */
class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  private fragments: Buffer[] = [];
  private fragOpcode = 0;
  constructor(private readonly onMessage: (m: Message) => void, private readonly onControl: (m: Message) => void) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      if (this.buf.length < 2) return;
      const b0 = this.buf[0];
      const b1 = this.buf[1];
      let len = b1 & 0x7f;
      let at = 2;
      if (len === 126) {
        if (this.buf.length < 4) return;
        len = this.buf.readUInt16BE(2);
        at = 4;
      } else if (len === 127) {
        if (this.buf.length < 10) return;
        len = Number(this.buf.readBigUInt64BE(2));
        at = 10;
      }
      const masked = (b1 & 0x80) !== 0;
      const keyAt = at;
      if (masked) at += 4;
      if (this.buf.length < at + len) return;
      const data = Buffer.from(this.buf.subarray(at, at + len));
      if (masked) for (let i = 0; i < data.length; i++) data[i] ^= this.buf[keyAt + (i & 3)];
      this.buf = this.buf.subarray(at + len);
      const opcode = b0 & 0x0f;
      const fin = (b0 & 0x80) !== 0;
      if (opcode >= 8) {
        this.onControl({ opcode, data });
        continue;
      }
      if (opcode !== 0) this.fragOpcode = opcode;
      this.fragments.push(data);
      if (fin) {
        const m = { opcode: this.fragOpcode, data: Buffer.concat(this.fragments) };
        this.fragments = [];
        this.onMessage(m);
      }
    }
  }
}

export interface WsNode {
  route: string;
  port: number;
  /** Upgrade requests seen: their headers, flat. */
  upgrades: string[][];
  /** Pings the node received (from the bridge: nobody else pings it). */
  pings(): number;
  openConnections(): number;
  close(): Promise<void>;
}

/**
 * The node: greets `hello node=R`, echoes, answers `push N` with N
 * messages and `close CODE` with a close frame; it answers plain requests
 * with 200 so the pool and probes work too.
 */
export async function startWsNode(route: string, o: { silent?: boolean } = {}): Promise<WsNode> {
  const sockets = new Set<Socket>();
  const upgrades: string[][] = [];
  let pings = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    res.end(`node ${route}`);
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  server.on("upgrade", (req, socket: Socket, head: Buffer) => {
    upgrades.push(req.rawHeaders);
    socket.on("error", () => {});
    if (req.url?.includes("refuse")) return void socket.end("HTTP/1.1 403 Forbidden\r\ncontent-length: 6\r\n\r\nno way");
    const accept = createHash("sha1").update(`${req.headers["sec-websocket-key"]}${GUID}`).digest("base64");
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nX-Node: ${route}\r\n\r\n`);
    const send = (opcode: number, data: Buffer) => socket.write(frame(opcode, data, false));
    if (!o.silent) send(1, Buffer.from(`hello node=${route}`));
    const reader = new FrameReader(
      (m) => {
        const text = m.opcode === 1 ? m.data.toString() : "";
        const push = /^push (\d+)$/.exec(text);
        const close = /^close (\d+)$/.exec(text);
        if (push) for (let i = 1; i <= Number(push[1]); i++) send(1, Buffer.from(`push ${i}/${push[1]} node=${route}`));
        else if (close) {
          const payload = Buffer.alloc(2);
          payload.writeUInt16BE(Number(close[1]));
          send(8, payload);
          socket.end();
        } else send(m.opcode, m.data);
      },
      (c) => {
        if (c.opcode === 9) {
          pings++;
          send(10, c.data);
        } else if (c.opcode === 8) {
          send(8, c.data);
          socket.end();
        }
      },
    );
    if (head.length) reader.push(head);
    socket.on("data", (d: Buffer) => reader.push(d));
    // Like a real server: the peer's FIN ends the connection.
    socket.on("end", () => socket.end());
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    route,
    port: (server.address() as AddressInfo).port,
    upgrades,
    pings: () => pings,
    openConnections: () => sockets.size,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/**
 * A WebSocket through the bridge, its upgrade signed as the worker signs it
 * (the client is peers/ws-client.ts); a refused upgrade comes back as the
 * handshake error, with the bridge's or the node's status and body.
 */
export async function signedWs(bridgeUrl: string, o: HandoffOptions, client: Omit<WsConnectOptions, "headers"> = {}): Promise<WsClient | WsHandshakeError> {
  const url = new URL(o.target, bridgeUrl.replace(/^http/, "ws"));
  const headers = { ...((o.headers ?? {}) as Record<string, string>), ...(await handoffHeaders(o)) };
  try {
    return await wsConnect(url.toString(), { ...client, headers });
  } catch (e) {
    if (e instanceof WsHandshakeError) return e;
    throw e;
  }
}

/** The socket opened, or the test fails with what the bridge answered instead. */
export async function openWs(bridgeUrl: string, o: HandoffOptions, client: Omit<WsConnectOptions, "headers"> = {}): Promise<WsClient> {
  const c = await signedWs(bridgeUrl, o, client);
  if (c instanceof WsHandshakeError) throw new Error(`no WebSocket: ${c.status} ${c.body}`);
  return c;
}
