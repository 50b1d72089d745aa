/**
 * The worker's request log line (worker/request-log.ts) in workerd, against
 * the stub bridge: one JSON line per request with the fields an operator
 * reads in `wrangler tail`, and none of the session ids a URL may carry.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWorker, type WorkerHandle } from "../../peers/miniflare.ts";
import { closedPort, startStubBridge, type StubBridge } from "../support/stub-bridge.ts";
import { TEST_SECRET } from "../../peers/miniflare.ts";
import type { RequestLine } from "../../worker/request-log.ts";
import { until } from "../support/wait.ts";

const HOST = "https://ox.example.com";
const CLIENT = "203.0.113.9";

let stub: StubBridge;
let dead: number;
let w: WorkerHandle;

beforeAll(async () => {
  stub = await startStubBridge({ secret: TEST_SECRET });
  dead = await closedPort();
  // The dead bridge takes all traffic while it is not skipped; the stub is the standby.
  w = await startWorker({ BRIDGE_URLS: `http://127.0.0.1:${dead} 1, ${stub.url} 0` });
});
afterAll(async () => {
  await w?.dispose();
  await stub?.close();
});

/** The request line with this request id, once workerd has written it. */
async function lineFor(res: Response): Promise<RequestLine> {
  const id = res.headers.get("x-request-id")!;
  expect(id).toMatch(/^[0-9a-f-]{36}$/);
  let found: RequestLine | undefined;
  const seen = await until(() => {
    for (const l of w.logs) {
      if (!l.startsWith("{")) continue;
      const j = JSON.parse(l) as RequestLine;
      if (j.request_id === id) found = j;
    }
    return found !== undefined;
  }, 5000);
  expect(seen, `no log line for ${id} in:\n${w.logs.join("\n")}`).toBe(true);
  return found!;
}

describe("worker request log line", () => {
  it("a failover to the standby: status, bridge, attempts, failed, node, route, colo, ms; no query, no session id, no client address", async () => {
    const started = Date.now();
    const r = await w.fetch(`${HOST}/ajax/x;jsessionid=secretid.OX2?session=oxsecret&action=all`, {
      headers: { "cf-connecting-ip": CLIENT, cookie: "JSESSIONID=cookiesecret.OX2" },
      cf: { colo: "FRA" },
    });
    expect(r.status).toBe(200);
    await r.arrayBuffer();
    const line = await lineFor(r);
    expect(line).toMatchObject({
      msg: "oxedge-worker request",
      method: "GET",
      path: "/ajax/x;jsessionid=(redacted)",
      status: 200,
      route: "OX2",
      node: "OX2",
      bridge: stub.url,
      attempts: 2,
      failed: [`http://127.0.0.1:${dead}`],
      colo: "FRA",
    });
    expect(line.kind).toBeUndefined();
    expect(Date.parse(line.time)).toBeGreaterThanOrEqual(started - 1000);
    expect(line.ms).toBeGreaterThanOrEqual(0);
    expect(line.ms).toBeLessThan(30_000);
    const text = JSON.stringify(line);
    for (const secret of ["secretid", "oxsecret", "cookiesecret", CLIENT, "action="]) expect(text).not.toContain(secret);
  });

  it("the next request goes straight to the standby (the dead bridge is skipped): one attempt", async () => {
    const r = await w.fetch(`${HOST}/ajax/y`, { headers: { "cf-connecting-ip": CLIENT } });
    expect(r.status).toBe(200);
    await r.arrayBuffer();
    const line = await lineFor(r);
    expect(line).toMatchObject({ path: "/ajax/y", status: 200, bridge: stub.url, attempts: 1, route: "" });
    expect(line.failed).toBeUndefined();
  });

  it("a refusal at the edge has the error kind and no bridge", async () => {
    const r = await w.fetch(`${HOST}/ajax/%2e%2e%2fx%00`, { headers: { "cf-connecting-ip": CLIENT } });
    expect(r.status).toBe(400);
    await r.arrayBuffer();
    const line = await lineFor(r);
    expect(line).toMatchObject({ status: 400, kind: "bad-path", method: "GET" });
    expect(line.bridge).toBeUndefined();
    expect(line.attempts).toBeUndefined();
  });

  it("a static asset is logged without bridge fields", async () => {
    const r = await w.fetch(`${HOST}/no-such-file.txt`, { headers: { "cf-connecting-ip": CLIENT } });
    await r.arrayBuffer();
    const line = await lineFor(r);
    expect(line).toMatchObject({ path: "/no-such-file.txt", status: r.status });
    expect(line.bridge).toBeUndefined();
  });
});
