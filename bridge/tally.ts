import type { ErrorKind, OxError } from "../common/errors.ts";

/**
 * What the bridge counts per member, as plain numbers bumped where a request
 * ends: read by cluster.status() (the manager page) and by /metrics at
 * scrape time (bridge/metrics.ts). Counting here rather than in prom-client
 * keeps the request path free of label hashing and allocation: a prom-client
 * child still builds its label key and a value object on every observe.
 * docs/observability.md says what each count means.
 */

/** Upper bounds (s) of both latency histograms: a small GET is a few ms, an ActiveSync long poll up to 900 s. */
export const LATENCY_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900];

/** Failures that are the client's doing, not the member's: not counted as the member's errors. */
const CLIENT_SIDE: ReadonlySet<ErrorKind> = new Set(["client-aborted", "client-timeout"]);

/** One histogram's counts: per bucket (not cumulative; the last is above every bound), sum and count. */
export class Buckets {
  readonly counts = new Float64Array(LATENCY_BUCKETS.length + 1);
  sum = 0;
  count = 0;

  observe(seconds: number): void {
    let i = 0;
    while (i < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[i]) i++;
    this.counts[i]++;
    this.sum += seconds;
    this.count++;
  }
}

/** The per-member fields of cluster.status() that the manager page shows. */
export interface MemberStats {
  requests: number;
  errors: number;
  bytesIn: number;
  bytesOut: number;
  lastError?: { kind: string; message: string; at: string };
}

export class MemberTally {
  /** Requests that ended on this member, whatever their outcome. */
  requests = 0;
  /** Of those, the ones that failed on the bridge's or the node's side (not the client's). */
  errors = 0;
  bytesIn = 0;
  bytesOut = 0;
  /** Requests by status class: [0] = 1xx … [4] = 5xx (499 client-aborted counts as 4xx). */
  readonly classes = new Float64Array(5);
  /** Until the response ended. */
  readonly duration = new Buckets();
  /** Until the node's response head; requests that got none are not in it. */
  readonly upstream = new Buckets();
  /** Requests moved off this member because it could not be reached (nothing was sent). */
  failovers = 0;
  /** Requests this member served whose route named another member (or one that does not exist). */
  routeChanges = 0;
  /** WebSockets relayed to this member since start. */
  websockets = 0;
  /** Health-check results: "ok" or a DownCause, with their counts (a probe round is not the request path). */
  readonly health = new Map<string, number>();
  /** The last failure seen on this member: a request's error kind, or the cause it was found down for. */
  private lastKind = "";
  private lastMessage = "";
  private lastAt = 0;

  /**
   * A request ended: counted once, here. `upstreamS` < 0 when no response
   * head came from a node; `error` when it failed.
   */
  ended(status: number, bytesIn: number, bytesOut: number, totalS: number, upstreamS: number, error: OxError | undefined): void {
    this.requests++;
    this.bytesIn += bytesIn;
    this.bytesOut += bytesOut;
    const c = Math.trunc(status / 100) - 1;
    this.classes[c < 0 ? 0 : c > 4 ? 4 : c]++;
    this.duration.observe(totalS);
    if (upstreamS >= 0) this.upstream.observe(upstreamS);
    if (error && !CLIENT_SIDE.has(error.kind)) {
      this.errors++;
      this.failed(error.kind, error.message);
    }
  }

  /** A failure that is not the end of a request here (found down by a probe, a connect before failover): only lastError. */
  failed(kind: string, message: string): void {
    this.lastKind = kind;
    this.lastMessage = message;
    this.lastAt = Date.now();
  }

  healthResult(result: string): void {
    this.health.set(result, (this.health.get(result) ?? 0) + 1);
  }

  stats(): MemberStats {
    const s: MemberStats = { requests: this.requests, errors: this.errors, bytesIn: this.bytesIn, bytesOut: this.bytesOut };
    if (this.lastKind !== "") s.lastError = { kind: this.lastKind, message: this.lastMessage, at: new Date(this.lastAt).toISOString() };
    return s;
  }
}

/** What is counted for the bridge as a whole. */
export class BridgeTally {
  /** Requests answered without a member: refused signature or path, no usable member. */
  readonly unrouted = new MemberTally();
  /** Hand-offs refused with bad-signature (401). */
  badSignatures = 0;
}
