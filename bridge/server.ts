import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { errorBody, OxError } from "../common/errors.ts";
import { HANDOFF_HEADERS, type HandoffFields } from "../common/signing.ts";
import type { ResponseSink } from "./ajp/connection.ts";
import type { ForwardRequest } from "./ajp/forward-request.ts";
import { BodyReader } from "./body-reader.ts";
import { Cluster } from "./cluster.ts";
import type { BridgeConfig } from "./config.ts";
import { HandoffVerifier } from "./handoff.ts";
import { createLogger, type LogFields, type Logger } from "./log.ts";
import { PathPolicy } from "./path-policy.ts";
import { createAdmin } from "./admin.ts";

/** Hop-by-hop headers (RFC 9110 §7.6.1) and our own hand-off fields never reach a node or the client. */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade"]);

function connectionTokens(v: string | string[] | undefined): Set<string> | undefined {
  if (!v) return undefined;
  const s = new Set<string>();
  for (const t of String(v).split(",")) s.add(t.trim().toLowerCase());
  return s;
}

/** The request headers a node sees: the client's, minus hop-by-hop and hand-off fields, with Host as the client saw it. */
export function nodeHeaders(raw: readonly string[], host: string, connection: Set<string> | undefined): string[] {
  const out: string[] = ["Host", host];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const lower = raw[i].toLowerCase();
    if (lower === "host" || HOP_BY_HOP.has(lower) || lower.startsWith("x-oxedge-") || connection?.has(lower)) continue;
    out.push(raw[i], raw[i + 1]);
  }
  return out;
}

function splitHost(host: string, https: boolean): { name: string; port: number } {
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d+))?$/.exec(host);
  const name = m?.[1] ?? host;
  const port = m?.[2] ? Number(m[2]) : https ? 443 : 80;
  return { name, port };
}

/** Room to join the body chunks of one AJP read (its size: see ajp/connection.ts). */
const JOIN_SIZE = 64 * 1024;
/**
 * One join buffer for all responses: chunks are joined and written within
 * one AJP read, one read at a time, so it is free again afterwards unless a
 * slow client still holds it (then the next join gets a new one).
 */
let joinBuffer: Buffer | undefined;

/** ServerResponse as an AJP response sink, guarding the node's Content-Length so a short body is an abort, never a clean end. */
class HttpSink implements ResponseSink {
  declaredLength = -1;
  written = 0;
  private corked = false;
  private pending: Buffer[] | undefined;
  private pendingBytes = 0;
  private joinedThisRead = false;
  constructor(
    private readonly res: ServerResponse,
    private readonly route: string,
    private readonly head_: boolean,
  ) {}

  head(status: number, headers: string[]): void {
    const out: string[] = [];
    let connection: Set<string> | undefined;
    for (let i = 0; i + 1 < headers.length; i += 2) if (headers[i].toLowerCase() === "connection") connection = connectionTokens(headers[i + 1]);
    for (let i = 0; i + 1 < headers.length; i += 2) {
      const lower = headers[i].toLowerCase();
      if (HOP_BY_HOP.has(lower) || lower.startsWith("x-oxedge-") || connection?.has(lower)) continue;
      if (lower === "content-length") {
        // Two different lengths from a node would make the body ambiguous: keep the first.
        if (this.declaredLength >= 0) continue;
        const n = Number(headers[i + 1]);
        if (!Number.isSafeInteger(n) || n < 0) continue;
        this.declaredLength = n;
      }
      out.push(headers[i], headers[i + 1]);
    }
    out.push(HANDOFF_HEADERS.servedBy, this.route);
    this.res.writeHead(status, out);
  }

  write(chunk: Buffer): boolean {
    if (this.head_) return true;
    this.written += chunk.length;
    // Bytes past the promised length are dropped; the response is aborted at the end (see `bad`).
    if (this.declaredLength >= 0 && this.written > this.declaredLength) return true;
    if (!this.corked) return this.res.write(chunk);
    if (this.pendingBytes + chunk.length > JOIN_SIZE) this.writePending();
    if (chunk.length >= JOIN_SIZE) return this.res.write(chunk);
    (this.pending ??= []).push(chunk);
    this.pendingBytes += chunk.length;
    // What was written before tells whether the client keeps up; this chunk goes out at uncork.
    return !this.res.writableNeedDrain;
  }

  onDrain(cb: () => void): void {
    this.res.once("drain", cb);
  }

  flush(): void {
    // Node writes through at uncork; nothing else is held back to flush.
  }

  /**
   * Between cork and uncork (the packets of one AJP read) body chunks are
   * collected and written once, copied together if there are several: one
   * 64 KiB read holds eight 8 KiB packets, and eight res.write calls cost
   * more than copying their data (measured on the 1 MiB download).
   */
  cork(): void {
    this.corked = true;
    this.res.cork();
  }

  uncork(): void {
    this.writePending();
    this.corked = false;
    this.res.uncork();
  }

  holdsWrites(): boolean {
    const holds = this.res.writableLength > 0;
    // What the client has not taken yet may be the shared join buffer: it is the client's now.
    if (holds && this.joinedThisRead) joinBuffer = undefined;
    this.joinedThisRead = false;
    return holds;
  }

  private writePending(): void {
    const chunks = this.pending;
    if (!chunks || chunks.length === 0) return;
    if (chunks.length === 1) this.res.write(chunks[0]);
    else {
      const into = (joinBuffer ??= Buffer.allocUnsafe(JOIN_SIZE));
      let at = 0;
      for (const c of chunks) at += c.copy(into, at);
      this.res.write(into.subarray(0, at));
      this.joinedThisRead = true;
    }
    chunks.length = 0;
    this.pendingBytes = 0;
  }

  /** Why the body does not match the node's Content-Length, if it does not. */
  get bad(): string | undefined {
    if (this.head_ || this.declaredLength < 0 || this.res.statusCode === 204 || this.res.statusCode === 304) return undefined;
    if (this.written < this.declaredLength) return "node ended the body short of its Content-Length";
    if (this.written > this.declaredLength) return "node sent more body than its Content-Length";
    return undefined;
  }
}

export interface Bridge {
  server: Server;
  cluster: Cluster;
  url: string;
  /** The admin listener's URL, when admin_listen is set. */
  adminUrl: string | undefined;
  close(): Promise<void>;
}

function listen(server: Server, port: number, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      const a = server.address() as AddressInfo;
      resolve(`http://${a.family === "IPv6" ? `[${a.address}]` : a.address}:${a.port}`);
    });
  });
}

export function createBridge(config: BridgeConfig, log: Logger = createLogger()): { server: Server; cluster: Cluster } {
  const cluster = new Cluster(config, log);
  const verifier = new HandoffVerifier(config.secret, config.signatureWindowS);
  const policy = new PathPolicy(config.prefixes, config.provisioning.path, config.provisioning.allow);
  let seq = 0;

  const fail = (res: ServerResponse, err: OxError, requestId: string, fields: LogFields): void => {
    log(err.status >= 500 ? "error" : "warn", err.message, { kind: err.kind, status: err.status, request_id: requestId, ...fields });
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const headers: Record<string, string> = { "content-type": "text/plain; charset=utf-8", "x-oxedge-error": err.kind, "cache-control": "no-store" };
    if (err.retryAfter !== undefined) headers["retry-after"] = String(err.retryAfter);
    res.writeHead(err.status, headers);
    res.end(errorBody(err.kind, requestId));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const requestId = (req.headers[HANDOFF_HEADERS.requestId] as string | undefined)?.slice(0, 64) || `b${process.pid}-${++seq}`;
    const auth = verifier.check(req);
    if (!auth.ok) {
      // Answer, then drop the connection: an unauthenticated body is not worth reading.
      res.setHeader("connection", "close");
      return fail(res, new OxError("bad-signature", auth.reason), requestId, { method: req.method, peer: req.socket.remoteAddress });
    }
    const f = auth.fields;
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    const verdict = policy.judge(path, f.clientIp);
    if (!verdict.ok) return fail(res, new OxError(verdict.kind, verdict.reason), requestId, { path, client: f.clientIp });
    await forward(req, res, f, path, q < 0 ? undefined : url.slice(q + 1), requestId);
  };

  const replyTimeout = (path: string, memberTimeout: number): number => {
    let best: { prefix: string; timeoutMs: number } | undefined;
    for (const t of config.timeouts) if (path.startsWith(t.prefix) && (!best || t.prefix.length > best.prefix.length)) best = t;
    return best?.timeoutMs ?? memberTimeout;
  };

  const forward = async (req: IncomingMessage, res: ServerResponse, f: HandoffFields, path: string, query: string | undefined, requestId: string): Promise<void> => {
    const started = Date.now();
    const te = req.headers["transfer-encoding"];
    if (te !== undefined && te.toLowerCase() !== "chunked") {
      return fail(res, new OxError("bad-request", `unsupported transfer-encoding ${te}`), requestId, { path });
    }
    const cl = req.headers["content-length"];
    const contentLength = cl === undefined ? (te ? null : 0) : Number(cl);
    let abortExchange: ((err: OxError) => void) | undefined;
    let clientGone = false;
    const onClientGone = () => {
      if (res.writableFinished) return;
      clientGone = true;
      abortExchange?.(new OxError("client-aborted", "client went away"));
    };
    res.once("close", onClientGone);
    // It may have left already while the signature was checked.
    if (req.destroyed || res.destroyed) clientGone = true;
    let lease;
    try {
      lease = await cluster.lease(f.route);
    } catch (e) {
      res.off("close", onClientGone);
      return fail(res, e instanceof OxError ? e : new OxError("connect-failed", String(e)), requestId, { path, route: f.route });
    }
    const { member, conn } = lease;
    if (clientGone) {
      // Gone while we waited for a connection: nothing was sent, the connection is still clean.
      member.pool.release(conn);
      log("warn", "client went away before the request was sent", { kind: "client-aborted", path, request_id: requestId });
      return;
    }
    const https = f.proto === "https";
    const { name, port } = splitHost(f.host, https);
    const headers = nodeHeaders(req.rawHeaders, f.host, connectionTokens(req.headers.connection));
    // No Content-Length and no Transfer-Encoding means no body (RFC 9112 §6.3). Without saying so,
    // Tomcat takes the length as unknown and asks us for body with a GET_BODY_CHUNK round trip as
    // soon as the application reads its input; "0" lets it see the end at once.
    if (contentLength === 0 && cl === undefined) headers.push("Content-Length", "0");
    const fr: ForwardRequest = {
      method: req.method ?? "GET",
      protocol: `HTTP/${req.httpVersion}`,
      uri: path,
      remoteAddr: f.clientIp,
      remoteHost: f.clientIp,
      serverName: name,
      serverPort: port,
      isSsl: https,
      headers,
      queryString: query,
      route: member.config.route,
      secret: member.config.secret,
      remotePort: f.clientPort || undefined,
    };
    const hasBody = contentLength === null || contentLength > 0;
    const body = hasBody ? new BodyReader(req) : null;
    const sink = new HttpSink(res, member.config.route, req.method === "HEAD");
    const ex = conn.forward(fr, body, contentLength, sink, replyTimeout(path, member.config.timeoutMs));
    abortExchange = ex.abort;
    let outcome;
    try {
      outcome = await ex.outcome;
    } finally {
      res.off("close", onClientGone);
    }
    const logFields = { method: req.method, path, route: member.config.route, requested_route: f.route || undefined, route_changed: lease.routeChanged || undefined, ms: Date.now() - started, request_id: requestId };
    if (outcome.ok) {
      member.pool.release(conn);
      const bad = sink.bad;
      if (bad) {
        log("error", bad, { kind: "backend-protocol", ...logFields });
        res.destroy();
        return;
      }
      if (body && !body.done) {
        // The node answered without reading the whole upload: drop the rest rather than read it,
        // but only once the answer has left (destroying earlier could cut it short).
        body.detach();
        res.once("finish", () => req.destroy());
      }
      res.end();
      if (config.accessLog) log("info", "request", { status: outcome.status, ...logFields });
      return;
    }
    if (outcome.error.kind === "client-aborted") {
      log("warn", outcome.error.message, { kind: "client-aborted", ...logFields });
      return;
    }
    fail(res, outcome.error, requestId, logFields);
  };

  // Headers that fit the largest AJP packet must get past Node's parser (default 16 KiB) so
  // the codec can judge them; whatever does not fit a member's packet is its 431.
  const maxHeaderSize = Math.max(16 * 1024, ...config.members.map((m) => m.packetSize + 4096));
  const server = createServer({ requestTimeout: 0, keepAliveTimeout: 65_000, maxHeaderSize }, (req, res) => {
    handle(req, res).catch((e: unknown) => {
      const err = e instanceof OxError ? e : new OxError("internal", `internal error: ${(e as Error)?.stack ?? e}`);
      fail(res, err, "-", { path: req.url });
    });
  });
  server.on("clientError", (err: NodeJS.ErrnoException, socket) => {
    if (err.code === "ECONNRESET" || !socket.writable) {
      socket.destroy();
      return;
    }
    const tooLarge = err.code === "HPE_HEADER_OVERFLOW";
    const kind = tooLarge ? "headers-too-large" : "bad-request";
    socket.end(`HTTP/1.1 ${tooLarge ? "431 Request Header Fields Too Large" : "400 Bad Request"}\r\nconnection: close\r\nx-oxedge-error: ${kind}\r\ncontent-length: 0\r\n\r\n`);
    log("warn", "malformed request from the edge", { kind, error: err.code ?? err.message });
  });
  return { server, cluster };
}

/** Start listening (and the admin listener, if configured). */
export async function startBridge(config: BridgeConfig, log: Logger = createLogger()): Promise<Bridge> {
  const { server, cluster } = createBridge(config, log);
  const url = await listen(server, config.listenPort, config.listenHost);
  let admin: Server | undefined;
  let adminUrl: string | undefined;
  if (config.admin) {
    admin = createAdmin(cluster, config.admin.token, log);
    try {
      adminUrl = await listen(admin, config.admin.port, config.admin.host);
    } catch (e) {
      server.close();
      cluster.close();
      throw e;
    }
  }
  const closeServer = (s: Server) => new Promise<void>((resolve) => { s.closeAllConnections(); s.close(() => resolve()); });
  return {
    server,
    cluster,
    url,
    adminUrl,
    close: async () => {
      cluster.close();
      await Promise.all([closeServer(server), admin ? closeServer(admin) : undefined]);
    },
  };
}
