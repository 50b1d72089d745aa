import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { errorBody, OxError, statusOf, type ErrorKind } from "../common/errors.ts";
import { EDGE_HOP_HEADERS } from "../common/edge-headers.ts";
import { HANDOFF_HEADERS, type HandoffFields } from "../common/signing.ts";
import { createAdmin } from "./admin.ts";
import { BodyReader } from "./body-reader.ts";
import { Cluster } from "./cluster.ts";
import type { BridgeConfig } from "./config.ts";
import { ExchangeControl, type ProxyRequest } from "./exchange.ts";
import { HandoffVerifier } from "./handoff.ts";
import { connectionTokens, HOP_BY_HOP } from "./hop-by-hop.ts";
import { HttpSink } from "./http-sink.ts";
import { burstLogger, createLogger, type LogFields, type Logger } from "./log.ts";
import { PathPolicy, type PathAccepted } from "./path-policy.ts";

/** The request headers a node sees: the client's, minus hop-by-hop, hand-off, Cloudflare Access and forwarding fields, with Host as the client saw it. */
export function nodeHeaders(raw: readonly string[], f: HandoffFields, serverPort: number, connection: Set<string> | undefined): string[] {
  const out: string[] = ["Host", f.host];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const lower = raw[i].toLowerCase();
    // Expect was answered here (Node sends the 100): passed on, the node would answer it again.
    // X-Forwarded-* are rebuilt below from the signed fields.
    if (lower === "host" || lower === "expect" || HOP_BY_HOP.has(lower) || lower.startsWith("x-oxedge-") || lower.startsWith("x-forwarded-") || EDGE_HOP_HEADERS.has(lower) || connection?.has(lower)) continue;
    out.push(raw[i], raw[i + 1]);
  }
  // What OX reads behind a proxy (considerXForwards, knownProxies), from what the edge signed;
  // over AJP the protocol carries these too, over HTTP only headers can.
  out.push("X-Forwarded-For", f.clientIp, "X-Forwarded-Proto", f.proto, "X-Forwarded-Host", f.host, "X-Forwarded-Port", String(serverPort));
  return out;
}

function splitHost(host: string, https: boolean): { name: string; port: number } {
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d+))?$/.exec(host);
  const name = m?.[1] ?? host;
  const port = m?.[2] ? Number(m[2]) : https ? 443 : 80;
  return { name, port };
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

/** Set on connections accepted beyond max_connections: answered 503 and closed, never served. */
const OVER_CAP = Symbol("oxedge.overCap");

/** An error answer written straight to a socket that has no usable request (yet). */
function rawAnswer(kind: ErrorKind, extra = ""): string {
  const status = statusOf(kind);
  return `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nconnection: close\r\nx-oxedge-error: ${kind}\r\n${extra}content-length: 0\r\n\r\n`;
}
const OVER_CAP_ANSWER = rawAnswer("over-capacity", "retry-after: 1\r\n");

export function createBridge(config: BridgeConfig, log: Logger = createLogger()): { server: Server; cluster: Cluster } {
  const cluster = new Cluster(config, log);
  const verifier = new HandoffVerifier(config.secret, config.signatureWindowS);
  const policy = new PathPolicy(config.paths);
  const limits = config.limits;
  let seq = 0;

  const fail = (res: ServerResponse, err: OxError, requestId: string, fields: LogFields): void => {
    log(err.status >= 500 ? "error" : "warn", err.message, { kind: err.kind, status: err.status, request_id: requestId, ...fields });
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const headers: Record<string, string> = { "content-type": "text/plain; charset=utf-8", "x-oxedge-error": err.kind, "cache-control": "no-store" };
    if (err.retryAfter !== undefined) headers["retry-after"] = String(err.retryAfter);
    // Keeping the connection would mean reading the rest of a body nobody wants, at the
    // client's pace: that is how a slow client holds the bridge. Close it instead.
    if (!res.req.complete) headers.connection = "close";
    res.writeHead(err.status, headers);
    res.end(errorBody(err.kind, requestId));
  };

  type Admitted = { ok: true; requestId: string; f: HandoffFields; path: string; query: string | undefined; rule: PathAccepted };
  type Refused = { ok: false; requestId: string; error: OxError; fields: LogFields };

  /** Every request and upgrade passes here first: the worker's signature, then the path map. */
  const admit = (req: IncomingMessage): Admitted | Refused => {
    const requestId = (req.headers[HANDOFF_HEADERS.requestId] as string | undefined)?.slice(0, 64) || `b${process.pid}-${++seq}`;
    const auth = verifier.check(req);
    if (!auth.ok) return { ok: false, requestId, error: new OxError("bad-signature", auth.reason), fields: { method: req.method, peer: req.socket.remoteAddress } };
    const f = auth.fields;
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    const rule = policy.judge(path, f.clientIp);
    if (!rule.ok) return { ok: false, requestId, error: new OxError(rule.kind, rule.reason), fields: { path, client: f.clientIp } };
    return { ok: true, requestId, f, path, query: q < 0 ? undefined : url.slice(q + 1), rule };
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const a = admit(req);
    if (!a.ok) {
      // Answer, then drop the connection: an unauthenticated peer gets nothing kept for it.
      if (a.error.kind === "bad-signature") res.setHeader("connection", "close");
      return fail(res, a.error, a.requestId, a.fields);
    }
    await forward(req, res, a.f, a.path, a.query, a.requestId, a.rule);
  };

  /** The request as every transport sees it, from what the client sent and the edge signed. */
  const proxyRequest = (req: IncomingMessage, f: HandoffFields, path: string, query: string | undefined, rule: PathAccepted, body: BodyReader | null, contentLength: number | null): ProxyRequest => {
    const { name, port } = splitHost(f.host, f.proto === "https");
    return {
      method: req.method ?? "GET",
      httpVersion: req.httpVersion,
      path,
      query,
      headers: nodeHeaders(req.rawHeaders, f, port, connectionTokens(req.headers.connection)),
      clientIp: f.clientIp,
      clientPort: f.clientPort,
      serverName: name,
      serverPort: port,
      https: f.proto === "https",
      body,
      contentLength,
      replyTimeoutMs: rule.replyTimeoutMs,
      deadlineMs: rule.deadlineMs,
    };
  };

  const upgradeAnswer = (socket: Socket, err: OxError, requestId: string, fields: LogFields): void => {
    log(err.status >= 500 ? "error" : "warn", err.message, { kind: err.kind, status: err.status, request_id: requestId, websocket: true, ...fields });
    if (socket.writable) socket.end(rawAnswer(err.kind, err.retryAfter === undefined ? "" : `retry-after: ${err.retryAfter}\r\n`));
    else socket.destroy();
  };

  /**
   * A WebSocket upgrade: signed like any request, on a WebSocket prefix, to
   * a member that can carry one (chosen by the sticky route as usual); from
   * then on the bridge relays bytes, with pings and an idle limit.
   */
  const upgrade = async (req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> => {
    socket.on("error", () => {});
    const a = admit(req);
    if (!a.ok) return upgradeAnswer(socket, a.error, a.requestId, a.fields);
    const { requestId, f, path, query, rule } = a;
    if (!rule.websocket) return upgradeAnswer(socket, new OxError("bad-request", "not a WebSocket prefix"), requestId, { path });
    if (String(req.headers.upgrade).toLowerCase() !== "websocket" || req.method !== "GET") return upgradeAnswer(socket, new OxError("bad-request", `upgrade to ${req.headers.upgrade} is not relayed`), requestId, { path });
    const started = Date.now();
    const control = new ExchangeControl();
    const onGone = () => control.abort(new OxError("client-aborted", "client went away during the upgrade"));
    socket.once("close", onGone);
    const preq = proxyRequest(req, f, path, query, rule, null, 0);
    const fields = { path, requested_route: f.route || undefined, request_id: requestId };
    const r = await cluster.upgrade(f.route, {
      req: preq,
      client: socket,
      head,
      relay: { idleMs: limits.websocketIdleMs, pingMs: limits.websocketPingMs },
      onEnd: (e) => {
        const quiet = e.why === "client closed" || e.why === "node closed";
        if (!quiet || config.accessLog) log(quiet ? "info" : "warn", "websocket closed", { ...fields, route: control.route, why: e.why, to_node: e.toNode, to_client: e.toClient, ms: e.ms });
      },
    }, control);
    socket.off("close", onGone);
    if (r.ok) {
      if (config.accessLog) log("info", "websocket", { ...fields, route: control.route, status: r.status, ms: Date.now() - started });
      return;
    }
    if (r.error.kind === "client-aborted") return void log("warn", r.error.message, { kind: "client-aborted", ...fields });
    upgradeAnswer(socket, r.error, requestId, { ...fields, route: control.route || undefined });
  };

  const forward = async (req: IncomingMessage, res: ServerResponse, f: HandoffFields, path: string, query: string | undefined, requestId: string, rule: PathAccepted): Promise<void> => {
    const started = Date.now();
    const te = req.headers["transfer-encoding"];
    if (te !== undefined && te.toLowerCase() !== "chunked") {
      return fail(res, new OxError("bad-request", `unsupported transfer-encoding ${te}`), requestId, { path });
    }
    const cl = req.headers["content-length"];
    const contentLength = cl === undefined ? (te ? null : 0) : Number(cl);
    const control = new ExchangeControl();
    const onClientGone = () => {
      if (!res.writableFinished) control.abort(new OxError("client-aborted", "client went away"));
    };
    res.once("close", onClientGone);
    // It may have left already while the signature was checked.
    if (req.destroyed || res.destroyed) control.abort(new OxError("client-aborted", "client went away"));
    const hasBody = contentLength === null || contentLength > 0;
    const body = hasBody ? new BodyReader(req, undefined, { timeoutMs: limits.bodyTimeoutMs, minRate: limits.bodyMinRate, onViolation: (e) => control.abort(e) }) : null;
    const preq = proxyRequest(req, f, path, query, rule, body, contentLength);
    // No Content-Length and no Transfer-Encoding means no body (RFC 9112 §6.3). Without saying so,
    // Tomcat takes the length as unknown and asks us for body with a GET_BODY_CHUNK round trip as
    // soon as the application reads its input; "0" lets it see the end at once.
    if (contentLength === 0 && cl === undefined) preq.headers.push("Content-Length", "0");
    const sink = new HttpSink(res, control, req.method === "HEAD");
    let r;
    try {
      r = await cluster.exchange(f.route, preq, sink, control);
    } finally {
      res.off("close", onClientGone);
    }
    const logFields = { method: req.method, path, route: control.route || undefined, requested_route: f.route || undefined, route_changed: (r.ok && control.routeChanged) || undefined, ms: Date.now() - started, request_id: requestId };
    if (r.ok) {
      const short = sink.short;
      if (short) {
        log("error", short, { kind: "backend-protocol", ...logFields });
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
      if (config.accessLog) log("info", "request", { status: r.status, ...logFields });
      return;
    }
    body?.detach();
    if (r.error.kind === "client-aborted") {
      log("warn", r.error.message, { kind: "client-aborted", ...logFields });
      return;
    }
    fail(res, r.error, requestId, logFields);
  };

  // Headers that fit the largest AJP packet must get past Node's parser (default 16 KiB) so
  // the codec can judge them; whatever does not fit a member's packet is its 431.
  const maxHeaderSize = Math.max(16 * 1024, ...config.members.map((m) => m.packetSize + 4096));
  const server = createServer(
    {
      // Bodies are bounded by their rate (BodyReader), not by one total: a 1 GiB upload is fine.
      requestTimeout: 0,
      headersTimeout: limits.headerTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      // How often Node looks for connections past headersTimeout (its default is 30 s).
      connectionsCheckingInterval: Math.min(1000, Math.max(50, limits.headerTimeoutMs / 4)),
      maxHeaderSize,
    },
    (req, res) => {
      if ((req.socket as Socket & { [OVER_CAP]?: true })[OVER_CAP]) return void req.socket.destroy();
      handle(req, res).catch((e: unknown) => {
        const err = e instanceof OxError ? e : new OxError("internal", `internal error: ${(e as Error)?.stack ?? e}`);
        fail(res, err, "-", { path: req.url });
      });
    },
  );
  server.on("upgrade", (req: IncomingMessage, socket: Socket, head: Buffer) => {
    if ((socket as Socket & { [OVER_CAP]?: true })[OVER_CAP]) return void socket.destroy();
    upgrade(req, socket, head).catch((e: unknown) => upgradeAnswer(socket, new OxError("internal", `internal error: ${(e as Error)?.stack ?? e}`), "-", { path: req.url }));
  });
  let connections = 0;
  const refused = burstLogger(log, "warn", "connection refused: max_connections reached", 10_000);
  // Before Node's own listener, so a connection over the cap is answered before it is parsed.
  server.prependListener("connection", (socket: Socket & { [OVER_CAP]?: true }) => {
    if (connections >= limits.maxConnections) {
      socket[OVER_CAP] = true;
      socket.on("error", () => {});
      socket.end(OVER_CAP_ANSWER);
      refused({ max_connections: limits.maxConnections, peer: socket.remoteAddress });
      return;
    }
    connections++;
    socket.once("close", () => connections--);
  });
  const timedOut = burstLogger(log, "warn", "client sent no complete request headers in time", 10_000);
  const malformed = burstLogger(log, "warn", "malformed request from the edge", 10_000);
  server.on("clientError", (err: NodeJS.ErrnoException, socket) => {
    if (err.code === "ECONNRESET" || !socket.writable) {
      socket.destroy();
      return;
    }
    const kind: ErrorKind = err.code === "HPE_HEADER_OVERFLOW" ? "headers-too-large" : err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? "client-timeout" : "bad-request";
    socket.end(rawAnswer(kind));
    if (kind === "client-timeout") timedOut({ kind, header_timeout_ms: limits.headerTimeoutMs });
    else malformed({ kind, error: err.code ?? err.message });
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
