import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { errorBody, OxError, statusOf, type ErrorKind } from "../common/errors.ts";
import { EDGE_HOP_HEADERS } from "../common/edge-headers.ts";
import { HANDOFF_HEADERS, type HandoffFields } from "../common/signing.ts";
import { applyState } from "./admin-state.ts";
import { BodyReader } from "./body-reader.ts";
import { Cluster } from "./cluster.ts";
import type { BridgeConfig } from "./config.ts";
import { reloadBridge, stopBridge, type ReloadResult, type StopResult } from "./lifecycle.ts";
import { maxHeaderSize as headSizeFor, type ReloadPlan } from "./reload-plan.ts";
import { ExchangeControl, type ProxyRequest } from "./exchange.ts";
import { HandoffVerifier } from "./handoff.ts";
import { connectionTokens, HOP_BY_HOP } from "./hop-by-hop.ts";
import { HttpSink } from "./http-sink.ts";
import { createMetrics, type Metrics } from "./metrics.ts";
import { BridgeTally } from "./tally.ts";
import { burstLogger, createLogger, type LogFields, type Logger } from "./log.ts";
import { PathPolicy, type PathAccepted } from "./path-policy.ts";

/**
 * The request headers a node sees: the client's, minus hop-by-hop, hand-off, Cloudflare Access and forwarding fields, with Host as the client saw it,
 * and X-Request-Id (the edge's request id) unless the client sent one (docs/observability.md, "Request ids").
 */
export function nodeHeaders(raw: readonly string[], f: HandoffFields, serverPort: number, connection: Set<string> | undefined, requestId: string): string[] {
  const out: string[] = ["Host", f.host];
  let hasId = false;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const lower = raw[i].toLowerCase();
    if (lower === "x-request-id") hasId = true;
    // Expect was answered here (Node sends the 100): passed on, the node would answer it again.
    // X-Forwarded-* are rebuilt below from the signed fields.
    if (lower === "host" || lower === "expect" || HOP_BY_HOP.has(lower) || lower.startsWith("x-oxedge-") || lower.startsWith("x-forwarded-") || EDGE_HOP_HEADERS.has(lower) || connection?.has(lower)) continue;
    out.push(raw[i], raw[i + 1]);
  }
  // What OX reads behind a proxy (considerXForwards, knownProxies), from what the edge signed;
  // over AJP the protocol carries these too, over HTTP only headers can.
  out.push("X-Forwarded-For", f.clientIp, "X-Forwarded-Proto", f.proto, "X-Forwarded-Host", f.host, "X-Forwarded-Port", String(serverPort));
  if (!hasId) out.push("X-Request-Id", requestId);
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
  /** Bridge-wide counts (the per-member ones are in cluster.status()). */
  tally: BridgeTally;
  /** What GET /metrics on the admin listener serves. */
  metrics: Metrics;
  url: string;
  /** The admin listener's URL, when admin_listen is set. */
  adminUrl: string | undefined;
  /** Stop at once: every connection cut, pools closed (tests; the process uses stop()). */
  close(): Promise<void>;
  /**
   * Graceful stop (SIGTERM): listeners closed, in-flight requests finish and
   * WebSockets go away (1001) within graceMs (default: lifecycle.grace),
   * then the rest is cut. A second call shortens the wait (0: at once) and
   * resolves with the same result.
   */
  stop(o?: { graceMs?: number; signal?: string }): Promise<StopResult>;
  /** Re-read the config file (SIGHUP, admin POST /reload); on any error the running config stays. */
  reload(): Promise<ReloadResult>;
  /** Reloads so far, for metrics. */
  readonly reloads: { ok: number; failed: number };
}

export interface StartOptions {
  /** The file reload() reads; without it reload() fails (a bridge started from an object). */
  configFile?: string;
  /** Where the file's secret_env names are looked up; process.env by default. */
  env?: NodeJS.ProcessEnv;
  /** After each successful reload (the admin state file re-applies its overrides here). */
  afterReload?: (cluster: Cluster) => void;
}

/** What the lifecycle (lifecycle.ts) needs of a bridge that createBridge made. */
export interface BridgeCore {
  server: Server;
  cluster: Cluster;
  tally: BridgeTally;
  config(): BridgeConfig;
  /** Requests whose answer is still being produced or sent. */
  requests(): number;
  /** Requests answered in full since start. */
  answered(): number;
  /** From now on every answer, and those still being produced, says Connection: close. */
  closing(): void;
  /** A reload's new config, for new requests (the plan from reload-plan.ts). */
  apply(next: BridgeConfig, plan: ReloadPlan): void;
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
  return `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nconnection: close\r\n${HANDOFF_HEADERS.error}: ${kind}\r\n${extra}content-length: 0\r\n\r\n`;
}
const OVER_CAP_ANSWER = rawAnswer("over-capacity", "retry-after: 1\r\n");

/** The path of a request target, without its query (which may carry tokens: never logged). */
function pathOf(url: string | undefined): string {
  const q = url?.indexOf("?") ?? -1;
  return q < 0 ? (url ?? "/") : url!.slice(0, q);
}

/** ms with 0.1 ms resolution, for log lines. */
function ms(t: number): number {
  return Math.round(t * 10) / 10;
}

export function createBridge(initial: BridgeConfig, log: Logger = createLogger(initial.logLevel)): BridgeCore {
  // Replaced by a reload (apply below); each request reads them as it goes.
  let config = initial;
  let limits = config.limits;
  let policy = new PathPolicy(config.paths);
  const cluster = new Cluster(config, log);
  const tally = new BridgeTally();
  const verifier = new HandoffVerifier(config.secret, config.signatureWindowS);
  let seq = 0;
  /** Answers being produced or sent: a stop sets Connection: close on those not yet started. */
  const inFlight = new Set<ServerResponse>();
  let answered = 0;
  let stopping = false;
  // One function for every response (no closure per request); `this` is the response.
  function requestClosed(this: ServerResponse): void {
    inFlight.delete(this);
    if (this.writableFinished) answered++;
  }

  const fail = (res: ServerResponse, err: OxError, requestId: string, fields: LogFields): void => {
    log(err.status >= 500 ? "error" : "warn", err.message, { kind: err.kind, status: err.status, request_id: requestId, ...fields });
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const headers: Record<string, string> = { "content-type": "text/plain; charset=utf-8", [HANDOFF_HEADERS.error]: err.kind, "cache-control": "no-store" };
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
    if (!auth.ok) tally.badSignatures++;
    if (!auth.ok) return { ok: false, requestId, error: new OxError("bad-signature", auth.reason), fields: { method: req.method, peer: req.socket.remoteAddress } };
    const f = auth.fields;
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    const rule = policy.judge(path, f.clientIp);
    if (!rule.ok) return { ok: false, requestId, error: new OxError(rule.kind, rule.reason), fields: { path, client: f.clientIp } };
    return { ok: true, requestId, f, path, query: q < 0 ? undefined : url.slice(q + 1), rule };
  };

  /**
   * Every request ends here, once (docs/observability.md): the member's
   * counts (or the bridge's, when no member ran it) and, with access_log,
   * its line. Nothing is allocated unless the line is written.
   */
  const ended = (req: IncomingMessage, control: ExchangeControl | undefined, f: HandoffFields | undefined, path: string, requestId: string, status: number, error: OxError | undefined, bytesIn: number, bytesOut: number, started: number): void => {
    const now = performance.now();
    const route = control === undefined ? "" : control.route;
    const t = cluster.tallyOf(route) ?? tally.unrouted;
    const upstream = control !== undefined && control.headAt > 0 ? control.headAt - started : -1;
    // A session served by another node than its cookie's route (moved, or its route unknown).
    const moved = f !== undefined && f.route !== "" && route !== "" && control!.routeChanged;
    if (moved) t.routeChanges++;
    t.ended(status, bytesIn, bytesOut, (now - started) / 1000, upstream < 0 ? -1 : upstream / 1000, error);
    if (!config.accessLog) return;
    log("info", "request", {
      request_id: requestId,
      client: f?.clientIp,
      peer: f === undefined ? req.socket.remoteAddress : undefined,
      method: req.method,
      path,
      status,
      bytes_in: bytesIn,
      bytes_out: bytesOut,
      upstream_ms: upstream < 0 ? undefined : ms(upstream),
      ms: ms(now - started),
      route: route || undefined,
      requested_route: f?.route || undefined,
      route_changed: moved || undefined,
      error: error?.kind,
      user_agent: req.headers["user-agent"],
    });
  };

  /** The fields of a failed request's error line: built only when one fails. */
  const errorFields = (req: IncomingMessage, control: ExchangeControl, f: HandoffFields, path: string, requestId: string, started: number): LogFields => ({
    method: req.method,
    path,
    route: control.route || undefined,
    requested_route: f.route || undefined,
    ms: ms(performance.now() - started),
    request_id: requestId,
  });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = performance.now();
    const a = admit(req);
    if (!a.ok) {
      // Answer, then drop the connection: an unauthenticated peer gets nothing kept for it.
      if (a.error.kind === "bad-signature") res.setHeader("connection", "close");
      fail(res, a.error, a.requestId, a.fields);
      return ended(req, undefined, undefined, pathOf(req.url), a.requestId, a.error.status, a.error, 0, 0, started);
    }
    await forward(req, res, a.f, a.path, a.query, a.requestId, a.rule, started);
  };

  /** The request as every transport sees it, from what the client sent and the edge signed. */
  const proxyRequest = (req: IncomingMessage, f: HandoffFields, path: string, query: string | undefined, rule: PathAccepted, body: BodyReader | null, contentLength: number | null, requestId: string): ProxyRequest => {
    const { name, port } = splitHost(f.host, f.proto === "https");
    return {
      method: req.method ?? "GET",
      httpVersion: req.httpVersion,
      path,
      query,
      headers: nodeHeaders(req.rawHeaders, f, port, connectionTokens(req.headers.connection), requestId),
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
    const started = performance.now();
    const control = new ExchangeControl();
    const onGone = () => control.abort(new OxError("client-aborted", "client went away during the upgrade"));
    socket.once("close", onGone);
    const preq = proxyRequest(req, f, path, query, rule, null, 0, requestId);
    const fields = { path, requested_route: f.route || undefined, request_id: requestId };
    const r = await cluster.upgrade(f.route, {
      req: preq,
      client: socket,
      head,
      relay: { idleMs: limits.websocketIdleMs, pingMs: limits.websocketPingMs },
      onEnd: (e) => {
        // The relayed bytes are the member's too, counted when the WebSocket ends.
        const t = cluster.tallyOf(control.route);
        if (t) {
          t.bytesIn += e.toNode;
          t.bytesOut += e.toClient;
        }
        const quiet = e.why === "client closed" || e.why === "node closed" || e.why === "going away";
        if (!quiet || config.accessLog) log(quiet ? "info" : "warn", "websocket closed", { ...fields, client: f.clientIp, route: control.route, why: e.why, to_node: e.toNode, to_client: e.toClient, ms: e.ms, user_agent: req.headers["user-agent"] });
      },
    }, control);
    socket.off("close", onGone);
    if (r.ok) {
      if (r.status === 101) cluster.tallyOf(control.route)!.websockets++;
      ended(req, control, f, path, requestId, r.status, undefined, 0, 0, started);
      return;
    }
    ended(req, control, f, path, requestId, r.error.kind === "client-aborted" ? 499 : r.error.status, r.error, 0, 0, started);
    if (r.error.kind === "client-aborted") return void log("warn", r.error.message, { kind: "client-aborted", ...fields });
    upgradeAnswer(socket, r.error, requestId, { ...fields, route: control.route || undefined });
  };

  const forward = async (req: IncomingMessage, res: ServerResponse, f: HandoffFields, path: string, query: string | undefined, requestId: string, rule: PathAccepted, started: number): Promise<void> => {
    const te = req.headers["transfer-encoding"];
    if (te !== undefined && te.toLowerCase() !== "chunked") {
      const err = new OxError("bad-request", `unsupported transfer-encoding ${te}`);
      fail(res, err, requestId, { path });
      return ended(req, undefined, f, path, requestId, err.status, err, 0, 0, started);
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
    const preq = proxyRequest(req, f, path, query, rule, body, contentLength, requestId);
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
    const bytesIn = body === null ? 0 : body.received;
    if (r.ok) {
      const short = sink.short;
      if (short) {
        log("error", short, { kind: "backend-protocol", ...errorFields(req, control, f, path, requestId, started) });
        res.destroy();
        return ended(req, control, f, path, requestId, r.status, new OxError("backend-protocol", short), bytesIn, sink.written, started);
      }
      if (body && !body.done) {
        // The node answered without reading the whole upload: drop the rest rather than read it,
        // but only once the answer has left (destroying earlier could cut it short).
        body.detach();
        res.once("finish", () => req.destroy());
      }
      res.end();
      return ended(req, control, f, path, requestId, r.status, undefined, bytesIn, sink.written, started);
    }
    body?.detach();
    if (r.error.kind === "client-aborted") {
      log("warn", r.error.message, { kind: "client-aborted", ...errorFields(req, control, f, path, requestId, started) });
      return ended(req, control, f, path, requestId, 499, r.error, bytesIn, sink.written, started);
    }
    // Cut short after the node's head went out: the client saw the node's status.
    const status = res.headersSent ? res.statusCode : r.error.status;
    fail(res, r.error, requestId, errorFields(req, control, f, path, requestId, started));
    ended(req, control, f, path, requestId, status, r.error, bytesIn, sink.written, started);
  };

  // Headers that fit the largest AJP packet must get past Node's parser (default 16 KiB) so
  // the codec can judge them; whatever does not fit a member's packet is its 431.
  const maxHeaderSize = headSizeFor(config);
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
      inFlight.add(res);
      res.on("close", requestClosed);
      if (stopping) res.setHeader("connection", "close");
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
  return {
    server,
    cluster,
    tally,
    config: () => config,
    requests: () => inFlight.size,
    answered: () => answered,
    closing: () => {
      stopping = true;
      for (const res of inFlight) if (!res.headersSent) res.setHeader("connection", "close");
    },
    apply: (next, plan) => {
      cluster.reconfigure(next, plan);
      if (next.secret !== config.secret || next.signatureWindowS !== config.signatureWindowS) verifier.rekey(next.secret, next.signatureWindowS);
      policy = new PathPolicy(next.paths);
      limits = next.limits;
      server.headersTimeout = limits.headerTimeoutMs;
      server.keepAliveTimeout = limits.keepAliveTimeoutMs;
      config = next;
    },
  };
}

/** Start listening (and the admin listener, if configured). */
export async function startBridge(config: BridgeConfig, log: Logger = createLogger(config.logLevel), o: StartOptions = {}): Promise<Bridge> {
  const core = createBridge(config, log);
  const { server, cluster, tally } = core;
  // Read at each scrape, so a reload that replaces the cluster, or counts reloads, is seen.
  const metrics = createMetrics({ cluster: () => bridge.cluster, tally, reloads: () => bridge.reloads });
  // Admin changes kept from an earlier run go on top of the config file before the first request.
  applyState(cluster, log);
  const url = await listen(server, config.listenPort, config.listenHost);
  let admin: Server | undefined;
  let adminUrl: string | undefined;
  const reloads = { ok: 0, failed: 0 };
  // One reload at a time: a second SIGHUP while one runs waits its turn.
  let reloading: Promise<ReloadResult> = Promise.resolve({ ok: true, changes: [] });
  let stopped: { promise: Promise<StopResult>; hurry(graceMs: number, signal?: string): void } | undefined;
  const reload = (): Promise<ReloadResult> =>
    (reloading = reloading.then(async () => {
      const r: ReloadResult = stopped
        ? { ok: false, errors: ["the bridge is stopping"] }
        : o.configFile === undefined
          ? { ok: false, errors: ["no config file to read: this bridge was started from a config object"] }
          : reloadBridge(core, o.configFile, o.env ?? process.env, log, (c) => {
              // The members were rebuilt from the file: the admin's overrides go on top again.
              applyState(c, log);
              o.afterReload?.(c);
            });
      if (r.ok) reloads.ok++;
      else reloads.failed++;
      return r;
    }));
  if (config.admin) {
    // Loaded only when configured: Hono's Request and Response wake Node's own fetch, ~7 MiB of
    // resident memory a bridge without an admin listener does not need to carry.
    const { createAdmin } = await import("./admin.ts");
    admin = createAdmin(cluster, { ...config.admin, metrics, reload }, log);
    try {
      adminUrl = await listen(admin, config.admin.port, config.admin.host);
    } catch (e) {
      server.close();
      cluster.close();
      throw e;
    }
  }
  const stop = (s: { graceMs?: number; signal?: string } = {}): Promise<StopResult> => {
    if (stopped) {
      stopped.hurry(s.graceMs ?? 0, s.signal);
      return stopped.promise;
    }
    stopped = stopBridge(core, admin, s.graceMs ?? core.config().lifecycle.graceMs, log, s.signal);
    return stopped.promise;
  };
  const bridge: Bridge = {
    server,
    cluster,
    tally,
    metrics,
    url,
    adminUrl,
    reloads,
    reload,
    stop,
    close: async () => {
      await stop({ graceMs: 0 });
    },
  };
  return bridge;
}
