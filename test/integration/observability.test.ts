/**
 * What the bridge tells its operator (docs/observability.md): /metrics and
 * the per-member stats after a known sequence of requests, the access line's
 * fields, and member state changes logged once per transition.
 */
import { afterEach, describe, expect, it } from "vitest";
import { startDemoNode, type DemoNode } from "../../peers/demo-node.ts";
import { freePort } from "../../peers/ports.ts";
import { accountingAfterEach } from "../support/accounting.ts";
import { bridgeRequest, startTestBridge, type TestBridge } from "../support/bridge.ts";
import { until } from "../support/wait.ts";

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
// Registered after the cleanup so that it runs before it (after-hooks run in reverse order).
accountingAfterEach();

async function demo(route: string, port?: number): Promise<DemoNode> {
  const n = await startDemoNode({ route, port });
  cleanups.push(() => n.close());
  return n;
}

async function bridgeFor(...args: Parameters<typeof startTestBridge>): Promise<TestBridge> {
  const b = await startTestBridge(...args);
  cleanups.push(() => b.close());
  return b;
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The exposition text as samples; every non-comment line must parse. */
function parse(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? "").matchAll(/([a-z_]+)="([^"]*)"/g)) labels[k] = v;
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

/** The one sample with this name and these labels (others may exist); 0 if absent is not accepted. */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const hits = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v) && Object.keys(s.labels).length === Object.keys(labels).length);
  if (hits.length !== 1) throw new Error(`${hits.length} samples for ${name}${JSON.stringify(labels)}`);
  return hits[0].value;
}

async function scrape(b: TestBridge): Promise<Sample[]> {
  const r = await fetch(`${b.adminUrl}/metrics`);
  expect(r.status).toBe(200);
  expect(r.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  return parse(await r.text());
}

describe("metrics and member stats", () => {
  it("count a known sequence exactly: 7 × 200 and 3 × 404 on OX1, 2 bad signatures, 1 failover with a route change", async () => {
    const [ox1, ox2] = [await demo("OX1"), await demo("OX2")];
    const dead = await freePort();
    const b = await bridgeFor(
      [
        { route: "OX1", port: ox1.port, node: ox1 },
        { route: "OX2", port: ox2.port, node: ox2 },
        { route: "DEAD", port: dead },
      ],
      { balancer: { healthcheck: 0, retry: 60 }, admin_listen: "127.0.0.1:0" },
    );
    let ox1Out = 0;
    for (let i = 0; i < 7; i++) {
      const r = await bridgeRequest(b.url, { target: "/ajax/echo", route: "OX1" });
      expect([r.status, r.servedBy]).toEqual([200, "OX1"]);
      ox1Out += r.length;
    }
    for (let i = 0; i < 3; i++) {
      const r = await bridgeRequest(b.url, { target: "/ajax/status?code=404", route: "OX1" });
      expect([r.status, r.servedBy]).toEqual([404, "OX1"]);
      ox1Out += r.length;
    }
    for (let i = 0; i < 2; i++) expect((await bridgeRequest(b.url, { target: "/ajax/echo", secret: "not-the-bridge-secret-0123456789" })).status).toBe(401);
    // A session on the member that refuses connections: moved to a live one, which is a route change.
    const moved = await bridgeRequest(b.url, { target: "/ajax/echo", route: "DEAD" });
    expect(moved.status).toBe(200);
    const to = moved.servedBy!;
    expect(["OX1", "OX2"]).toContain(to);
    const other = to === "OX1" ? "OX2" : "OX1";
    if (to === "OX1") ox1Out += moved.length;
    await b.cluster.healthCheck();

    const m = await scrape(b);
    const ox1Count = to === "OX1" ? 11 : 10;
    expect(value(m, "oxedge_requests_total", { member: "OX1", class: "2xx" })).toBe(to === "OX1" ? 8 : 7);
    expect(value(m, "oxedge_requests_total", { member: "OX1", class: "4xx" })).toBe(3);
    expect(value(m, "oxedge_requests_total", { member: "OX2", class: "2xx" })).toBe(to === "OX2" ? 1 : 0);
    expect(value(m, "oxedge_requests_total", { member: "", class: "4xx" })).toBe(2);
    for (const c of ["1xx", "2xx", "3xx", "4xx", "5xx"]) expect(value(m, "oxedge_requests_total", { member: "DEAD", class: c })).toBe(0);
    expect(value(m, "oxedge_signature_rejections_total")).toBe(2);
    expect(value(m, "oxedge_failovers_total", { member: "DEAD" })).toBe(1);
    expect(value(m, "oxedge_failovers_total", { member: "OX1" })).toBe(0);
    expect(value(m, "oxedge_route_changes_total", { member: to })).toBe(1);
    expect(value(m, "oxedge_route_changes_total", { member: other })).toBe(0);
    expect(value(m, "oxedge_request_duration_seconds_count", { member: "OX1" })).toBe(ox1Count);
    expect(value(m, "oxedge_request_duration_seconds_bucket", { member: "OX1", le: "+Inf" })).toBe(ox1Count);
    expect(value(m, "oxedge_upstream_duration_seconds_count", { member: "OX1" })).toBe(ox1Count);
    // Cumulative buckets: never decreasing, and the upstream part is never longer than the whole.
    const buckets = m.filter((s) => s.name === "oxedge_request_duration_seconds_bucket" && s.labels.member === "OX1").map((s) => s.value);
    expect(buckets).toEqual([...buckets].sort((x, y) => x - y));
    expect(value(m, "oxedge_upstream_duration_seconds_sum", { member: "OX1" })).toBeLessThanOrEqual(value(m, "oxedge_request_duration_seconds_sum", { member: "OX1" }));
    expect(value(m, "oxedge_response_bytes_total", { member: "OX1" })).toBe(ox1Out);
    expect(value(m, "oxedge_request_bytes_total", { member: "OX1" })).toBe(0);
    expect(value(m, "oxedge_member_state", { member: "DEAD", state: "error" })).toBe(1);
    expect(value(m, "oxedge_member_state", { member: "DEAD", state: "ok" })).toBe(0);
    expect(value(m, "oxedge_member_state", { member: "OX1", state: "ok" })).toBe(1);
    expect(value(m, "oxedge_health_checks_total", { member: "OX1", result: "ok" })).toBe(1);
    expect(value(m, "oxedge_health_checks_total", { member: "DEAD", result: "connect-refused" })).toBe(1);
    expect(value(m, "oxedge_reloads_total", { result: "ok" })).toBe(0);
    const status = b.cluster.status().members;
    const [s1, , sDead] = status;
    expect(value(m, "oxedge_pool_idle", { member: "OX1" })).toBe(s1.pool.idle);
    expect(value(m, "oxedge_pool_busy", { member: "OX1" })).toBe(0);
    expect(value(m, "oxedge_pool_waiting", { member: "OX1" })).toBe(0);

    expect(s1.stats).toEqual({ requests: ox1Count, errors: 0, bytesIn: 0, bytesOut: ox1Out });
    expect(sDead.stats).toMatchObject({ requests: 0, errors: 0, bytesIn: 0, bytesOut: 0, lastError: { kind: "connect-refused" } });
    expect(sDead.stats.lastError!.message).toContain("ECONNREFUSED");
    expect(Math.abs(Date.parse(sDead.stats.lastError!.at) - Date.now())).toBeLessThan(10_000);
    // A second scrape reads the same totals: collect() replaces, never adds.
    expect(value(await scrape(b), "oxedge_requests_total", { member: "OX1", class: "4xx" })).toBe(3);
  });

  it("count a request the node cut short as the member's error, with lastError", async () => {
    const ox1 = await demo("OX1");
    const b = await bridgeFor([{ route: "OX1", port: ox1.port, node: ox1, timeout: 0.2 }], { balancer: { healthcheck: 0, fails: 0 } });
    expect((await bridgeRequest(b.url, { target: "/ajax/slow?ms=2000" })).status).toBe(504);
    expect((await bridgeRequest(b.url, { target: "/ajax/echo" })).status).toBe(200);
    const stats = b.cluster.status().members[0].stats;
    expect(stats).toMatchObject({ requests: 2, errors: 1, lastError: { kind: "backend-timeout" } });
  });
});

describe("access log", () => {
  it("writes one line per request with every field", async () => {
    const [ox1, ox2] = [await demo("OX1"), await demo("OX2")];
    const b = await bridgeFor([{ route: "OX1", port: ox1.port, node: ox1 }, { route: "OX2", port: ox2.port, node: ox2 }], { access_log: true, balancer: { healthcheck: 0 } });
    const upload = Buffer.alloc(12_345, 7);
    const ua = "Mozilla/5.0 (X11; Linux) oxedge-test";
    const post = await bridgeRequest(b.url, { method: "POST", target: "/ajax/upload-digest?session=secret", route: "OX1", clientIp: "198.51.100.23", body: upload, headers: { "user-agent": ua, "x-oxedge-request-id": "edge-req-1" } });
    expect(post.status).toBe(200);
    const down = await bridgeRequest(b.url, { target: "/ajax/download?size=100000", route: "OX9" });
    expect(down.length).toBe(100_000);
    const lines = b.records.filter((r) => r.msg === "request");
    expect(lines).toHaveLength(2);
    const [a, d] = lines;
    expect(a).toMatchObject({ level: "info", request_id: "edge-req-1", client: "198.51.100.23", method: "POST", path: "/ajax/upload-digest", status: 200, bytes_in: 12_345, bytes_out: post.length, route: "OX1", requested_route: "OX1", user_agent: ua });
    expect(a.route_changed).toBeUndefined();
    expect(typeof a.upstream_ms).toBe("number");
    expect(a.upstream_ms as number).toBeGreaterThanOrEqual(0);
    expect(a.upstream_ms as number).toBeLessThanOrEqual(a.ms as number);
    // The query may carry tokens: never in the line.
    expect(JSON.stringify(a)).not.toContain("secret");
    expect(d).toMatchObject({ method: "GET", path: "/ajax/download", status: 200, bytes_in: 0, bytes_out: 100_000, requested_route: "OX9", route_changed: true, client: "203.0.113.7" });
    expect(d.route).toBe(down.servedBy);
    expect(d.request_id).toMatch(/^b\d+-\d+$/);
  });

  it("has a line for a refused hand-off too, and none at all when off", async () => {
    const ox1 = await demo("OX1");
    const on = await bridgeFor([{ route: "OX1", port: ox1.port, node: ox1 }], { access_log: true, balancer: { healthcheck: 0 } });
    expect((await bridgeRequest(on.url, { target: "/ajax/echo", secret: "not-the-bridge-secret-0123456789" })).status).toBe(401);
    expect(on.records.filter((r) => r.msg === "request")).toMatchObject([{ status: 401, error: "bad-signature", method: "GET", path: "/ajax/echo", bytes_in: 0, bytes_out: 0 }]);
    const off = await bridgeFor([{ route: "OX1", port: ox1.port, node: ox1 }], { balancer: { healthcheck: 0 } });
    for (let i = 0; i < 3; i++) expect((await bridgeRequest(off.url, { target: "/ajax/echo" })).status).toBe(200);
    expect(off.records).toEqual([]);
  });

  it("hands the edge's request id to the node as X-Request-Id, unless the client sent one", async () => {
    const ox1 = await demo("OX1");
    const b = await bridgeFor([{ route: "OX1", port: ox1.port, node: ox1 }], { balancer: { healthcheck: 0 } });
    const seen = async (headers: Record<string, string>) => {
      // The demo node echoes the headers it got as a flat name, value… list.
      const h = (await bridgeRequest(b.url, { target: "/ajax/echo", headers })).json().headers as string[];
      return h.filter((_, i) => i % 2 === 1 && h[i - 1].toLowerCase() === "x-request-id");
    };
    expect(await seen({ "x-oxedge-request-id": "edge-42" })).toEqual(["edge-42"]);
    expect(await seen({ "x-oxedge-request-id": "edge-43", "X-Request-Id": "client-7" })).toEqual(["client-7"]);
  });
});

describe("member state changes", () => {
  it("a node refusing connections is logged down once over several health checks, then up once when it is back", async () => {
    const node = await demo("OX1");
    const port = node.port;
    await node.close();
    const b = await bridgeFor([{ route: "OX1", port }], { balancer: { healthcheck: 0.1, retry: 0.3 } });
    expect(await until(() => b.logged("member still down").length >= 5, 5000)).toBe(true);
    expect(b.records.filter((r) => r.msg === "member down")).toMatchObject([{ level: "warn", route: "OX1", cause: "connect-refused", why: expect.stringContaining("ECONNREFUSED") }]);
    const back = await demo("OX1", port);
    expect(await until(() => b.logged("member up").length === 1, 5000)).toBe(true);
    const up = b.records.find((r) => r.msg === "member up")!;
    expect(up).toMatchObject({ level: "info", route: "OX1", was: "connect-refused" });
    expect(up.down_ms as number).toBeGreaterThanOrEqual(500);
    // Three more rounds of health checks: nothing more to say.
    const checks = back.cpingsSeen();
    expect(await until(() => back.cpingsSeen() >= checks + 3, 3000)).toBe(true);
    expect(b.logged("member down")).toHaveLength(1);
    expect(b.logged("member up")).toHaveLength(1);
    expect((await bridgeRequest(b.url, { target: "/ajax/echo" })).status).toBe(200);
    expect(b.logged("member up")).toHaveLength(1);
  });

  it("a request that finds the node back logs it up (no health checks)", async () => {
    const node = await demo("OX1");
    const port = node.port;
    await node.close();
    const b = await bridgeFor([{ route: "OX1", port, connectiontimeout: 1 }], { balancer: { healthcheck: 0, retry: 60 } });
    // The only member: forced recovery retries it on each request; refused again is no news.
    for (let i = 0; i < 3; i++) expect((await bridgeRequest(b.url, { target: "/ajax/echo" })).status).toBe(503);
    expect(b.logged("member down")).toHaveLength(1);
    expect(b.logged("member still down")).toHaveLength(2);
    await demo("OX1", port);
    expect((await bridgeRequest(b.url, { target: "/ajax/echo" })).status).toBe(200);
    expect(b.records.filter((r) => r.msg === "member up")).toMatchObject([{ route: "OX1", was: "connect-refused" }]);
  });
});
