/**
 * A small RFC 6455 WebSocket client for tests: Node 20 has no stable WebSocket client of its
 * own, and writing one here keeps the tests off a transitive package. It does the opening
 * handshake (and checks Sec-WebSocket-Accept), sends masked frames (optionally fragmented, or
 * any raw frame for protocol tests), reads unmasked frames, reassembles fragmented messages,
 * answers pings, and runs the closing handshake. Everything it waits for is bounded in time.
 *
 * @example
 * const ws = await wsConnect(`ws://127.0.0.1:${node.httpPort}/socket.io/ws`, { headers: { cookie } });
 * expect(await ws.nextText()).toMatch(/^hello node=OX1/);
 * await ws.sendText("hi");
 * expect(await ws.nextText()).toBe("hi");
 * await ws.close();
 */
import { createHash, randomBytes } from "node:crypto";
import net from "node:net";
import tls from "node:tls";

export const WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

export const OPCODE = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;

export interface WsConnectOptions {
  /** More request headers, e.g. `{ cookie: "JSESSIONID=…" }`; names are sent as given. */
  headers?: Record<string, string>;
  /** Sec-WebSocket-Protocol values to offer. */
  protocols?: string[];
  /** Host header; default the URL's host (and port). */
  host?: string;
  /** ms for the TCP (and TLS) connect and the handshake together. Default 5000. */
  timeoutMs?: number;
  /** Largest message taken from the server, in bytes; a larger one is closed with 1009. Default 64 MiB. */
  maxMessageBytes?: number;
  /** ms to wait for the server's side of the closing handshake and its TCP close. Default 5000. */
  closeTimeoutMs?: number;
  /** false: pings are recorded but not answered, for tests that write raw frames to the socket (a pong would land inside them). Default true. */
  answerPings?: boolean;
  /** TLS options for `wss:` URLs, e.g. `{ rejectUnauthorized: false }` for a self-signed certificate. */
  tls?: tls.ConnectionOptions;
}

export type WsMessage = { type: "text"; data: string } | { type: "binary"; data: Buffer };

/** How the connection ended. */
export interface WsClose {
  /** The server's close code; 1005 when its close frame had none, 1006 when there was no close frame. */
  code: number;
  reason: string;
  /** A close frame came from the server before the TCP connection ended. */
  closeFrame: boolean;
  /** Who sent the first close frame; "none" when the TCP connection ended without one. */
  initiator: "client" | "server" | "none";
  /**
   * Who ended the TCP connection: "server" (as RFC 6455 wants after the closing handshake), or
   * "client" when this client cut it (terminate(), a protocol error, or no TCP close in time).
   */
  endedBy: "client" | "server";
  /** Set when this client ended the connection because the server broke the protocol. */
  error?: string;
}

export interface SendOptions {
  /** Split the message into frames of at most this many payload bytes (continuation frames). */
  fragmentSize?: number;
}

/** The server did not switch protocols: its status, headers and (the start of) its body. */
export class WsHandshakeError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly headers: Record<string, string>,
    readonly body: string,
  ) {
    super(message);
    this.name = "WsHandshakeError";
  }
}

/** Lower-cased header names; repeated headers joined with ", " (Set-Cookie with "\n", which may contain commas). */
function parseHead(head: string): { status: number; headers: Record<string, string> } {
  const lines = head.split("\r\n");
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
  if (!m) throw new Error(`not an HTTP response: ${JSON.stringify(lines[0].slice(0, 80))}`);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(":");
    if (i <= 0) continue;
    const name = line.slice(0, i).trim().toLowerCase();
    const value = line.slice(i + 1).trim();
    headers[name] = name in headers ? `${headers[name]}${name === "set-cookie" ? "\n" : ", "}${value}` : value;
  }
  return { status: Number(m[1]), headers };
}

const MAX_HEAD = 64 * 1024;

/**
 * Opens a WebSocket connection. Resolves once the server answered 101 with a correct
 * Sec-WebSocket-Accept; rejects with WsHandshakeError when it answered anything else.
 */
export function wsConnect(url: string, opts: WsConnectOptions = {}): Promise<WsClient> {
  const u = new URL(url);
  if (u.protocol !== "ws:" && u.protocol !== "wss:") throw new Error(`wsConnect: ${url} is not a ws: or wss: URL`);
  const secure = u.protocol === "wss:";
  const port = Number(u.port || (secure ? 443 : 80));
  const hostname = u.hostname.replace(/^\[|\]$/g, "");
  const key = randomBytes(16).toString("base64");
  const expectedAccept = createHash("sha1").update(key + WS_GUID).digest("base64");
  const timeoutMs = opts.timeoutMs ?? 5000;

  const lines = [
    `GET ${u.pathname}${u.search} HTTP/1.1`,
    `Host: ${opts.host ?? u.host}`,
    "Upgrade: websocket",
    "Connection: Upgrade",
    `Sec-WebSocket-Key: ${key}`,
    "Sec-WebSocket-Version: 13",
  ];
  if (opts.protocols?.length) lines.push(`Sec-WebSocket-Protocol: ${opts.protocols.join(", ")}`);
  for (const [k, v] of Object.entries(opts.headers ?? {})) {
    if (/[\r\n]/.test(k + v)) throw new Error(`wsConnect: header ${k} contains a line break`);
    lines.push(`${k}: ${v}`);
  }
  const request = lines.join("\r\n") + "\r\n\r\n";

  return new Promise((resolve, reject) => {
    const socket: net.Socket = secure
      ? tls.connect({ host: hostname, port, servername: net.isIP(hostname) ? undefined : hostname, ...opts.tls })
      : net.connect({ host: hostname, port });
    let buf: Buffer = Buffer.alloc(0);
    let settled = false;
    let failedHead: { status: number; headers: Record<string, string>; body: Buffer; bodyLength?: number } | undefined;

    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    const refuse = () => {
      const f = failedHead!;
      fail(new WsHandshakeError(`WebSocket handshake to ${url} answered ${f.status}`, f.status, f.headers, f.body.toString("utf8")));
    };
    const timer = setTimeout(() => {
      if (failedHead) refuse();
      else fail(new Error(`WebSocket handshake to ${url} not done within ${timeoutMs} ms`));
    }, timeoutMs);

    socket.once(secure ? "secureConnect" : "connect", () => socket.write(request));
    socket.on("error", (err) => fail(err));
    socket.on("close", () => {
      if (failedHead) refuse();
      else fail(new Error(`connection to ${url} closed during the WebSocket handshake`));
    });
    const onData = (d: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      if (failedHead) {
        failedHead.body = buf;
        if (failedHead.bodyLength !== undefined && buf.length >= failedHead.bodyLength) refuse();
        return;
      }
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) {
        if (buf.length > MAX_HEAD) fail(new Error(`WebSocket handshake response from ${url} has over ${MAX_HEAD} bytes of headers`));
        return;
      }
      let head: ReturnType<typeof parseHead>;
      try {
        head = parseHead(buf.subarray(0, end).toString("latin1"));
      } catch (err) {
        fail(err as Error);
        return;
      }
      const rest = buf.subarray(end + 4);
      if (head.status !== 101) {
        // The body says why (Tomcat's or httpd's error page); wait for it, within the timeout.
        const length = head.headers["content-length"] === undefined ? undefined : Number(head.headers["content-length"]);
        failedHead = { ...head, body: rest, bodyLength: length };
        buf = rest;
        if (length !== undefined && rest.length >= length) refuse();
        return;
      }
      const problem =
        head.headers["upgrade"]?.toLowerCase() !== "websocket"
          ? `Upgrade is ${JSON.stringify(head.headers["upgrade"])}`
          : !/(^|,)\s*upgrade\s*(,|$)/i.test(head.headers["connection"] ?? "")
            ? `Connection is ${JSON.stringify(head.headers["connection"])}`
            : head.headers["sec-websocket-accept"] !== expectedAccept
              ? `Sec-WebSocket-Accept is ${JSON.stringify(head.headers["sec-websocket-accept"])}, expected ${expectedAccept}`
              : undefined;
      if (problem) {
        fail(new WsHandshakeError(`WebSocket handshake to ${url}: 101 but ${problem}`, 101, head.headers, ""));
        return;
      }
      settled = true;
      clearTimeout(timer);
      socket.removeListener("data", onData);
      socket.removeAllListeners("close");
      socket.removeAllListeners("error");
      resolve(new WsClient(socket, head.headers, rest, opts));
    };
    socket.on("data", onData);
  });
}

interface FrameHead {
  fin: boolean;
  opcode: number;
  length: number;
}

interface Waiter<T> {
  resolve(v: T): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

/** One open WebSocket connection (from wsConnect). */
export class WsClient {
  /** The 101 response's headers, lower-cased (Sec-WebSocket-Protocol, Set-Cookie, …). */
  readonly headers: Record<string, string>;
  /** Resolves when the TCP connection has ended, with how. */
  readonly closed: Promise<WsClose>;
  /** Pings the server sent (each was answered with a pong). */
  readonly pingsReceived: Buffer[] = [];

  private readonly maxMessage: number;
  private readonly closeTimeoutMs: number;
  private readonly answerPings: boolean;
  private readonly decoder = new TextDecoder("utf-8", { fatal: true });
  // Received bytes not yet parsed: a list, so a large frame is copied once, not per read.
  private chunks: Buffer[] = [];
  private available = 0;
  private frame: FrameHead | undefined;
  private fragments: Buffer[] = [];
  private fragmentsLength = 0;
  private fragmentOpcode = 0;
  private readonly queue: WsMessage[] = [];
  private readonly waiters: Waiter<WsMessage>[] = [];
  private readonly pongWaiters: (Waiter<Buffer> & { payload: Buffer })[] = [];
  private closeSent = false;
  /** The server broke the protocol: nothing more it sends is parsed. */
  private broken = false;
  private serverClose: { code: number; reason: string } | undefined;
  private initiator: WsClose["initiator"] = "none";
  private error: string | undefined;
  private result: WsClose | undefined;
  private closeTimer: NodeJS.Timeout | undefined;
  private cut = false;
  private resolveClosed!: (c: WsClose) => void;

  constructor(
    /** The TCP (or TLS) socket, for tests that need to cut it or watch it. */
    readonly socket: net.Socket,
    headers: Record<string, string>,
    early: Buffer,
    opts: WsConnectOptions,
  ) {
    this.headers = headers;
    this.maxMessage = opts.maxMessageBytes ?? 64 * 1024 * 1024;
    this.closeTimeoutMs = opts.closeTimeoutMs ?? 5000;
    this.answerPings = opts.answerPings ?? true;
    this.closed = new Promise((r) => (this.resolveClosed = r));
    socket.setNoDelay(true);
    socket.on("data", (d: Buffer) => this.receive(d));
    socket.on("error", (err) => (this.error ??= err.message));
    socket.on("close", () => this.finish());
    if (early.length) this.receive(early);
  }

  /** The subprotocol the server chose, if any. */
  get protocol(): string | undefined {
    return this.headers["sec-websocket-protocol"];
  }

  /** True until a close frame was sent or the connection ended. */
  get open(): boolean {
    return !this.closeSent && !this.result;
  }

  sendText(text: string, opts: SendOptions = {}): Promise<void> {
    return this.sendMessage(OPCODE.text, Buffer.from(text, "utf8"), opts);
  }

  sendBinary(data: Uint8Array, opts: SendOptions = {}): Promise<void> {
    return this.sendMessage(OPCODE.binary, Buffer.from(data.buffer, data.byteOffset, data.byteLength), opts);
  }

  /**
   * Any frame, as given: for tests of how a server or proxy treats broken frames (unmasked,
   * reserved bits, unknown opcodes, a control frame over 125 bytes).
   */
  sendFrame(opcode: number, payload: Uint8Array, opts: { fin?: boolean; mask?: boolean; rsv?: number } = {}): Promise<void> {
    this.assertOpen();
    return this.write(opcode, Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), opts.fin ?? true, opts.mask ?? true, opts.rsv ?? 0);
  }

  /** Sends a ping and resolves with the payload of the pong that answers it. */
  ping(payload: Uint8Array = randomBytes(8), timeoutMs = 5000): Promise<Buffer> {
    const p = Buffer.from(payload);
    if (p.length > 125) throw new Error("a ping payload has at most 125 bytes");
    this.assertOpen();
    const answered = new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => {
        removeWaiter(this.pongWaiters, timer);
        reject(new Error(`no pong within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pongWaiters.push({ resolve, reject, timer, payload: p });
    });
    void this.write(OPCODE.ping, p, true, true, 0);
    return answered;
  }

  /** The next message from the server; rejects after timeoutMs or when the connection has ended. */
  next(timeoutMs = 5000): Promise<WsMessage> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.result) return Promise.reject(new Error(`WebSocket closed (${this.describe(this.result)}), no more messages`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        removeWaiter(this.waiters, timer);
        reject(new Error(`no WebSocket message within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push({ resolve, reject, timer });
    });
  }

  /** The next message, which must be text. */
  async nextText(timeoutMs = 5000): Promise<string> {
    const m = await this.next(timeoutMs);
    if (m.type !== "text") throw new Error(`expected a text message, got ${m.data.length} binary bytes`);
    return m.data;
  }

  /** The next message, which must be binary. */
  async nextBinary(timeoutMs = 5000): Promise<Buffer> {
    const m = await this.next(timeoutMs);
    if (m.type !== "binary") throw new Error(`expected a binary message, got text ${JSON.stringify(m.data.slice(0, 80))}`);
    return m.data;
  }

  /**
   * Starts the closing handshake and resolves when the connection has ended: after the
   * server's close frame and its TCP close, or after closeTimeoutMs (then the socket is cut).
   */
  close(code = 1000, reason = ""): Promise<WsClose> {
    if (!this.closeSent && !this.result) this.sendClose(code, reason);
    return this.closed;
  }

  /** Cuts the TCP connection without a closing handshake. */
  terminate(): void {
    this.cutNow();
  }

  // ---------------------------------------------------------------------------------------
  // Sending

  private assertOpen(): void {
    if (!this.open) throw new Error("WebSocket is closing or closed");
  }

  private sendMessage(opcode: number, payload: Buffer, opts: SendOptions): Promise<void> {
    this.assertOpen();
    const size = opts.fragmentSize && opts.fragmentSize > 0 ? opts.fragmentSize : payload.length;
    if (payload.length <= size) return this.write(opcode, payload, true, true, 0);
    let last: Promise<void> = Promise.resolve();
    for (let off = 0; off < payload.length; off += size) {
      const end = Math.min(off + size, payload.length);
      last = this.write(off === 0 ? opcode : OPCODE.continuation, payload.subarray(off, end), end === payload.length, true, 0);
    }
    return last;
  }

  private sendClose(code: number, reason: string): void {
    const r = Buffer.from(reason, "utf8");
    const body = Buffer.alloc(2 + r.length);
    body.writeUInt16BE(code, 0);
    r.copy(body, 2);
    this.closeSent = true;
    if (this.initiator === "none") this.initiator = "client";
    void this.write(OPCODE.close, body, true, true, 0);
    // RFC 6455 leaves closing the TCP connection to the server; do not wait for it forever.
    this.closeTimer ??= setTimeout(() => this.cutNow(), this.closeTimeoutMs);
  }

  private cutNow(): void {
    this.cut = true;
    this.socket.destroy();
  }

  /** Resolves when the bytes are handed to the kernel; errors show up in `closed`. */
  private write(opcode: number, payload: Buffer, fin: boolean, mask: boolean, rsv: number): Promise<void> {
    const len = payload.length;
    const extra = len < 126 ? 0 : len < 0x10000 ? 2 : 8;
    const head = Buffer.alloc(2 + extra + (mask ? 4 : 0));
    head[0] = (fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0x0f);
    head[1] = (mask ? 0x80 : 0) | (extra === 0 ? len : extra === 2 ? 126 : 127);
    if (extra === 2) head.writeUInt16BE(len, 2);
    else if (extra === 8) head.writeBigUInt64BE(BigInt(len), 2);
    let body = payload;
    if (mask) {
      const key = randomBytes(4);
      key.copy(head, 2 + extra);
      body = Buffer.allocUnsafe(len);
      for (let i = 0; i < len; i++) body[i] = payload[i] ^ key[i & 3];
    }
    return new Promise((resolve) => {
      if (this.socket.destroyed) return resolve();
      this.socket.cork();
      this.socket.write(head);
      this.socket.write(body, () => resolve());
      this.socket.uncork();
    });
  }

  // ---------------------------------------------------------------------------------------
  // Receiving

  private receive(d: Buffer): void {
    if (this.broken) return;
    this.chunks.push(d);
    this.available += d.length;
    try {
      this.parse();
    } catch (err) {
      const e = err as ProtocolError;
      this.fail(e.code ?? 1002, e.message);
    }
  }

  private byteAt(i: number): number {
    for (const c of this.chunks) {
      if (i < c.length) return c[i];
      i -= c.length;
    }
    throw new Error("byteAt beyond the available bytes");
  }

  private take(n: number): Buffer {
    this.available -= n;
    const first = this.chunks[0];
    if (first && first.length >= n) {
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    for (let off = 0; off < n; ) {
      const c = this.chunks[0];
      const k = Math.min(c.length, n - off);
      c.copy(out, off, 0, k);
      off += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    return out;
  }

  private parse(): void {
    // Bounded by the bytes that arrived: each pass consumes a frame header or a whole payload.
    while (!this.result) {
      if (!this.frame) {
        if (this.available < 2) return;
        const b0 = this.byteAt(0);
        const b1 = this.byteAt(1);
        const len7 = b1 & 0x7f;
        const need = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (b1 & 0x80 ? 4 : 0);
        if (this.available < need) return;
        const head = this.take(need);
        if (b1 & 0x80) throw new ProtocolError(1002, "the server sent a masked frame");
        if (b0 & 0x70) throw new ProtocolError(1002, `reserved bits ${(b0 >> 4) & 7} set without an extension`);
        let length = len7;
        if (len7 === 126) length = head.readUInt16BE(2);
        else if (len7 === 127) {
          const big = head.readBigUInt64BE(2);
          if (big > BigInt(this.maxMessage)) throw new ProtocolError(1009, `a frame of ${big} bytes is over the limit of ${this.maxMessage}`);
          length = Number(big);
        }
        const fin = (b0 & 0x80) !== 0;
        const opcode = b0 & 0x0f;
        if (opcode >= 0x8) {
          if (opcode !== OPCODE.close && opcode !== OPCODE.ping && opcode !== OPCODE.pong) throw new ProtocolError(1002, `unknown control opcode ${opcode}`);
          if (!fin || length > 125) throw new ProtocolError(1002, "a control frame must be unfragmented and at most 125 bytes");
        } else if (opcode === OPCODE.continuation) {
          if (!this.fragmentOpcode) throw new ProtocolError(1002, "a continuation frame without a message to continue");
        } else if (opcode === OPCODE.text || opcode === OPCODE.binary) {
          if (this.fragmentOpcode) throw new ProtocolError(1002, "a new message before the fragmented one ended");
        } else {
          throw new ProtocolError(1002, `unknown data opcode ${opcode}`);
        }
        if (opcode < 0x8 && this.fragmentsLength + length > this.maxMessage) {
          throw new ProtocolError(1009, `a message over the limit of ${this.maxMessage} bytes`);
        }
        this.frame = { fin, opcode, length };
      }
      if (this.available < this.frame.length) return;
      const { fin, opcode, length } = this.frame;
      this.frame = undefined;
      this.onFrame(fin, opcode, this.take(length));
    }
  }

  private onFrame(fin: boolean, opcode: number, payload: Buffer): void {
    switch (opcode) {
      case OPCODE.ping:
        this.pingsReceived.push(payload);
        if (!this.closeSent && this.answerPings) void this.write(OPCODE.pong, payload, true, true, 0);
        return;
      case OPCODE.pong: {
        const i = this.pongWaiters.findIndex((w) => w.payload.equals(payload));
        if (i >= 0) {
          const [w] = this.pongWaiters.splice(i, 1);
          clearTimeout(w.timer);
          w.resolve(payload);
        }
        return;
      }
      case OPCODE.close: {
        if (payload.length === 1) throw new ProtocolError(1002, "a close frame with a one-byte body");
        const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        let reason: string;
        try {
          reason = this.decoder.decode(payload.subarray(2));
        } catch {
          throw new ProtocolError(1007, "a close reason that is not UTF-8");
        }
        this.serverClose = { code, reason };
        if (this.initiator === "none") this.initiator = "server";
        // Answer with the same code (1005 cannot be sent: answer without one).
        if (!this.closeSent) {
          this.closeSent = true;
          void this.write(OPCODE.close, code === 1005 ? Buffer.alloc(0) : payload.subarray(0, 2), true, true, 0);
        }
        this.closeTimer ??= setTimeout(() => this.cutNow(), this.closeTimeoutMs);
        return;
      }
    }
    if (opcode !== OPCODE.continuation) this.fragmentOpcode = opcode;
    this.fragments.push(payload);
    this.fragmentsLength += payload.length;
    if (!fin) return;
    const data = this.fragments.length === 1 ? this.fragments[0] : Buffer.concat(this.fragments, this.fragmentsLength);
    const type = this.fragmentOpcode;
    this.fragments = [];
    this.fragmentsLength = 0;
    this.fragmentOpcode = 0;
    if (type === OPCODE.text) {
      let text: string;
      try {
        text = this.decoder.decode(data);
      } catch {
        throw new ProtocolError(1007, "a text message that is not UTF-8");
      }
      this.deliver({ type: "text", data: text });
    } else {
      this.deliver({ type: "binary", data });
    }
  }

  private deliver(m: WsMessage): void {
    const w = this.waiters.shift();
    if (w) {
      clearTimeout(w.timer);
      w.resolve(m);
    } else {
      this.queue.push(m);
    }
  }

  /** The server broke the protocol: say why in a close frame, then cut the connection. */
  private fail(code: number, message: string): void {
    this.broken = true;
    this.chunks = [];
    this.available = 0;
    this.error ??= message;
    if (!this.closeSent && !this.socket.destroyed) {
      this.sendClose(code, message.slice(0, 120));
      this.socket.end();
    }
    setTimeout(() => this.cutNow(), 100).unref();
  }

  private finish(): void {
    if (this.result) return;
    clearTimeout(this.closeTimer);
    this.result = {
      code: this.serverClose?.code ?? 1006,
      reason: this.serverClose?.reason ?? "",
      closeFrame: this.serverClose !== undefined,
      initiator: this.initiator,
      endedBy: this.cut ? "client" : "server",
      ...(this.error ? { error: this.error } : {}),
    };
    const why = new Error(`WebSocket closed (${this.describe(this.result)}) before a message arrived`);
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(why);
    }
    for (const w of this.pongWaiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(why);
    }
    this.resolveClosed(this.result);
  }

  private describe(c: WsClose): string {
    return `code ${c.code}${c.reason ? ` "${c.reason}"` : ""}${c.error ? `, ${c.error}` : ""}`;
  }
}

function removeWaiter(list: { timer: NodeJS.Timeout }[], timer: NodeJS.Timeout): void {
  const i = list.findIndex((w) => w.timer === timer);
  if (i >= 0) list.splice(i, 1);
}

class ProtocolError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}
