import { Counter, Gauge, Registry, type Metric } from "prom-client";
import type { Cluster } from "./cluster.ts";
import type { TransportStats } from "./exchange.ts";
import { LATENCY_BUCKETS, type BridgeTally, type Buckets, type MemberTally } from "./tally.ts";
import { MEMBER_STATES, memberState } from "./member-state.ts";

/**
 * The bridge's metrics in Prometheus' text format (docs/observability.md,
 * "Metrics"), for GET /metrics on the admin listener. One Registry per
 * bridge, never prom-client's global one: tests run many bridges in one
 * process, and a bridge's numbers are its own.
 *
 * Nothing here runs per request. Requests bump plain numbers (tally.ts);
 * each metric reads them in its collect(), at scrape time, so the request
 * path pays no label lookup, hashing or allocation for being measured.
 */

export interface MetricsSources {
  /** Read at each scrape: the bridge's cluster, whose members a reload replaces. */
  cluster(): Cluster;
  tally: BridgeTally;
  /** Reloads by outcome, as the bridge's lifecycle counts them. */
  reloads(): { readonly ok: number; readonly failed: number };
}

export interface Metrics {
  registry: Registry;
  /** The exposition text, and its content type. */
  text(): Promise<string>;
  readonly contentType: string;
}

const CLASSES = ["1xx", "2xx", "3xx", "4xx", "5xx"] as const;

/** Every tally with its member label; "" for requests no member ran. */
function* tallies(src: MetricsSources): Generator<[string, MemberTally]> {
  for (const [route, m] of src.cluster().members) yield [route, m.tally];
  yield ["", src.tally.unrouted];
}

/**
 * A histogram read from a tally's Buckets at scrape time. prom-client's own
 * Histogram can only be fed one observation at a time (with its label
 * hashing), so this is the one metric written by hand, in the value shape
 * its Registry formats (the `get()` result of prom-client's metrics).
 */
function tallyHistogram(registry: Registry, name: string, help: string, read: (t: MemberTally) => Buckets, src: MetricsSources): void {
  const metric = {
    name,
    help,
    type: "histogram" as const,
    aggregator: "sum" as const,
    reset: () => {},
    get: async () => {
      const values: { metricName: string; labels: Record<string, string | number>; value: number }[] = [];
      for (const [member, t] of tallies(src)) {
        const b = read(t);
        let below = 0;
        for (let i = 0; i < LATENCY_BUCKETS.length; i++) {
          below += b.counts[i];
          values.push({ metricName: `${name}_bucket`, labels: { member, le: LATENCY_BUCKETS[i] }, value: below });
        }
        values.push({ metricName: `${name}_bucket`, labels: { member, le: "+Inf" }, value: b.count });
        values.push({ metricName: `${name}_sum`, labels: { member }, value: b.sum });
        values.push({ metricName: `${name}_count`, labels: { member }, value: b.count });
      }
      return { name, help, type: metric.type, aggregator: metric.aggregator, values };
    },
  };
  registry.registerMetric(metric as unknown as Metric);
}

export function createMetrics(src: MetricsSources): Metrics {
  const registry = new Registry();
  const registers = [registry];

  /** A counter whose values are totals read at scrape time. */
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[], fill: (add: (labels: Record<L, string>, v: number) => void) => void): void => {
    new Counter<L>({
      name,
      help,
      labelNames,
      registers,
      collect() {
        this.reset();
        fill((labels, v) => this.inc(labels, v));
      },
    });
  };
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[], fill: (set: (labels: Record<L, string>, v: number) => void) => void): void => {
    new Gauge<L>({
      name,
      help,
      labelNames,
      registers,
      collect() {
        this.reset();
        fill((labels, v) => this.set(labels, v));
      },
    });
  };
  const perMember = (name: string, help: string, read: (t: MemberTally) => number, withUnrouted = false): void =>
    counter(name, help, ["member"], (add) => {
      for (const [member, t] of tallies(src)) if (member !== "" || withUnrouted) add({ member }, read(t));
    });

  counter("oxedge_requests_total", "Requests that ended, by the member that ran them (\"\" = none) and status class", ["member", "class"], (add) => {
    for (const [member, t] of tallies(src)) for (let i = 0; i < CLASSES.length; i++) add({ member, class: CLASSES[i] }, t.classes[i]);
  });
  perMember("oxedge_request_errors_total", "Requests that failed on the bridge's or the node's side (not the client's)", (t) => t.errors, true);
  tallyHistogram(registry, "oxedge_request_duration_seconds", "Time from the request's arrival to the end of its response", (t) => t.duration, src);
  tallyHistogram(registry, "oxedge_upstream_duration_seconds", "Time from the request's arrival to the node's response head", (t) => t.upstream, src);
  perMember("oxedge_request_bytes_total", "Request body bytes received from clients (WebSocket bytes towards the node included)", (t) => t.bytesIn);
  perMember("oxedge_response_bytes_total", "Response body bytes sent to clients (WebSocket bytes towards the client included)", (t) => t.bytesOut);
  perMember("oxedge_failovers_total", "Requests moved off this member because it could not be reached", (t) => t.failovers);
  perMember("oxedge_route_changes_total", "Requests this member served whose session route named another member", (t) => t.routeChanges);
  perMember("oxedge_websockets_total", "WebSockets relayed to this member", (t) => t.websockets);
  counter("oxedge_health_checks_total", "Health-check results: ok, or why the member was found down", ["member", "result"], (add) => {
    for (const [member, m] of src.cluster().members) for (const [result, n] of m.tally.health) add({ member, result }, n);
  });
  counter("oxedge_signature_rejections_total", "Hand-offs refused because of their signature (401 bad-signature)", [], (add) => add({}, src.tally.badSignatures));
  counter("oxedge_reloads_total", "Configuration reloads by result", ["result"], (add) => {
    const r = src.reloads();
    add({ result: "ok" }, r.ok);
    add({ result: "failed" }, r.failed);
  });

  gauge("oxedge_member_state", "1 for the member's current state, 0 for the others", ["member", "state"], (set) => {
    for (const v of src.cluster().balancer.snapshot(Date.now())) {
      const now = memberState(v);
      for (const state of MEMBER_STATES) set({ member: v.route, state }, state === now ? 1 : 0);
    }
  });
  const pool = (name: string, help: string, read: (p: TransportStats) => number): void =>
    gauge(name, help, ["member"], (set) => {
      for (const [member, m] of src.cluster().members) set({ member }, read(m.transport.stats()));
    });
  pool("oxedge_pool_busy", "Connections to the member running an exchange", (p) => p.busy);
  pool("oxedge_pool_idle", "Open connections to the member waiting for the next exchange", (p) => p.idle);
  pool("oxedge_pool_waiting", "Requests waiting for a free connection to the member", (p) => p.waiting);
  pool("oxedge_websockets_open", "WebSockets relayed to the member right now", (p) => p.websockets);

  return { registry, contentType: registry.contentType, text: () => registry.metrics() };
}
