import { OxError } from "../../common/errors.ts";
import { AjpConnection, type ExchangeOutcome, type ResponseSink } from "../ajp/connection.ts";
import type { ForwardRequest } from "../ajp/forward-request.ts";
import { NodePool, type PoolOptions } from "../ajp/pool.ts";
import { connectCause, type ProbeFailure } from "../down-cause.ts";
import type { ExchangeControl, ProxyRequest, Transport, TransportStats } from "../exchange.ts";

export interface AjpMemberOptions extends PoolOptions {
  /** jvmRoute, sent as the AJP route attribute. */
  route: string;
  /** The connector's `secret`, if it requires one. */
  secret: string | undefined;
  /** Reply timeout unless the request brings its own. */
  timeoutMs: number;
}

function notSent(error: OxError): ExchangeOutcome {
  return { ok: false, error, requestSent: false, responseStarted: false };
}

/** A member reached over AJP13: its connection pool, the Forward Request and the CPing probe. */
export class AjpTransport implements Transport {
  readonly pool: NodePool;

  constructor(private readonly o: AjpMemberOptions) {
    this.pool = new NodePool(o);
  }

  async exchange(req: ProxyRequest, sink: ResponseSink, control: ExchangeControl): Promise<ExchangeOutcome> {
    let conn: AjpConnection;
    try {
      conn = await this.pool.acquire();
    } catch (e) {
      return notSent(e instanceof OxError ? e : new OxError("connect-failed", String(e)));
    }
    // The only place a leased connection goes back: release() keeps it only
    // if it is open and idle, which an exchange that failed never leaves it.
    try {
      // Gone while we waited for a connection: nothing was sent, the connection is still clean.
      if (control.aborted) return notSent(control.aborted);
      const ex = conn.forward(this.forwardRequest(req), req.body, req.contentLength, sink, req.replyTimeoutMs ?? this.o.timeoutMs);
      control.onAbort = ex.abort;
      return await ex.outcome;
    } finally {
      control.onAbort = undefined;
      this.pool.release(conn);
    }
  }

  private forwardRequest(req: ProxyRequest): ForwardRequest {
    return {
      method: req.method,
      protocol: `HTTP/${req.httpVersion}`,
      uri: req.path,
      remoteAddr: req.clientIp,
      remoteHost: req.clientIp,
      serverName: req.serverName,
      serverPort: req.serverPort,
      isSsl: req.https,
      headers: req.headers,
      queryString: req.query,
      route: this.o.route,
      secret: this.o.secret,
      remotePort: req.clientPort || undefined,
    };
  }

  async probe(timeoutMs: number): Promise<ProbeFailure | undefined> {
    let c: AjpConnection;
    try {
      c = await AjpConnection.connect({ host: this.o.host, port: this.o.port, connectTimeoutMs: timeoutMs, packetSize: this.o.packetSize });
    } catch (e) {
      return { cause: connectCause(e), message: (e as Error).message };
    }
    const ok = await c.cping(timeoutMs);
    c.destroy();
    return ok ? undefined : { cause: "no-cpong", message: `no CPong within ${timeoutMs} ms` };
  }

  stats(): TransportStats {
    return { ...this.pool.stats(), websockets: 0 };
  }

  close(): void {
    this.pool.close();
  }
}
