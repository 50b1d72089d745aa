import type { Readable } from "node:stream";
import type { Client, Dispatcher, Pool } from "undici";
import { OxError, type ErrorKind } from "../../common/errors.ts";
import { request } from "node:http";
import { HANDOFF_HEADERS } from "../../common/signing.ts";
import type { ExchangeControl, ExchangeOutcome, ProxyRequest, ResponseSink, Transport, TransportStats, UpgradeOutcome, UpgradeRequest } from "../exchange.ts";
import { connectCause, type ProbeFailure } from "../down-cause.ts";
import { connectionTokens, HOP_BY_HOP } from "../hop-by-hop.ts";
import { WebSocketRelay } from "../websocket/relay.ts";
import { Gate } from "./gate.ts";

export interface HttpMemberOptions {
  host: string;
  port: number;
  /** Connections at most, and exchanges at once. */
  max: number;
  /** Idle keep-alive connections are closed after this long (the node's own hint wins when shorter). */
  ttlMs: number;
  connectTimeoutMs: number;
  acquireMs: number;
  queue: number;
  /** Reply timeout unless the request brings its own: until the headers, and between body reads. */
  timeoutMs: number;
  probe: { method: string; path: string; timeoutMs: number };
}

/** Errors that mean no connection was made: nothing of the request can have reached the node. */
const NOT_CONNECTED = new Set(["UND_ERR_CONNECT_TIMEOUT", "ECONNREFUSED", "ENOTFOUND", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN", "EADDRNOTAVAIL"]);

function kindOf(err: NodeJS.ErrnoException): ErrorKind {
  const code = err.code ?? "";
  if (code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT") return "backend-timeout";
  if (code.startsWith("HPE_") || code === "UND_ERR_RES_CONTENT_LENGTH_MISMATCH" || code === "UND_ERR_INFO" || code === "UND_ERR_RES_EXCEEDED_MAX_SIZE") return "backend-protocol";
  return "backend-aborted";
}

/** undici's header object as the flat name, value… list the sink takes; repeated headers stay separate. */
function flatHeaders(h: Record<string, string | string[] | undefined>): string[] {
  const out: string[] = [];
  for (const name in h) {
    const v = h[name];
    if (v === undefined) continue;
    if (typeof v === "string") out.push(name, v);
    else for (const one of v) out.push(name, one);
  }
  return out;
}

/**
 * A response head for the client's raw socket. Hop-by-hop headers go,
 * except those that make the upgrade (Connection, Upgrade); every answer
 * here ends with the connection, so it says so.
 */
function responseHead(status: number, reason: string, raw: string[], route: string, upgrade: boolean): string {
  let head = `HTTP/1.1 ${status} ${reason.replace(/[\r\n]/g, "")}\r\n`;
  const named = connectionTokens(raw.filter((_, i) => i % 2 === 1 && raw[i - 1].toLowerCase() === "connection").join(","));
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const lower = raw[i].toLowerCase();
    const keep = upgrade && (lower === "connection" || lower === "upgrade");
    if (!keep && (HOP_BY_HOP.has(lower) || named?.has(lower) || lower.startsWith("x-oxedge-"))) continue;
    head += `${raw[i]}: ${raw[i + 1]}\r\n`;
  }
  head += `${HANDOFF_HEADERS.servedBy}: ${route}\r\n`;
  if (!upgrade) head += "connection: close\r\n";
  return head + "\r\n";
}

function notSent(error: OxError): ExchangeOutcome {
  return { ok: false, error, requestSent: false, responseStarted: false };
}

/**
 * A member reached over HTTP/1.1 (OX App Suite's Grizzly listener): one
 * undici pool per member, one request per connection at a time, the
 * response streamed to the sink with undici's pause/resume as
 * back-pressure, and the request body streamed from the client's chunks.
 */
/**
 * undici is loaded on first use: a bridge with AJP members only never pays
 * for it (about 10 MiB of resident memory when loaded at start, measured).
 */
let undici: Promise<typeof import("undici")> | undefined;

export class HttpTransport implements Transport {
  private pool: Pool | undefined;
  private readonly ready: Promise<Pool>;
  private readonly gate: Gate;
  private readonly address: string;
  private prober: Client | undefined;
  private created = 0;
  private closed = false;
  private readonly relays = new Set<WebSocketRelay>();

  constructor(private readonly o: HttpMemberOptions) {
    const host = o.host.includes(":") ? `[${o.host}]` : o.host;
    this.address = `http://${host}:${o.port}`;
    this.gate = new Gate(o.max, o.queue, o.acquireMs, `${o.host}:${o.port}`);
    this.ready = (undici ??= import("undici")).then(({ Pool }) => {
      const pool = new Pool(this.address, {
        connections: o.max,
        pipelining: 1,
        keepAliveTimeout: o.ttlMs,
        keepAliveMaxTimeout: o.ttlMs,
        headersTimeout: o.timeoutMs,
        bodyTimeout: o.timeoutMs,
        connect: { timeout: o.connectTimeoutMs },
      });
      pool.on("connect", () => this.created++);
      if (this.closed) void pool.destroy();
      return (this.pool = pool);
    });
  }

  async exchange(req: ProxyRequest, sink: ResponseSink, control: ExchangeControl): Promise<ExchangeOutcome> {
    try {
      await this.gate.enter();
    } catch (e) {
      return notSent(e as OxError);
    }
    this.pool ?? (await this.ready);
    try {
      if (control.aborted) return notSent(control.aborted);
      return await this.dispatch(req, sink, control);
    } finally {
      this.gate.leave();
    }
  }

  private dispatch(req: ProxyRequest, sink: ResponseSink, control: ExchangeControl): Promise<ExchangeOutcome> {
    const pool = this.pool!;
    return new Promise<ExchangeOutcome>((settle) => {
      let sent = false;
      let started = false;
      let status = 0;
      let pausedForClient = false;
      let done = false;
      let ctl: Dispatcher.DispatchController | undefined;
      const finish = (o: ExchangeOutcome): void => {
        if (done) return;
        done = true;
        control.onAbort = undefined;
        settle(o);
      };
      const fail = (err: Error): void => {
        if (control.aborted) return finish({ ok: false, error: control.aborted, requestSent: sent, responseStarted: started });
        if (err instanceof OxError) return finish({ ok: false, error: err, requestSent: sent, responseStarted: started });
        const e = err as NodeJS.ErrnoException;
        if (!sent && NOT_CONNECTED.has(e.code ?? "")) return finish(notSent(new OxError("connect-failed", `connect to ${this.o.host}:${this.o.port} failed: ${e.code}`, { cause: e })));
        // The client's pace is not the node's fault.
        const kind = kindOf(e) === "backend-timeout" && pausedForClient ? "client-timeout" : kindOf(e);
        finish({ ok: false, error: new OxError(kind, `${e.code ?? "error"}: ${e.message}`, { cause: e }), requestSent: sent, responseStarted: started });
      };
      control.onAbort = (err) => {
        if (ctl) ctl.abort(err);
        else fail(err);
      };
      const handler: Dispatcher.DispatchHandler = {
        onRequestStart: (controller) => {
          ctl = controller;
          sent = true;
          if (done) controller.abort(control.aborted ?? new OxError("internal", "exchange already settled"));
        },
        onResponseStart: (controller, statusCode, headers) => {
          if (done) return;
          started = true;
          status = statusCode;
          try {
            sink.head(statusCode, flatHeaders(headers as Record<string, string | string[] | undefined>));
          } catch (e) {
            controller.abort(new OxError("backend-protocol", `response rejected: ${(e as Error).message}`));
          }
        },
        onResponseData: (controller, chunk) => {
          if (done) return;
          try {
            if (!sink.write(chunk) && !pausedForClient) {
              pausedForClient = true;
              controller.pause();
              sink.onDrain(() => {
                pausedForClient = false;
                if (!done) controller.resume();
              });
            }
          } catch (e) {
            controller.abort(new OxError("backend-protocol", `response rejected: ${(e as Error).message}`));
          }
        },
        onResponseEnd: () => finish({ ok: true, reuse: true, status }),
        onResponseError: (_controller, err) => fail(err),
      };
      const timeout = req.replyTimeoutMs ?? this.o.timeoutMs;
      pool.dispatch(
        {
          path: req.query === undefined ? req.path : `${req.path}?${req.query}`,
          method: req.method,
          headers: req.headers,
          // undici writes any async iterable with back-pressure; its types only name streams.
          body: req.body ? (req.body.chunks() as unknown as Readable) : null,
          headersTimeout: timeout,
          bodyTimeout: timeout,
        },
        handler,
      );
    });
  }

  async probe(): Promise<ProbeFailure | undefined> {
    const p = this.o.probe;
    const { Client } = await (undici ??= import("undici"));
    this.prober ??= new Client(this.address, { pipelining: 1, connect: { timeout: p.timeoutMs }, headersTimeout: p.timeoutMs, bodyTimeout: p.timeoutMs });
    try {
      // A connection of its own each time, closed after the answer (like the AJP probe's): a
      // probe finds a node that no longer accepts, and holds nothing between rounds.
      const r = await this.prober.request({ method: p.method as Dispatcher.HttpMethod, path: p.path, headers: { host: `${this.o.host}:${this.o.port}` }, reset: true });
      await r.body.dump();
      return r.statusCode >= 500 ? { cause: "bad-status", message: `${p.method} ${p.path} answered ${r.statusCode}` } : undefined;
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const message = `${p.method} ${p.path}: ${err.code ?? err.message}`;
      return { cause: NOT_CONNECTED.has(err.code ?? "") ? connectCause(err) : "no-answer", message };
    }
  }

  stats(): TransportStats {
    const s = this.pool?.stats;
    if (!s) return { open: 0, idle: 0, busy: 0, waiting: this.gate.waiting, created: 0, websockets: this.relays.size };
    return { open: s.connected, idle: s.free, busy: s.connected - s.free, waiting: this.gate.waiting, created: this.created, websockets: this.relays.size };
  }

  /**
   * A WebSocket on a connection of its own (a long-lived socket must not
   * hold one of the pool's `max`): the client's upgrade request goes to the
   * node as it came, with Host and X-Forwarded-* like any request; a 101
   * goes back to the client and from then on bytes are relayed; any other
   * answer is passed to the client as it is.
   */
  upgrade(u: UpgradeRequest, control: ExchangeControl): Promise<UpgradeOutcome> {
    const { req, client } = u;
    return new Promise<UpgradeOutcome>((settle) => {
      let connected = false;
      let done = false;
      const finish = (o: UpgradeOutcome): void => {
        if (done) return;
        done = true;
        control.onAbort = undefined;
        settle(o);
      };
      const up = request({
        host: this.o.host,
        port: this.o.port,
        method: req.method,
        path: req.query === undefined ? req.path : `${req.path}?${req.query}`,
        headers: req.headers.concat("Connection", "Upgrade", "Upgrade", "websocket"),
        agent: false,
        setHost: false,
      });
      up.setTimeout(req.replyTimeoutMs ?? this.o.timeoutMs, () => up.destroy(new OxError("backend-timeout", `no answer to the WebSocket upgrade within ${req.replyTimeoutMs ?? this.o.timeoutMs} ms`)));
      up.once("socket", (s) => s.once("connect", () => (connected = true)));
      control.onAbort = (err) => up.destroy(err);
      up.on("error", (e: NodeJS.ErrnoException) => {
        if (e instanceof OxError) return finish({ ok: false, error: control.aborted ?? e, requestSent: connected });
        if (!connected) return finish({ ok: false, error: new OxError("connect-failed", `connect to ${this.o.host}:${this.o.port} failed: ${e.code ?? e.message}`, { cause: e }), requestSent: false });
        finish({ ok: false, error: new OxError("backend-aborted", `WebSocket upgrade: ${e.code ?? e.message}`, { cause: e }), requestSent: true });
      });
      up.on("upgrade", (res, node, nodeHead) => {
        node.on("error", () => {});
        if (client.destroyed) {
          node.destroy();
          return finish({ ok: false, error: new OxError("client-aborted", "client went away during the upgrade"), requestSent: true });
        }
        client.write(responseHead(101, res.statusMessage ?? "Switching Protocols", res.rawHeaders, control.route, true));
        if (nodeHead.length > 0) client.write(nodeHead);
        if (u.head.length > 0) node.write(u.head);
        const relay = new WebSocketRelay(client, node, u.relay, (e) => {
          this.relays.delete(relay);
          u.onEnd(e);
        });
        this.relays.add(relay);
        finish({ ok: true, status: 101 });
      });
      up.on("response", (res) => {
        // No upgrade: the node's answer (a 400, a 403…) goes to the client as any answer would.
        client.write(responseHead(res.statusCode ?? 502, res.statusMessage ?? "", res.rawHeaders, control.route, false));
        res.pipe(client);
        finish({ ok: true, status: res.statusCode ?? 502 });
      });
      up.end();
    });
  }

  /** Close every WebSocket this member relays (its node was found down). */
  closeWebSockets(why: string): void {
    for (const r of [...this.relays]) r.end(why);
  }

  goAway(): void {
    for (const r of [...this.relays]) r.goAway();
  }

  close(): void {
    this.closed = true;
    this.closeWebSockets("bridge closing");
    void this.pool?.destroy();
    void this.prober?.destroy();
  }
}
