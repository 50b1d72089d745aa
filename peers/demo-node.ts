/**
 * A small AJP13 container that answers like an OX node, for the local demo stack, fast
 * integration tests and benchmarks. It serves the same endpoints as the Tomcat test app
 * (peers/tomcat-app), picked by the last path segment under any OX prefix, and it
 * follows Tomcat's AJP rules where a proxy could tell the difference (docs/ajp13.md:
 * Body packets, CPing and CPong, Tomcat rules the bridge relies on):
 * the first body packet arrives unasked, further ones are pulled with GET_BODY_CHUNK, a wrong
 * secret or an unknown req_attribute is a 403 followed by END_RESPONSE reuse=0 and a close.
 *
 * @example
 * const ox1 = await startDemoNode({ route: "OX1", secret: "s1" });
 * // ... point a proxy at ajp://127.0.0.1:${ox1.port} ...
 * await ox1.close();
 *
 * CLI (for `npm start`): tsx peers/demo-node.ts --route OX1 --port 8009 [--secret S]
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import net from "node:net";
import { pathToFileURL } from "node:url";
import { maxBodyChunk } from "../bridge/ajp/body.ts";
import { decodeBodyPacket, decodeForwardRequest, type DecodedForwardRequest, encodeBodyChunk, encodeEndResponse, encodeGetBodyChunk, encodeSendHeaders } from "./ajp-container.ts";
import {
  CPONG_PACKET,
  MAGIC_TO_CONTAINER,
  MAX_PACKET_SIZE,
  MIN_PACKET_SIZE,
  ProxyMsg,
  REQ_ATTR_LOCAL_ADDR,
  REQ_ATTR_REMOTE_PORT,
  REQ_ATTR_SSL_PROTOCOL,
} from "../bridge/ajp/codes.ts";
import { PacketReader } from "../bridge/ajp/reader.ts";
import { PATTERN, PATTERN_PERIOD } from "./pattern.ts";
import { OX_PREFIXES } from "../common/prefixes.ts";

export interface DemoNode {
  route: string;
  port: number;
  secret?: string;
  close(): Promise<void>;
  openConnections(): number;
  requestsSeen(): number;
  /** CPing packets answered (health checks and pings before reuse). */
  cpingsSeen(): number;
}

export interface DemoNodeOptions {
  route: string;
  /** 0 (default) = a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** When set, every Forward Request must carry it (Tomcat's `secret`). */
  secret?: string;
  /** AJP packet size, as Tomcat's `packetSize` (default 8192, clamped to [8192, 65536]). */
  packetSize?: number;
  log?: (line: string) => void;
}

export { OX_PREFIXES };

/** Tomcat's allow-list without allowedRequestAttributesPattern, reduced to what httpd and the bridge send. */
const ALLOWED_REQ_ATTRIBUTES = new Set([REQ_ATTR_REMOTE_PORT, REQ_ATTR_LOCAL_ADDR, REQ_ATTR_SSL_PROTOCOL]);

/** A proxy that stops sending mid-request (or stops reading our response) is given up on after this. */
const IO_TIMEOUT_MS = 60_000;
/** After END_RESPONSE reuse=0 we half-close and drain; this bounds how long we wait for the peer's FIN. */
const LINGER_MS = 2_000;
/** Unconsumed packets queued before the socket is paused: a peer must not make us buffer without bound. */
const QUEUE_HIGH_WATER = 4;
const MAX_SLOW_MS = 15 * 60_000;
const MAX_SESSIONS = 100_000;

// ---------------------------------------------------------------------------------------------
// The download body is peers/pattern.ts (shared with the Tomcat test app's checks).

export { patternSha256 } from "./pattern.ts";

// ---------------------------------------------------------------------------------------------
// One AJP connection: packets in, bytes out

/** The peer went away (or was given up on); unwinds the request handler. */
class ConnectionGone extends Error {}

class AjpChannel {
  private readonly reader: PacketReader;
  private readonly queue: Buffer[] = [];
  private waiter: (() => void) | undefined;
  private paused = false;
  gone = false;
  private readonly goneListeners = new Set<() => void>();

  constructor(
    readonly sock: net.Socket,
    packetSize: number,
    private readonly log: (line: string) => void,
    private readonly label: string,
  ) {
    this.reader = new PacketReader(MAGIC_TO_CONTAINER, packetSize - 4);
    sock.on("data", (chunk: Buffer) => this.onData(chunk));
    sock.on("close", () => this.markGone());
    // 'close' follows every 'error'; the error itself is normal (proxy reset, ttl expiry).
    sock.on("error", (err) => this.log(`${this.label}: socket error ${(err as NodeJS.ErrnoException).code ?? err.message}`));
  }

  private onData(chunk: Buffer): void {
    this.reader.push(chunk);
    for (;;) {
      const f = this.reader.next();
      if (f.kind === "need-more") break;
      if (f.kind === "error") {
        this.abort(`malformed packet (${f.reason})`);
        return;
      }
      this.queue.push(f.payload);
    }
    if (this.queue.length >= QUEUE_HIGH_WATER && !this.paused) {
      this.paused = true;
      this.sock.pause();
    }
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  private markGone(): void {
    if (this.gone) return;
    this.gone = true;
    this.queue.length = 0;
    this.wake();
    for (const l of this.goneListeners) l();
    this.goneListeners.clear();
  }

  /** Logs why, then drops the connection at once (protocol errors: the stream is out of step). */
  abort(why: string): void {
    if (this.gone) return;
    this.log(`${this.label}: ${why}; closing the connection`);
    this.sock.destroy();
    this.markGone();
  }

  /** Runs fn when the connection goes away; returns the unsubscribe function. */
  onGone(fn: () => void): () => void {
    if (this.gone) {
      fn();
      return () => {};
    }
    this.goneListeners.add(fn);
    return () => this.goneListeners.delete(fn);
  }

  /**
   * The next packet payload, or null when the connection is gone. timeoutMs 0 = wait as long
   * as the peer keeps the connection (Tomcat's AJP keepAliveTimeout is infinite by default).
   */
  async next(timeoutMs: number): Promise<Buffer | null> {
    while (this.queue.length === 0) {
      if (this.gone) return null;
      if (this.paused) {
        this.paused = false;
        this.sock.resume();
      }
      const arrived = await new Promise<boolean>((resolve) => {
        const timer = timeoutMs > 0 ? setTimeout(() => resolve(false), timeoutMs) : undefined;
        this.waiter = () => {
          clearTimeout(timer);
          resolve(true);
        };
      });
      if (!arrived) {
        this.waiter = undefined;
        this.abort(`no packet from the proxy within ${timeoutMs} ms`);
        return null;
      }
    }
    const p = this.queue.shift()!;
    if (this.paused && this.queue.length < QUEUE_HIGH_WATER) {
      this.paused = false;
      this.sock.resume();
    }
    return p;
  }

  /** Writes and waits for 'drain' when the socket buffer is full (bounded), so a slow proxy slows us down. */
  async write(buf: Buffer): Promise<void> {
    if (this.gone) throw new ConnectionGone();
    if (this.sock.write(buf)) return;
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error) => {
        clearTimeout(timer);
        this.sock.off("drain", onDrain);
        off();
        if (err) reject(err);
        else resolve();
      };
      const onDrain = () => done();
      const off = this.onGone(() => done(new ConnectionGone()));
      const timer = setTimeout(() => {
        this.abort(`proxy did not read for ${IO_TIMEOUT_MS} ms`);
        done(new ConnectionGone());
      }, IO_TIMEOUT_MS);
      this.sock.once("drain", onDrain);
    });
  }

  /**
   * Close after END_RESPONSE reuse=0 the way Tomcat does: half-close, then keep reading until
   * the proxy closes too. Closing with unread bytes in our receive buffer (say a body packet
   * the proxy sent unasked) would make the kernel send RST, and the proxy could lose the 403
   * it has not read yet.
   */
  closeGracefully(): void {
    if (this.gone) return;
    this.queue.length = 0;
    this.sock.removeAllListeners("data");
    this.sock.on("data", () => {});
    if (this.paused) this.sock.resume();
    this.sock.end();
    const timer = setTimeout(() => this.sock.destroy(), LINGER_MS);
    timer.unref();
    this.onGone(() => clearTimeout(timer));
  }
}

// ---------------------------------------------------------------------------------------------
// The request body, as Tomcat reads it (docs/ajp13.md, Body packets)

class RequestBody {
  /** The unasked first packet is still due (Content-Length > 0). */
  private firstDue: boolean;
  private received = 0;
  private ended: boolean;

  /** @param contentLength -1 = unknown (chunked at the edge): pulled until an empty packet */
  constructor(
    private readonly ch: AjpChannel,
    private readonly packetSize: number,
    readonly contentLength: number,
  ) {
    this.firstDue = contentLength > 0;
    this.ended = contentLength === 0;
  }

  /** The next piece of body, or null at its end. Throws ConnectionGone if the proxy failed. */
  async read(): Promise<Buffer | null> {
    if (this.ended) return null;
    if (this.firstDue) {
      this.firstDue = false;
    } else {
      if (this.contentLength >= 0 && this.received >= this.contentLength) {
        this.ended = true;
        return null;
      }
      await this.ch.write(encodeGetBodyChunk(maxBodyChunk(this.packetSize)));
    }
    const payload = await this.ch.next(IO_TIMEOUT_MS);
    if (!payload) throw new ConnectionGone();
    const body = decodeBodyPacket(payload);
    if (!body.ok) {
      this.ch.abort(`bad body packet: ${body.reason}`);
      throw new ConnectionGone();
    }
    if (body.value.length === 0) {
      this.ended = true;
      return null;
    }
    this.received += body.value.length;
    return body.value;
  }

  /** Tomcat's finishResponse: the unasked first packet must be read before the next request; nothing more is asked for. */
  async swallowFirst(): Promise<void> {
    if (this.firstDue) await this.read();
  }

  /** Streams the body into a hash; memory use is one packet whatever the upload size. */
  async digest(): Promise<{ bodyLength: number; bodySha256: string }> {
    const hash = createHash("sha256");
    let n = 0;
    for (let chunk = await this.read(); chunk; chunk = await this.read()) {
      hash.update(chunk);
      n += chunk.length;
    }
    return { bodyLength: n, bodySha256: hash.digest("hex") };
  }
}

// ---------------------------------------------------------------------------------------------
// Requests

interface Reply {
  status: number;
  headers: string[];
  body?: Buffer;
}

function json(status: number, value: unknown, extraHeaders: string[] = []): Reply {
  return { status, headers: ["Content-Type", "application/json", ...extraHeaders], body: Buffer.from(JSON.stringify(value)) };
}

function text(status: number, s: string, extraHeaders: string[] = []): Reply {
  return { status, headers: ["Content-Type", "text/plain", ...extraHeaders], body: Buffer.from(s) };
}

function headerValues(headers: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < headers.length; i += 2) if (headers[i].toLowerCase() === name) out.push(headers[i + 1]);
  return out;
}

function secretMatches(expected: string, got: string | undefined): boolean {
  if (got === undefined) return false;
  // Digests have equal lengths, so the comparison time says nothing about the secret's length either.
  const digest = (v: string) => createHash("sha256").update(v, "latin1").digest();
  return timingSafeEqual(digest(expected), digest(got));
}

/** JSESSIONID from the Cookie header(s) first, else from a `;jsessionid=` path parameter. */
function requestedSessionId(req: DecodedForwardRequest): string | undefined {
  for (const cookie of headerValues(req.headers, "cookie")) {
    // httpd merges repeated Cookie headers with ", ", so both separators split.
    for (const part of cookie.split(/[;,]/)) {
      const eq = part.indexOf("=");
      if (eq > 0 && part.slice(0, eq).trim() === "JSESSIONID") return part.slice(eq + 1).trim();
    }
  }
  const m = /;jsessionid=([^;/?]*)/i.exec(req.uri);
  return m ? m[1] : undefined;
}

function intParam(q: URLSearchParams, name: string, fallback: number): number {
  const v = q.get(name);
  if (v === null || !/^\s*\d+\s*$/.test(v)) return fallback;
  return Number(v);
}

/** Sessions this node issued; insertion-ordered so the oldest go first once a benchmark has made many. */
class SessionStore {
  private readonly ids = new Set<string>();

  constructor(private readonly route: string) {}

  create(): string {
    const id = `${randomBytes(16).toString("hex").toUpperCase()}.${this.route}`;
    this.ids.add(id);
    if (this.ids.size > MAX_SESSIONS) this.ids.delete(this.ids.values().next().value as string);
    return id;
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }
}

function sessionCookie(id: string): string {
  return `JSESSIONID=${id}; Path=/; HttpOnly`;
}

// ---------------------------------------------------------------------------------------------
// The server

export async function startDemoNode(opts: DemoNodeOptions): Promise<DemoNode> {
  const route = opts.route;
  const packetSize = Math.min(MAX_PACKET_SIZE, Math.max(MIN_PACKET_SIZE, opts.packetSize ?? MIN_PACKET_SIZE));
  // SEND_BODY_CHUNK carries at most packetSize - 8 (header 4, type 1, length 2, NUL 1), like Tomcat.
  const maxSendChunk = packetSize - 8;
  const log = opts.log ?? (() => {});
  const sessions = new SessionStore(route);
  const sockets = new Set<net.Socket>();
  let requests = 0;
  let cpings = 0;
  let connSeq = 0;

  async function send(ch: AjpChannel, reply: Reply, headOnly: boolean): Promise<void> {
    const bodyless = headOnly || reply.status === 204 || reply.status === 304 || reply.status < 200;
    const headers = [...reply.headers];
    if (reply.body && !bodyless) headers.push("Content-Length", String(reply.body.length));
    await sendHeaders(ch, reply.status, headers);
    if (reply.body && !bodyless) {
      for (let o = 0; o < reply.body.length; o += maxSendChunk) {
        await ch.write(encodeBodyChunk(reply.body.subarray(o, o + maxSendChunk)));
      }
    }
  }

  async function sendHeaders(ch: AjpChannel, status: number, headers: string[]): Promise<void> {
    // Modern Tomcat repeats the number as the reason phrase (Tomcat bug 45026).
    const packet = encodeSendHeaders(status, String(status), headers, packetSize);
    if (!packet) throw new Error(`response headers do not fit one ${packetSize}-byte packet`);
    await ch.write(packet);
  }

  async function download(ch: AjpChannel, size: number, headOnly: boolean): Promise<void> {
    await sendHeaders(ch, 200, ["Content-Type", "application/octet-stream", "Content-Length", String(size)]);
    if (headOnly) return;
    for (let sent = 0; sent < size; ) {
      const n = Math.min(maxSendChunk, size - sent);
      const at = sent % PATTERN_PERIOD;
      await ch.write(encodeBodyChunk(PATTERN.subarray(at, at + n)));
      sent += n;
    }
  }

  /** Resolves after ms, or early (false) when the proxy drops the connection: nothing is left to answer. */
  function sleepUnlessGone(ch: AjpChannel, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const off = ch.onGone(() => {
        clearTimeout(timer);
        resolve(false);
      });
      const timer = setTimeout(() => {
        off();
        resolve(true);
      }, ms);
    });
  }

  /** Answers one Forward Request; returns whether the connection can carry another. */
  async function handleRequest(ch: AjpChannel, req: DecodedForwardRequest): Promise<boolean> {
    requests++;
    const cl = headerValues(req.headers, "content-length");
    let contentLength = -1;
    if (cl.length > 0) {
      // Tomcat: a non-number or a second Content-Length is a 400, and the stream is then out of step.
      if (cl.length > 1 || !/^\d+$/.test(cl[0].trim())) {
        await refuse(ch, 400, "bad content-length");
        return false;
      }
      contentLength = Number(cl[0].trim());
    }
    const body = new RequestBody(ch, packetSize, contentLength);

    if (opts.secret !== undefined && !secretMatches(opts.secret, req.secret)) {
      await refuse(ch, 403, req.secret === undefined ? "secret missing" : "wrong secret");
      return false;
    }
    for (let i = 0; i < req.reqAttributes.length; i += 2) {
      if (!ALLOWED_REQ_ATTRIBUTES.has(req.reqAttributes[i])) {
        await refuse(ch, 403, `req_attribute ${JSON.stringify(req.reqAttributes[i])} not allowed`);
        return false;
      }
    }

    const reply = await dispatch(ch, req, body);
    if (reply === "sent") {
      await body.swallowFirst();
    } else if (reply) {
      await body.swallowFirst();
      await send(ch, reply, req.method === "HEAD");
    } else {
      return false; // proxy gone during a slow wait
    }
    await ch.write(encodeEndResponse(true));
    return true;
  }

  /** Tomcat's answer to a request it will not serve: status only, END_RESPONSE reuse=0, close. */
  async function refuse(ch: AjpChannel, status: number, why: string): Promise<void> {
    log(`${route}: refusing request with ${status}: ${why}`);
    await sendHeaders(ch, status, ["Content-Length", "0"]);
    await ch.write(encodeEndResponse(false));
  }

  async function dispatch(ch: AjpChannel, req: DecodedForwardRequest, body: RequestBody): Promise<Reply | "sent" | null> {
    // Path parameters (;jsessionid=…, ;x=y) are not part of the segment, as for a servlet container.
    const path = req.uri.replace(/;[^/]*/g, "");
    const query = new URLSearchParams(req.queryString ?? "");
    const underPrefix = OX_PREFIXES.some((p) => path === p || path.startsWith(`${p}/`));
    const endpoint = underPrefix ? path.slice(path.lastIndexOf("/") + 1) : "";

    // OX's rule: a JSESSIONID for another route (text after the last dot) is no session here,
    // and the node answers with a fresh cookie of its own.
    const requested = requestedSessionId(req);
    const foreign = requested !== undefined && requested.slice(requested.lastIndexOf(".") + 1) !== route;
    const sessionId = requested !== undefined && !foreign ? requested : null;
    const extra: string[] = [];
    if (foreign && endpoint !== "login") extra.push("Set-Cookie", sessionCookie(sessions.create()));

    switch (endpoint) {
      case "login": {
        const id = sessions.create();
        const hash = randomBytes(4).toString("hex");
        return json(200, { node: route, sessionId: id }, [
          "Set-Cookie", sessionCookie(id),
          // OX sets its own session and secret cookies next to JSESSIONID: proxies must keep every Set-Cookie.
          "Set-Cookie", `open-xchange-session-${hash}=${randomBytes(16).toString("hex")}; Path=/; HttpOnly`,
          "Set-Cookie", `open-xchange-secret-${hash}=${randomBytes(16).toString("hex")}; Path=/; HttpOnly`,
        ]);
      }
      case "session":
        return json(200, { node: route, sessionId, valid: sessionId !== null && sessions.has(sessionId) }, extra);
      case "echo": {
        const digest = await body.digest();
        return json(
          200,
          {
            node: route,
            method: req.method,
            uri: req.uri,
            queryString: req.queryString ?? null,
            protocol: req.protocol,
            headers: req.headers,
            remoteAddr: req.remoteAddr,
            remoteHost: req.remoteHost,
            remotePort: req.remotePort !== undefined && /^\d+$/.test(req.remotePort) ? Number(req.remotePort) : null,
            localAddr: req.localAddr ?? null,
            isSsl: req.isSsl,
            serverName: req.serverName,
            serverPort: req.serverPort,
            route: req.route ?? null,
            reqAttributes: req.reqAttributes,
            sessionId,
            ...digest,
          },
          extra,
        );
      }
      case "upload-digest":
        return json(200, { node: route, ...(await body.digest()) }, extra);
      case "download":
        await download(ch, intParam(query, "size", 0), req.method === "HEAD");
        return "sent";
      case "slow": {
        const ms = Math.min(intParam(query, "ms", 1000), MAX_SLOW_MS);
        if (!(await sleepUnlessGone(ch, ms))) return null;
        return text(200, "slow done", extra);
      }
      case "status": {
        const code = intParam(query, "code", 200);
        if (code < 100 || code > 999) return text(400, `node ${route}: bad code`, extra);
        const bodyless = code === 204 || code === 304 || code < 200;
        return bodyless ? { status: code, headers: extra } : text(code, `node ${route} says ${code}`, extra);
      }
      default:
        return json(404, { node: route, error: "unknown endpoint", path }, extra);
    }
  }

  async function serve(sock: net.Socket): Promise<void> {
    const label = `${route} conn#${++connSeq}`;
    const ch = new AjpChannel(sock, packetSize, log, label);
    sock.setNoDelay(true);
    try {
      for (;;) {
        const p = await ch.next(0);
        if (!p) return;
        if (p[0] === ProxyMsg.CPing && p.length === 1) {
          cpings++;
          await ch.write(CPONG_PACKET);
          continue;
        }
        if (p[0] !== ProxyMsg.ForwardRequest) {
          // Tomcat: anything but a Forward Request or CPing on a fresh request ends the connection.
          ch.abort(`unexpected packet type ${p[0]} (length ${p.length}) where a request was due`);
          return;
        }
        const decoded = decodeForwardRequest(p);
        if (!decoded.ok) {
          ch.abort(`malformed forward request: ${decoded.reason}`);
          return;
        }
        if (!(await handleRequest(ch, decoded.value))) {
          ch.closeGracefully();
          return;
        }
      }
    } catch (err) {
      if (!(err instanceof ConnectionGone)) ch.abort(`request failed: ${(err as Error).stack ?? err}`);
      else ch.abort("proxy went away mid-request");
    }
  }

  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on("close", () => sockets.delete(sock));
    void serve(sock);
  });
  server.on("error", (err) => log(`${route}: server error ${err.message}`));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, opts.host ?? "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as net.AddressInfo).port;
  log(`${route}: AJP13 demo node listening on ${opts.host ?? "127.0.0.1"}:${port}`);

  let closing: Promise<void> | undefined;
  return {
    route,
    port,
    secret: opts.secret,
    openConnections: () => sockets.size,
    requestsSeen: () => requests,
    cpingsSeen: () => cpings,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      return closing;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// CLI

function cliMain(argv: string[]): void {
  const args = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) args.set(argv[i].replace(/^--/, ""), argv[i + 1] ?? "");
  const route = args.get("route");
  if (!route) {
    console.error("usage: demo-node.ts --route OX1 [--port 8009] [--host 127.0.0.1] [--secret S] [--packet-size 8192]");
    process.exit(2);
  }
  startDemoNode({
    route,
    port: Number(args.get("port") ?? 8009),
    host: args.get("host"),
    // The environment keeps the secret out of the process list.
    secret: args.get("secret") ?? process.env.OXEDGE_DEMO_SECRET,
    packetSize: args.has("packet-size") ? Number(args.get("packet-size")) : undefined,
    log: (line) => console.log(line),
  }).then(
    (node) => {
      for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => void node.close().then(() => process.exit(0)));
    },
    (err: Error) => {
      console.error(`demo node ${route}: ${err.message}`);
      process.exit(1);
    },
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) cliMain(process.argv.slice(2));
