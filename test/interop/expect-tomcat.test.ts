/**
 * `Expect: 100-continue` uploads against real Tomcat 10: through the whole
 * chain (worker → bridge → AJP) and straight at the bridge, where Node's HTTP
 * server answers the expectation itself.
 */
import { randomBytes } from "node:crypto";
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkInteropPrereqs } from "../../peers/prereqs.ts";
import { startTomcatCluster, type TomcatEcho, type TomcatNode } from "../../peers/tomcat.ts";
import { bridgeRequest, handoffHeaders, sha256, startTestBridge, type TestBridge } from "../support/bridge.ts";
import { expectContinueRequest, startWorker, TEST_SECRET, type WorkerHandle } from "../../peers/miniflare.ts";
import { accountingAfterEach } from "../support/accounting.ts";

accountingAfterEach();

const prereqs = checkInteropPrereqs();
const HOST = "https://ox.example.com";
const CLIENT = "203.0.113.60";

interface UploadDigest {
  node: string;
  bodyLength: number;
  bodySha256: string;
}

/** Straight at the bridge, sending the body only once `100 Continue` came (bounded wait). */
async function bridgeUploadAfterContinue(bridgeUrl: string, target: string, body: Buffer): Promise<{ status: number; continued: boolean; text: string }> {
  const url = new URL(bridgeUrl);
  const headers = { ...(await handoffHeaders({ method: "POST", target, secret: TEST_SECRET })), expect: "100-continue", "content-length": String(body.length) };
  return new Promise((resolve, reject) => {
    let continued = false;
    const req = http.request({ host: url.hostname, port: url.port, method: "POST", path: target, headers, agent: false, timeout: 20_000 });
    const giveUp = setTimeout(() => req.destroy(new Error("no 100 Continue within 5 s")), 5000);
    req.on("continue", () => {
      continued = true;
      clearTimeout(giveUp);
      req.end(body);
    });
    req.on("timeout", () => req.destroy(new Error("no answer within 20 s")));
    req.on("error", (e) => {
      clearTimeout(giveUp);
      reject(e);
    });
    req.on("response", (res) => {
      clearTimeout(giveUp);
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", reject);
      res.on("end", () => resolve({ status: res.statusCode ?? 0, continued, text: Buffer.concat(chunks).toString("utf8") }));
    });
  });
}

describe.runIf(prereqs.ok)("Expect: 100-continue → real Tomcat 10", () => {
  let nodes: TomcatNode[];
  let bridge: TestBridge;
  let w: WorkerHandle;

  beforeAll(async () => {
    nodes = await startTomcatCluster(["OX1"]);
    bridge = await startTestBridge(
      nodes.map((n) => ({ route: n.route, port: n.ajpPort, node: n, secret: n.secret })),
      { balancer: { healthcheck: 0 } },
      TEST_SECRET,
    );
    w = await startWorker({ BRIDGE_URLS: bridge.url });
  });
  afterAll(async () => {
    await w?.dispose();
    await bridge?.close();
    await Promise.all((nodes ?? []).map((n) => n.stop()));
  });

  it("through the worker: the servlet digests exactly the bytes sent", async () => {
    const body = randomBytes(384 * 1024 + 3);
    const r = await expectContinueRequest(w, `${HOST}/ajax/upload-digest`, {
      headers: { "cf-connecting-ip": CLIENT, "content-type": "application/octet-stream" },
      body,
      continueWaitMs: 200,
    });
    expect(r.status, r.body.toString()).toBe(200);
    const d = JSON.parse(r.body.toString()) as UploadDigest;
    expect(d).toEqual({ node: "OX1", bodyLength: body.length, bodySha256: sha256(body) });
    expect(w.logs.filter((l) => l.includes("oxedge-worker error"))).toEqual([]);
  });

  it("through the worker: Tomcat does not see the client's Expect", async () => {
    const body = randomBytes(1000);
    const r = await expectContinueRequest(w, `${HOST}/ajax/echo`, { headers: { "cf-connecting-ip": CLIENT }, body, continueWaitMs: 0 });
    expect(r.status).toBe(200);
    const e = JSON.parse(r.body.toString()) as TomcatEcho;
    expect(e.headers.filter(([k]) => k.toLowerCase() === "expect")).toEqual([]);
    expect(e.bodySha256).toBe(sha256(body));
  });

  it("straight at the bridge, body sent at once: 200 and the right digest", async () => {
    const body = randomBytes(384 * 1024 + 3);
    const r = await bridgeRequest(bridge.url, { method: "POST", target: "/ajax/upload-digest", headers: { expect: "100-continue" }, body, secret: TEST_SECRET });
    expect(r.status, r.body.toString()).toBe(200);
    expect(r.json<UploadDigest>()).toEqual({ node: "OX1", bodyLength: body.length, bodySha256: sha256(body) });
  });

  it("straight at the bridge: the bridge answers the Expect itself, Tomcat does not see it", async () => {
    const body = randomBytes(1000);
    const r = await bridgeRequest(bridge.url, { method: "POST", target: "/ajax/echo", headers: { expect: "100-continue" }, body, secret: TEST_SECRET });
    expect(r.status).toBe(200);
    const e = r.json<TomcatEcho>();
    expect(e.headers.filter(([k]) => k.toLowerCase() === "expect")).toEqual([]);
    expect(e.bodySha256).toBe(sha256(body));
  });

  it("straight at the bridge, body sent after 100 Continue: 200 and the right digest", async () => {
    const body = randomBytes(384 * 1024 + 3);
    const r = await bridgeUploadAfterContinue(bridge.url, "/ajax/upload-digest", body);
    expect(r.continued).toBe(true);
    expect(r.status, r.text).toBe(200);
    expect(JSON.parse(r.text)).toEqual({ node: "OX1", bodyLength: body.length, bodySha256: sha256(body) });
  });
});
