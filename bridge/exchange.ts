import type { OxError } from "../common/errors.ts";
import type { ExchangeOutcome, ResponseSink } from "./ajp/connection.ts";
import type { BodyReader } from "./body-reader.ts";
import type { ProbeFailure } from "./down-cause.ts";

import type { Socket } from "node:net";
import type { RelayEnd, RelayOptions } from "./websocket/relay.ts";

export type { ExchangeOutcome, ResponseSink };

/** How a WebSocket upgrade went: relayed from now on (or answered by the node without one), or failed before anything reached the client. */
export type UpgradeOutcome =
  | { ok: true; status: number }
  | { ok: false; error: OxError; requestSent: boolean };

export interface UpgradeRequest {
  req: ProxyRequest;
  /** The client's socket and what it sent after its headers. */
  client: Socket;
  head: Buffer;
  relay: RelayOptions;
  /** Called once when a relayed WebSocket ends. */
  onEnd(e: RelayEnd): void;
}

/**
 * One client request as every transport sees it: what the HTTP side
 * accepted and the edge signed, before any member is chosen. A transport
 * turns it into its own wire form (an AJP Forward Request, an HTTP request).
 */
export interface ProxyRequest {
  method: string;
  httpVersion: string;
  /** Path only, still percent-encoded, no query. */
  path: string;
  query: string | undefined;
  /** What the node sees: the client's headers minus hop-by-hop and hand-off fields, Host first. */
  headers: string[];
  clientIp: string;
  clientPort: string;
  /** Host and port the client used at the edge. */
  serverName: string;
  serverPort: number;
  https: boolean;
  body: BodyReader | null;
  /** null = unknown (chunked upload). */
  contentLength: number | null;
  /** Longest wait for the node's next packet or byte; undefined = the member's own `timeout`. */
  replyTimeoutMs: number | undefined;
  /** Longest time for the whole exchange; 0 = none. */
  deadlineMs: number;
}

/**
 * The way to stop an exchange from outside (client gone, body too slow,
 * deadline): whoever runs the exchange installs `onAbort`; an abort that
 * comes before that is remembered and seen by `aborted`.
 */
export class ExchangeControl {
  aborted: OxError | undefined;
  /** The member the exchange runs on (set by the cluster before each attempt; "" = none chosen). */
  route = "";
  /** That member is not the one the client's route named (session moved or new). */
  routeChanged = false;
  /** performance.now() when the node's response head arrived; 0 = none yet (the access log's upstream time). */
  headAt = 0;
  private handler: ((err: OxError) => void) | undefined;

  abort(err: OxError): void {
    if (this.aborted) return;
    this.aborted = err;
    this.handler?.(err);
  }

  set onAbort(h: ((err: OxError) => void) | undefined) {
    this.handler = h;
  }
}

/** What a member's transport does; the cluster picks the member, the transport owns its connections. */
export interface Transport {
  /**
   * Lease a connection, run one exchange, give the connection back (or
   * destroy it): whatever path the exchange takes, nothing stays leased
   * when the promise settles. Never rejects; failures are outcomes.
   */
  exchange(req: ProxyRequest, sink: ResponseSink, control: ExchangeControl): Promise<ExchangeOutcome>;
  /** undefined when the node answered the probe, else why not. */
  probe(timeoutMs: number): Promise<ProbeFailure | undefined>;
  /** WebSocket upgrade and relay; absent when the protocol has none (AJP). Never rejects. */
  upgrade?(u: UpgradeRequest, control: ExchangeControl): Promise<UpgradeOutcome>;
  /** Close the WebSockets it relays (its node was found down). */
  closeWebSockets?(why: string): void;
  /** Close its WebSockets with 1001 Going Away, each between two frames (stop, or member removed by a reload). */
  goAway?(): void;
  stats(): TransportStats;
  close(): void;
}

export interface TransportStats {
  open: number;
  idle: number;
  busy: number;
  waiting: number;
  created: number;
  /** WebSockets relayed right now (each on a connection of its own, outside the pool). */
  websockets: number;
}
