/**
 * HTTP/1.1 members (OX App Suite's Grizzly listener) behind the bridge,
 * against a Node HTTP server that plays the node: what reaches it (method,
 * target, Host, X-Forwarded-*, no hop-by-hop, bodies streamed), what comes
 * back (status, repeated headers, Content-Length kept, streamed bodies),
 * and every way an exchange fails, with the connection accounting checked
 * after each test like the AJP suites.
 */
import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { PassThrough } from "node:stream";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { accountingAfterEach } from "../support/accounting.ts";
import { bridgeRequest, sha256, startTestBridge, type TestBridge } from "../support/bridge.ts";
import { until } from "../support/wait.ts";
import { freePort } from "../../peers/ports.ts";

/** A Node HTTP server as an App Suite node: a few endpoints by last path segment, and its open sockets counted. */
interface HttpNode {
  route: string;
  port: number;
  seen: { method: string; url: string; headers: string[]; bodyLength: number; bodySha256: string }[];
  openConnections(): number;
  close(): Promise<void>;
}

async function startHttpNode(route: string): Promise<HttpNode> {
  const sockets = new Set<Socket>();
  const seen: HttpNode["seen"] = [];
  const server = http.createServer(async (req, res) => {
    const what = (req.url ?? "").split("?")[0].split("/").pop();
    const hash = createHash("sha256");
    let bodyLength = 0;
    if (what !== "ignore-body" && what !== "hang") {
      for await (const c of req) {
        bodyLength += c.length;
        hash.update(c);
      }
    }
    seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.rawHeaders, bodyLength, bodySha256: hash.digest("hex") });
    switch (what) {
      case "echo":
        res.setHeader("content-type", "application/json");
        return res.end(JSON.stringify({ node: route, ...seen[seen.length - 1] }));
      case "download": {
        const size = Number(new URL(req.url ?? "", "http://x").searchParams.get("size"));
        res.writeHead(200, { "content-length": String(size), "content-type": "application/octet-stream" });
        const block = Buffer.alloc(64 * 1024, 0x5a);
        let left = size;
        const pump = () => {
          while (left > 0) {
            const n = Math.min(left, block.length);
            left -= n;
            if (!res.write(n === block.length ? block : block.subarray(0, n))) return void res.once("drain", pump);
          }
          res.end();
        };
        return pump();
      }
      case "cookies":
        res.setHeader("set-cookie", [`JSESSIONID=abc.${route}; Path=/`, "open-xchange-secret-x=1; Path=/", "open-xchange-session-x=2; Path=/"]);
        return res.end("ok");
      case "hop":
        res.writeHead(200, { connection: "x-private, keep-alive", "x-private": "secret", "keep-alive": "timeout=5", "x-public": "yes", "content-length": "2" });
        return res.end("ok");
      case "status": {
        const code = Number(new URL(req.url ?? "", "http://x").searchParams.get("code"));
        res.writeHead(code, code === 304 || code === 204 ? {} : { "content-length": "4" });
        return res.end(code === 304 || code === 204 ? undefined : "body");
      }
      case "slow":
        return void setTimeout(() => !res.destroyed && res.end("late"), 3000);
      case "hang":
        return;
      case "reset":
        return req.socket.destroy();
      case "short":
        res.writeHead(200, { "content-length": "1000" });
        res.write("only a little");
        return void setTimeout(() => req.socket.destroy(), 20);
      case "ignore-body":
        res.writeHead(200, { "content-length": "2" });
        return res.end("ok");
      default:
        res.writeHead(404, { "content-length": "0" });
        return res.end();
    }
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    route,
    port: (server.address() as AddressInfo).port,
    seen,
    openConnections: () => sockets.size,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

function values(raw: string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i].toLowerCase() === name) out.push(raw[i + 1]);
  return out;
}

accountingAfterEach();

describe("HTTP members", () => {
  let ox1: HttpNode;
  let ox2: HttpNode;
  let b: TestBridge;
  beforeAll(async () => {
    [ox1, ox2] = await Promise.all([startHttpNode("OX1"), startHttpNode("OX2")]);
    b = await startTestBridge(
      [
        { route: "OX1", address: `http://127.0.0.1:${ox1.port}`, port: ox1.port, node: ox1, timeout: 1 },
        { route: "OX2", address: `http://127.0.0.1:${ox2.port}`, port: ox2.port, node: ox2, timeout: 1 },
      ],
      { balancer: { healthcheck: 0 } },
    );
  });
  afterAll(async () => {
    await b?.close();
    await Promise.all([ox1?.close(), ox2?.close()]);
  });
  afterEach(() => {
    ox1.seen.length = 0;
    ox2.seen.length = 0;
  });

  it.each(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND"])("%s reaches the node with its target, Host and X-Forwarded-* as the edge signed them", async (method) => {
    const body = method === "GET" || method === "OPTIONS" ? undefined : Buffer.from("x=1");
    const r = await bridgeRequest(b.url, { method, target: "/ajax/echo?action=all&folder=%2Fa%20b&x=1+2", route: "OX1", clientIp: "2001:db8::7", host: "ox.example.com", body, headers: { "x-forwarded-for": "10.6.6.6", connection: "x-drop", "x-drop": "1", "x-keep": "kept" } });
    expect(r.status).toBe(200);
    expect(r.servedBy).toBe("OX1");
    const e = r.json<HttpNode["seen"][number]>();
    expect(e.method).toBe(method);
    expect(e.url).toBe("/ajax/echo?action=all&folder=%2Fa%20b&x=1+2");
    expect(values(e.headers, "host")).toEqual(["ox.example.com"]);
    expect(values(e.headers, "x-forwarded-for")).toEqual(["2001:db8::7"]);
    expect(values(e.headers, "x-forwarded-proto")).toEqual(["https"]);
    expect(values(e.headers, "x-forwarded-host")).toEqual(["ox.example.com"]);
    expect(values(e.headers, "x-forwarded-port")).toEqual(["443"]);
    expect(values(e.headers, "x-keep")).toEqual(["kept"]);
    expect(values(e.headers, "x-drop")).toEqual([]);
    expect(e.headers.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase()).filter((n) => n.startsWith("x-oxedge"))).toEqual([]);
    expect(e.bodyLength).toBe(body?.length ?? 0);
  });

  it("repeated request headers stay separate", async () => {
    const r = await bridgeRequest(b.url, { target: "/ajax/echo", route: "OX1", headers: { "x-multi": ["a", "b"] } });
    expect(values(r.json<HttpNode["seen"][number]>().headers, "x-multi")).toEqual(["a", "b"]);
  });

  it.each([0, 1, 64 * 1024, 10 * 1024 * 1024])("a request body of %d bytes arrives intact", async (n) => {
    const body = randomBytes(n);
    const r = await bridgeRequest(b.url, { method: "POST", target: "/ajax/echo", route: "OX1", body });
    expect(r.json()).toMatchObject({ bodyLength: n, bodySha256: sha256(body) });
  });

  it("a chunked upload arrives intact", async () => {
    const src = new PassThrough();
    const p = bridgeRequest(b.url, { method: "POST", target: "/ajax/echo", route: "OX1", body: src });
    const parts = [randomBytes(10_000), randomBytes(70_000), randomBytes(3)];
    for (const part of parts) src.write(part);
    src.end();
    const r = await p;
    expect(r.json()).toMatchObject({ bodyLength: 80_003, bodySha256: sha256(Buffer.concat(parts)) });
  });

  it("streams a 50 MiB download and keeps the node's Content-Length", async () => {
    const size = 50 * 1024 * 1024;
    const r = await bridgeRequest(b.url, { target: `/ajax/download?size=${size}`, route: "OX1", keepBody: false });
    expect(r.status).toBe(200);
    expect(r.headers["content-length"]).toBe(String(size));
    expect(r.length).toBe(size);
    expect(r.aborted).toBe(false);
  });

  it("HEAD keeps Content-Length and sends no body", async () => {
    const r = await bridgeRequest(b.url, { method: "HEAD", target: "/ajax/download?size=12345", route: "OX1" });
    expect(r.status).toBe(200);
    expect(r.headers["content-length"]).toBe("12345");
    expect(r.length).toBe(0);
  });

  it.each([204, 304, 404, 500])("passes status %d through", async (code) => {
    const r = await bridgeRequest(b.url, { target: `/ajax/status?code=${code}`, route: "OX1" });
    expect(r.status).toBe(code);
    expect(r.body.toString()).toBe(code === 204 || code === 304 ? "" : "body");
  });

  it("several Set-Cookie headers reach the client separately", async () => {
    const r = await bridgeRequest(b.url, { target: "/ajax/cookies", route: "OX2" });
    expect(r.headers["set-cookie"]).toEqual(["JSESSIONID=abc.OX2; Path=/", "open-xchange-secret-x=1; Path=/", "open-xchange-session-x=2; Path=/"]);
  });

  it("hop-by-hop response headers, and those the node's Connection names, are removed", async () => {
    const r = await bridgeRequest(b.url, { target: "/ajax/hop", route: "OX1" });
    expect(r.headers["x-public"]).toBe("yes");
    expect(r.headers["x-private"]).toBeUndefined();
    expect(r.headers["keep-alive"]).not.toBe("timeout=5");
  });

  it("Expect: 100-continue is answered by the bridge and the body arrives", async () => {
    const body = randomBytes(200_000);
    const r = await bridgeRequest(b.url, { method: "POST", target: "/ajax/echo", route: "OX1", headers: { expect: "100-continue" }, body });
    expect(r.status).toBe(200);
    const e = r.json<HttpNode["seen"][number]>();
    expect(values(e.headers, "expect")).toEqual([]);
    expect(e.bodySha256).toBe(sha256(body));
  });

  it("a node slower than `timeout` is a 504 and stays in rotation", async () => {
    const r = await bridgeRequest(b.url, { target: "/ajax/slow", route: "OX1" });
    expect(r.status).toBe(504);
    expect(r.headers["x-oxedge-error"]).toBe("backend-timeout");
    expect(b.cluster.status().members[0].inError).toBe(false);
  });

  it("a node that resets before answering is a 502, never replayed on the other node", async () => {
    const before = ox2.seen.length;
    const r = await bridgeRequest(b.url, { method: "POST", target: "/ajax/reset", route: "OX1", body: Buffer.from("once") });
    expect(r.status).toBe(502);
    expect(r.headers["x-oxedge-error"]).toBe("backend-aborted");
    expect(ox2.seen.length).toBe(before);
  });

  it("a body cut short of its Content-Length aborts the client response", async () => {
    const r = await bridgeRequest(b.url, { target: "/ajax/short", route: "OX1" });
    expect(r.aborted).toBe(true);
  });

  it("a client that goes away mid-download aborts the node's response", async () => {
    const ac = new AbortController();
    await bridgeRequest(b.url, { target: `/ajax/download?size=${200 * 1024 * 1024}`, route: "OX1", keepBody: false, signal: ac.signal, onResponse: (res) => res.once("data", () => ac.abort()) }).catch(() => {});
    expect(await until(() => b.cluster.status().members[0].pool.busy === 0, 5000)).toBe(true);
    expect(b.logged("kind=client-aborted").length).toBeGreaterThanOrEqual(1);
  });

  it("the node's answer without reading the upload does not hang the bridge", async () => {
    const r = await bridgeRequest(b.url, { method: "POST", target: "/ajax/ignore-body", route: "OX1", body: randomBytes(2 * 1024 * 1024) });
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe("ok");
  });

  it("new sessions are spread by loadfactor (70/30) and a route is sticky", async () => {
    // A bridge of its own: the sticky requests above count against new sessions (byrequests).
    const b2 = await startTestBridge(
      [
        { route: "OX1", address: `http://127.0.0.1:${ox1.port}`, port: ox1.port, node: ox1, loadfactor: 70 },
        { route: "OX2", address: `http://127.0.0.1:${ox2.port}`, port: ox2.port, node: ox2, loadfactor: 30 },
      ],
      { balancer: { healthcheck: 0 } },
    );
    try {
      const served = new Map<string, number>();
      for (let i = 0; i < 20; i++) {
        const r = await bridgeRequest(b2.url, { target: "/ajax/echo" });
        served.set(r.servedBy!, (served.get(r.servedBy!) ?? 0) + 1);
      }
      expect(Object.fromEntries(served)).toEqual({ OX1: 14, OX2: 6 });
      for (let i = 0; i < 10; i++) expect((await bridgeRequest(b2.url, { target: "/ajax/echo", route: "OX2" })).servedBy).toBe("OX2");
    } finally {
      await b2.close();
    }
  });
});

describe("HTTP members: limits, failover and health", () => {
  it("a full pool and queue answer 503 pool-exhausted at once", async () => {
    const node = await startHttpNode("OX1");
    const b = await startTestBridge([{ route: "OX1", address: `http://127.0.0.1:${node.port}`, port: node.port, node, max: 1, queue: 0, timeout: 5 }], { balancer: { healthcheck: 0 } });
    try {
      const slow = bridgeRequest(b.url, { target: "/ajax/slow" });
      expect(await until(() => b.cluster.status().members[0].pool.busy === 1)).toBe(true);
      const r = await bridgeRequest(b.url, { target: "/ajax/echo" });
      expect(r.status).toBe(503);
      expect(r.headers["x-oxedge-error"]).toBe("pool-exhausted");
      expect((await slow).status).toBe(200);
    } finally {
      await b.close();
      await node.close();
    }
  });

  it("a refused connect fails over to the other member and marks the node down", async () => {
    const ox2 = await startHttpNode("OX2");
    const dead = await freePort();
    const b = await startTestBridge(
      [
        { route: "OX1", address: `http://127.0.0.1:${dead}`, port: dead },
        { route: "OX2", address: `http://127.0.0.1:${ox2.port}`, port: ox2.port, node: ox2 },
      ],
      { balancer: { healthcheck: 0 } },
    );
    try {
      const r = await bridgeRequest(b.url, { method: "POST", target: "/ajax/echo", route: "OX1", body: Buffer.from("moved") });
      expect(r.status).toBe(200);
      expect(r.servedBy).toBe("OX2");
      expect(b.cluster.status().members[0].inError).toBe(true);
      expect(b.logged("member down").length).toBe(1);
    } finally {
      await b.close();
      await ox2.close();
    }
  });

  it("the health request finds a node that stopped answering, and one that answers 5xx", async () => {
    const node = await startHttpNode("OX1");
    const ox2 = await startHttpNode("OX2");
    const b = await startTestBridge(
      [
        { route: "OX1", address: `http://127.0.0.1:${node.port}`, port: node.port, node, probe: "GET /ajax/hang", probe_timeout: 0.3 },
        { route: "OX2", address: `http://127.0.0.1:${ox2.port}`, port: ox2.port, node: ox2, probe: "GET /ajax/status?code=503" },
      ],
      { balancer: { healthcheck: 0 } },
    );
    try {
      await b.cluster.healthCheck();
      const [one, two] = b.cluster.status().members;
      expect(one.inError).toBe(true);
      expect(two.inError).toBe(true);
      expect(b.logged("health check: GET /ajax/hang").length).toBe(1);
      expect(b.logged("health check: GET /ajax/status?code=503 answered 503").length).toBe(1);
    } finally {
      await b.close();
      await node.close();
      await ox2.close();
    }
  });

  it("AJP-only options on an HTTP member, and HTTP-only ones on an AJP member, are config errors", async () => {
    await expect(startTestBridge([{ route: "OX1", address: "http://127.0.0.1:8009", port: 8009, packet_size: 65536 }])).rejects.toThrow(/members\[0\]\.packet_size = 65536: only AJP members have packet_size/);
    await expect(startTestBridge([{ route: "OX1", address: "127.0.0.1:8009", port: 8009, probe: "GET /" }])).rejects.toThrow(/members\[0\]\.probe = "GET \/": only HTTP members have probe/);
  });
});
