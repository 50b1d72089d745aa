/**
 * One load measurement with autocannon: keep-alive connections, a fixed
 * duration, every request signed afresh when the target is a bridge.
 *
 * Latency is recorded here from each response rather than taken from
 * autocannon's histogram: that one stores whole milliseconds, too coarse for
 * a target of "p99 adds at most 1 ms".
 */
import { createRequire } from "node:module";
import autocannon, { type Request } from "autocannon";
import { signedHeadersSync } from "./sign-sync.ts";

const require = createRequire(import.meta.url);

// Tomcat's HTTP connector closes a keep-alive connection after
// maxKeepAliveRequests (100) with "Connection: close". autocannon ignores
// that: it writes the next request onto the closing socket (for a 1 MiB
// upload that is a reset, counted as an error), and after reconnecting it
// keeps the lost request in its queue, so every later response on that
// client is timed from the previous request's start (about double the real
// latency). Here a client waits for the close instead, and a reconnect starts
// with an empty queue and a fresh parser.
interface AcClient {
  conn?: unknown;
  pipelinedRequests: { clear(): void; serverClosing?: boolean };
  parser: { initialize(type: string): void };
  _connect(): void;
  _doRequest(): void;
}
const Client = require("autocannon/lib/httpClient.js") as { prototype: AcClient };
const Queue = require("autocannon/lib/pipelinedRequestsQueue.js") as {
  prototype: { setHeaders(h: { shouldKeepAlive?: boolean }): void; addBody(data: Buffer): void; serverClosing?: boolean };
};
const setHeaders = Queue.prototype.setHeaders;
Queue.prototype.setHeaders = function setHeadersNoteClose(this: { serverClosing?: boolean }, h: { shouldKeepAlive?: boolean }): void {
  setHeaders.call(this, h);
  if (h && h.shouldKeepAlive === false) this.serverClosing = true;
};
const doRequest = Client.prototype._doRequest;
Client.prototype._doRequest = function doRequestUnlessClosing(this: AcClient): void {
  if (this.pipelinedRequests.serverClosing) return; // the 'end' that follows reconnects
  doRequest.call(this);
};
const connect = Client.prototype._connect;
Client.prototype._connect = function connectClean(this: AcClient): void {
  if (this.conn) {
    this.pipelinedRequests.clear();
    this.pipelinedRequests.serverClosing = false;
    this.parser.initialize("RESPONSE");
  }
  connect.call(this);
};

// autocannon appends every response body chunk to a string (`body += chunk`),
// i.e. it UTF-8-decodes each 1 MiB download in the client. That alone would
// use most of a core at a few hundred responses per second and make the
// client, not the proxy, the bottleneck. Nothing here reads bodies, so the
// queue keeps none; byte counts and statuses are unaffected.
Queue.prototype.addBody = function addBody(): void {};

export interface LoadSpec {
  /** Origins (http://127.0.0.1:PORT); connections are spread evenly over them. */
  urls: string[];
  method: "GET" | "POST";
  /** Path plus query. */
  path: string;
  body?: Buffer;
  headers?: Record<string, string>;
  /**
   * Sign every request (fresh nonce and timestamp each). The signature is
   * computed for every target so the client does the same work everywhere,
   * but only sent when `attach` is set (the bridge): other targets would only
   * pass the extra headers on and echo them back.
   */
  sign: { secret: string; attach: boolean };
  connections: number;
  durationS: number;
  /** A 2xx response shorter than this many bytes (headers included) counts as short. */
  minResponseBytes?: number;
}

export interface LoadResult {
  /** Completed 2xx responses. */
  requests: number;
  durationS: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  maxMs: number;
  /** Connection errors and timeouts (autocannon counts both as errors). */
  errors: number;
  non2xx: number;
  /** 2xx responses shorter than minResponseBytes. */
  short: number;
  statusCounts: Record<string, number>;
  /** Response bytes received, headers included. */
  bytes: number;
}

/** A result with its latency samples (ms, sorted), so that rounds can be merged exactly. */
export interface LoadRun {
  result: LoadResult;
  samples: Float64Array;
}

class Samples {
  private buf = new Float64Array(1 << 16);
  length = 0;
  push(v: number): void {
    if (this.length === this.buf.length) {
      const next = new Float64Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.length++] = v;
  }
  sorted(): Float64Array {
    return this.buf.slice(0, this.length).sort();
  }
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  return (await runLoadWithSamples(spec)).result;
}

export async function runLoadWithSamples(spec: LoadSpec): Promise<LoadRun> {
  const request: Request = { method: spec.method, path: spec.path, headers: spec.headers ?? {} };
  if (spec.body) request.body = spec.body;
  const { secret, attach } = spec.sign;
  // setupRequest also makes autocannon rebuild the request bytes each time, for every target alike.
  request.setupRequest = (req) => {
    const signed = signedHeadersSync(secret, { method: spec.method, target: spec.path });
    if (attach) req.headers = { ...req.headers, ...signed };
    return req;
  };
  const latencies = new Samples();
  const statusCounts: Record<string, number> = {};
  let ok = 0;
  let non2xx = 0;
  let short = 0;
  let bytes = 0;
  const started = process.hrtime.bigint();
  const instance = autocannon({
    url: spec.urls,
    connections: spec.connections,
    duration: spec.durationS,
    timeout: 30,
    requests: [request],
  });
  instance.on("response", (_client: unknown, status: number, resBytes: number, responseTimeMs: number) => {
    statusCounts[status] = (statusCounts[status] ?? 0) + 1;
    bytes += resBytes;
    if (status < 200 || status > 299) {
      non2xx++;
      return;
    }
    if (spec.minResponseBytes !== undefined && resBytes < spec.minResponseBytes) short++;
    ok++;
    latencies.push(responseTimeMs);
  });
  const result = await instance;
  const elapsedS = Number(process.hrtime.bigint() - started) / 1e9;
  const sorted = latencies.sorted();
  let sum = 0;
  for (const v of sorted) sum += v;
  // autocannon's duration ends at its stop tick; responses counted above all fall inside it.
  const durationS = result.duration > 0 ? result.duration : elapsedS;
  const loadResult: LoadResult = {
    requests: ok,
    durationS,
    rps: ok / durationS,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    meanMs: sorted.length ? sum / sorted.length : NaN,
    maxMs: sorted.length ? sorted[sorted.length - 1] : NaN,
    errors: result.errors,
    non2xx,
    short,
    statusCounts,
    bytes,
  };
  return { result: loadResult, samples: sorted };
}

/** Several runs of the same load as one: counts and durations add up, percentiles are over all samples. */
export function mergeRuns(runs: LoadRun[]): LoadRun {
  const total = runs.reduce((n, r) => n + r.samples.length, 0);
  const samples = new Float64Array(total);
  let at = 0;
  for (const r of runs) {
    samples.set(r.samples, at);
    at += r.samples.length;
  }
  samples.sort();
  const sum = (f: (r: LoadResult) => number) => runs.reduce((n, r) => n + f(r.result), 0);
  const statusCounts: Record<string, number> = {};
  for (const r of runs) for (const [k, v] of Object.entries(r.result.statusCounts)) statusCounts[k] = (statusCounts[k] ?? 0) + v;
  const requests = sum((r) => r.requests);
  const durationS = sum((r) => r.durationS);
  let latencySum = 0;
  for (const v of samples) latencySum += v;
  return {
    samples,
    result: {
      requests,
      durationS,
      rps: durationS > 0 ? requests / durationS : 0,
      p50Ms: percentile(samples, 50),
      p99Ms: percentile(samples, 99),
      meanMs: total ? latencySum / total : NaN,
      maxMs: total ? samples[total - 1] : NaN,
      errors: sum((r) => r.errors),
      non2xx: sum((r) => r.non2xx),
      short: sum((r) => r.short),
      statusCounts,
      bytes: sum((r) => r.bytes),
    },
  };
}
