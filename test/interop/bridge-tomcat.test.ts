/**
 * The bridge against real Apache Tomcat 10 AJP and HTTP connectors (secretRequired,
 * jvmRoute OX1/OX2), started by the test itself. This is the proof that our
 * AJP is the AJP real containers speak.
 */
import http from "node:http";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkInteropPrereqs } from "../../peers/prereqs.ts";
import { patternSha256, startTomcat, startTomcatCluster, type TomcatEcho, type TomcatNode } from "../../peers/tomcat.ts";
import { accountingAfterEach } from "../support/accounting.ts";
import { bridgeRequest, sessionCookie, sha256, startTestBridge, tomcatMember, type MemberKind, type TestBridge } from "../support/bridge.ts";
import { until } from "../support/wait.ts";

const prereqs = checkInteropPrereqs();

accountingAfterEach();


/**
 * The same list for both kinds of member: AJP13 to Tomcat's AJP connector
 * (the original OX guide) and HTTP/1.1 to its HTTP connector (OX App
 * Suite's Grizzly listener, which Tomcat's connector stands in for).
 */
describe.runIf(prereqs.ok).each<MemberKind>(["ajp", "http"])("bridge ↔ real Tomcat 10 over %s", (kind) => {
  let nodes: TomcatNode[];
  let bridge: TestBridge;
  const member = (n: TomcatNode, extra: Record<string, unknown> = {}) => tomcatMember(n, kind, extra);
  const connectionsOn = (n: TomcatNode) => (kind === "ajp" ? n.ajpConnectionCount() : n.httpConnectionCount());

  beforeAll(async () => {
    nodes = await startTomcatCluster(["OX1", "OX2"]);
    bridge = await startTestBridge(
      nodes.map((n) => member(n, { loadfactor: 50, max: 16 })),
      { balancer: { healthcheck: 0 } },
    );
  });
  afterAll(async () => {
    await bridge?.close();
    await Promise.all((nodes ?? []).map((n) => n.stop()));
  });

  const echo = async (o: Parameters<typeof bridgeRequest>[1]) => {
    const r = await bridgeRequest(bridge.url, o);
    expect(r.status, r.body.toString()).toBe(200);
    return { r, e: r.json<TomcatEcho>() };
  };

  it.each(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"])("%s reaches the servlet with that method", async (method) => {
    const { e } = await echo({ method, target: "/ajax/echo", body: method === "GET" ? undefined : Buffer.from("x") });
    expect(e.method).toBe(method);
  });

  it("HEAD gets the headers (with Content-Length) and no body", async () => {
    const n = 12345;
    const r = await bridgeRequest(bridge.url, { method: "HEAD", target: `/ajax/download?size=${n}` });
    expect(r.status).toBe(200);
    expect(r.headers["content-length"]).toBe(String(n));
    expect(r.length).toBe(0);
  });

  it("passes query strings with encoded characters unchanged", async () => {
    const q = "action=all&folder=%2Fa%20b%26c&name=%C3%A4%C3%B6%C3%BC&x=1+2";
    const { e } = await echo({ target: `/ajax/echo?${q}` });
    expect(e.queryString).toBe(q);
    expect(e.requestURI).toBe("/ajax/echo");
  });

  it("keeps repeated request headers", async () => {
    const { e } = await echo({ target: "/ajax/echo", headers: { "X-Dup": ["one", "two", "three"], Accept: "a/b" } });
    expect(e.headers.filter(([n]) => n.toLowerCase() === "x-dup").map(([, v]) => v)).toEqual(["one", "two", "three"]);
    expect(e.headers.find(([n]) => n.toLowerCase() === "accept")?.[1]).toBe("a/b");
  });

  it("tells the servlet the client's address, scheme, host and port", async () => {
    const { e } = await echo({ target: "/ajax/echo", clientIp: "203.0.113.9", clientPort: "40001", host: "ox.example.com", proto: "https" });
    // Over HTTP the address comes in X-Forwarded-For (Tomcat's RemoteIpValve, like OX's
    // knownProxies); no header carries the client's port.
    expect(e).toMatchObject({ remoteAddr: "203.0.113.9", ...(kind === "ajp" ? { remotePort: 40001 } : {}), isSecure: true, scheme: "https", serverName: "ox.example.com", serverPort: 443 });
    const { e: plain } = await echo({ target: "/ajax/echo", clientIp: "2001:db8::5", host: "mail.example.org:8080", proto: "http" });
    expect(plain).toMatchObject({ remoteAddr: "2001:db8::5", isSecure: false, scheme: "http", serverName: "mail.example.org", serverPort: 8080 });
  });

  it.each([0, 1, 8186, 8187, 65536, 10 << 20])("a request body of %i bytes arrives intact", async (n) => {
    const body = Buffer.alloc(n);
    for (let i = 0; i < n; i++) body[i] = (i * 13 + 5) & 0xff;
    const { e } = await echo({ method: "POST", target: "/ajax/echo", body });
    expect(e.bodyLength).toBe(n);
    expect(e.bodySha256).toBe(sha256(body));
    expect(e.contentLengthHeader).toBe(String(n));
  });

  it.each(["GET", "DELETE", "OPTIONS"])("a %s without a body reaches the servlet with no body (AJP: Content-Length: 0, so no body request when it reads its input)", async (method) => {
    // Over AJP, without it Tomcat takes the length as unknown and answers the servlet's first read
    // with a GET_BODY_CHUNK round trip to the bridge (AjpProcessor.refillReadBuffer); the echo
    // servlet reads. Over HTTP a request without the header has no body (RFC 9112), and undici
    // leaves it out.
    const { e } = await echo({ method, target: "/ajax/echo" });
    expect(e.method).toBe(method);
    expect(e.contentLengthHeader).toBe(kind === "ajp" ? "0" : null);
    expect(e.bodyLength).toBe(0);
  });

  it("streams a chunked upload (no Content-Length)", async () => {
    const src = new PassThrough();
    const parts = [Buffer.alloc(5000, 7), Buffer.alloc(20000, 8), Buffer.alloc(3, 9)];
    const p = bridgeRequest(bridge.url, { method: "PUT", target: "/ajax/echo", body: src });
    for (const part of parts) {
      src.write(part);
      await new Promise((r) => setTimeout(r, 10));
    }
    src.end();
    const r = await p;
    expect(r.status).toBe(200);
    const e = r.json<TomcatEcho>();
    expect(e.bodyLength).toBe(25003);
    expect(e.bodySha256).toBe(sha256(Buffer.concat(parts)));
    expect(e.contentLengthHeader).toBeNull();
  });

  it("streams a 50 MiB download; the node's Content-Length reaches the client unchanged", async () => {
    const n = 50 << 20;
    const r = await bridgeRequest(bridge.url, { target: `/ajax/download?size=${n}`, keepBody: false });
    expect(r.status).toBe(200);
    expect(r.headers["content-length"]).toBe(String(n));
    expect(r.aborted).toBe(false);
    expect(r.length).toBe(n);
    expect(r.sha256).toBe(patternSha256(n));
  });

  it("streams a chunked download (no length from the node)", async () => {
    const n = 3 << 20;
    const r = await bridgeRequest(bridge.url, { target: `/ajax/download?size=${n}&chunked=1`, keepBody: false });
    expect(r.headers["content-length"]).toBeUndefined();
    expect(r.headers["transfer-encoding"]).toBe("chunked");
    expect(r.sha256).toBe(patternSha256(n));
  });

  it.each([
    [204, ""],
    [304, ""],
    [404, "says 404"],
    [500, "says 500"],
  ])("status %i passes through with the node's own body", async (code, text) => {
    const r = await bridgeRequest(bridge.url, { target: `/ajax/status?code=${code}`, route: "OX1" });
    expect(r.status).toBe(code);
    if (text) expect(r.body.toString()).toBe(`node OX1 ${text}`);
    else expect(r.length).toBe(0);
  });

  it("keeps several Set-Cookie headers", async () => {
    const r = await bridgeRequest(bridge.url, { target: "/ajax/cookies" });
    expect(r.headers["set-cookie"]).toEqual(["a=1; Path=/", "b=2; Path=/; HttpOnly", "c=3; Path=/ajax; Secure; SameSite=Lax"]);
  });

  it("login gives a session id with the node's jvmRoute, and the session stays on that node", async () => {
    const routes = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const login = await bridgeRequest(bridge.url, { target: "/ajax/login" });
      const id = sessionCookie(login)!;
      expect(id).toMatch(/^[0-9A-F]+\.OX[12]$/);
      expect(login.headers["set-cookie"]!.length).toBe(3);
      const route = id.slice(id.indexOf(".") + 1);
      expect(login.servedBy).toBe(route);
      routes.add(route);
      for (let j = 0; j < 5; j++) {
        const r = await bridgeRequest(bridge.url, { target: "/ajax/session", route, headers: { cookie: `JSESSIONID=${id}` } });
        expect(r.json()).toMatchObject({ node: route, requestedSessionId: id, valid: true });
      }
    }
    expect(routes).toEqual(new Set(["OX1", "OX2"]));
  });

  it("a reply slower than `timeout` is a 504 within timeout + 1 s, and the node stays in rotation", async () => {
    const b = await startTestBridge([member(nodes[0], { timeout: 1 })], { balancer: { healthcheck: 0 } });
    try {
      const t0 = Date.now();
      const r = await bridgeRequest(b.url, { target: "/ajax/slow?ms=4000" });
      expect(r.status).toBe(504);
      expect(Date.now() - t0).toBeLessThan(2000);
      expect(b.cluster.status().members[0].inError).toBe(false);
      expect((await bridgeRequest(b.url, { target: "/ajax/echo" })).status).toBe(200);
    } finally {
      await b.close();
    }
  });

  it("pool exhaustion is a quick 503", async () => {
    const b = await startTestBridge([member(nodes[0], { max: 2, queue: 1, acquire: 0.3 })], { balancer: { healthcheck: 0 } });
    try {
      const slow = [1, 2, 3].map(() => bridgeRequest(b.url, { target: "/ajax/slow?ms=1500" }));
      await until(() => b.cluster.status().members[0].pool.waiting === 1);
      const t0 = Date.now();
      const r = await bridgeRequest(b.url, { target: "/ajax/echo" });
      expect(r.status).toBe(503);
      expect(r.headers["retry-after"]).toBeDefined();
      expect(Date.now() - t0).toBeLessThan(500);
      const statuses = (await Promise.all(slow)).map((s) => s.status).sort();
      // two are served, the one that queued gives up after `acquire`
      expect(statuses).toEqual([200, 200, 503]);
    } finally {
      await b.close();
    }
  });

  it("no connection leak after 1,000 requests with random client aborts (counted on the node)", async () => {
    const node = nodes[1];
    const max = 8;
    const b = await startTestBridge([member(node, { max })], { balancer: { healthcheck: 0 } });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    try {
      let seed = 42;
      const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
      let ok = 0;
      let aborted = 0;
      const one = async () => {
        const x = rand();
        const ac = new AbortController();
        if (x < 0.3) {
          // abort mid-download
          await bridgeRequest(b.url, { target: "/ajax/download?size=262144", keepBody: false, agent, signal: ac.signal, onResponse: (res) => res.once("data", () => ac.abort()) }).catch(() => {});
          aborted++;
        } else if (x < 0.5) {
          // abort while the node is still working
          setTimeout(() => ac.abort(), 1 + Math.floor(rand() * 10));
          await bridgeRequest(b.url, { target: "/ajax/slow?ms=20", agent, signal: ac.signal }).catch(() => {});
          aborted++;
        } else if (x < 0.6) {
          // abort mid-upload: the body never completes
          const src = new PassThrough();
          const p = bridgeRequest(b.url, { method: "POST", target: "/ajax/echo", headers: { "content-length": "100000" }, body: src, agent, signal: ac.signal }).catch(() => {});
          src.write(Buffer.alloc(10000, 1));
          setTimeout(() => ac.abort(), 5);
          await p;
          aborted++;
        } else {
          const r = await bridgeRequest(b.url, { target: "/ajax/echo", agent });
          if (r.status === 200) ok++;
        }
      };
      for (let i = 0; i < 1000; i += 16) await Promise.all(Array.from({ length: Math.min(16, 1000 - i) }, one));
      expect(ok).toBeGreaterThan(300);
      // Aborts that reached the bridge mid-exchange are logged as the client leaving; many land
      // before the request is read or after a fast Tomcat has sent everything (119 of 597 in one
      // run), so the floor only proves the case under test happened many times.
      expect(b.logged("kind=client-aborted").length).toBeGreaterThanOrEqual(50);
      expect(await until(() => b.cluster.status().members[0].pool.busy === 0)).toBe(true);
      // The node holds exactly the connections the pools keep idle, nothing more
      // (the suite's main bridge may hold some to this node too).
      const pooled = () => b.cluster.status().members[0].pool.idle + bridge.cluster.status().members.find((m) => m.route === node.route)!.pool.idle;
      expect(await until(async () => (await connectionsOn(node)) === pooled())).toBe(true);
      expect((await bridgeRequest(b.url, { target: "/ajax/echo" })).status).toBe(200);
    } finally {
      agent.destroy();
      await b.close();
    }
    expect(await until(async () => (await connectionsOn(node)) === bridge.cluster.status().members.find((m) => m.route === node.route)!.pool.open)).toBe(true);
  });
});

describe.runIf(prereqs.ok)("bridge ↔ real Tomcat 10: AJP only", () => {
  let nodes: TomcatNode[];
  beforeAll(async () => {
    nodes = await startTomcatCluster(["OX1"]);
  });
  afterAll(async () => {
    await Promise.all((nodes ?? []).map((n) => n.stop()));
  });

  it("a wrong AJP secret gives a clear 403 from Tomcat, not a hang", async () => {
    const wrong = await startTestBridge([{ route: "OX1", port: nodes[0].ajpPort, node: nodes[0], secret: "not-the-secret" }], { balancer: { healthcheck: 0 } });
    try {
      const t0 = Date.now();
      const r = await bridgeRequest(wrong.url, { target: "/ajax/echo" });
      expect(r.status).toBe(403);
      expect(Date.now() - t0).toBeLessThan(3000);
      // Tomcat ends a refused request with reuse=0: the pool must not keep that connection.
      expect(await until(() => wrong.cluster.status().members[0].pool.open === 0)).toBe(true);
    } finally {
      await wrong.close();
    }
  });
});

describe.runIf(prereqs.ok)("bridge ↔ real Tomcat 10 with 64 KiB AJP packets", () => {
  let node: TomcatNode;
  beforeAll(async () => {
    node = await startTomcat({ route: "OX3", secret: "oxedge-test-OX3", packetSize: 65536 });
  });
  afterAll(async () => {
    await node?.stop();
  });

  it("carries headers that do not fit 8 KiB, and large bodies, when both sides use packetSize 65536", async () => {
    const cookie = "big=" + "c".repeat(20_000);
    const big = await startTestBridge([{ route: "OX3", port: node.ajpPort, node, secret: node.secret, packet_size: 65536 }], { balancer: { healthcheck: 0 } });
    try {
      const body = Buffer.alloc(300_000, 5);
      const r = await bridgeRequest(big.url, { method: "POST", target: "/ajax/echo", headers: { cookie }, body });
      expect(r.status).toBe(200);
      const e = r.json<TomcatEcho>();
      expect(e.headers.find(([n]) => n.toLowerCase() === "cookie")?.[1]).toBe(cookie);
      expect(e.bodySha256).toBe(sha256(body));
      const n = 5 << 20;
      const d = await bridgeRequest(big.url, { target: `/ajax/download?size=${n}`, keepBody: false });
      expect(d.sha256).toBe(patternSha256(n));
    } finally {
      await big.close();
    }
    // the same request with the default 8 KiB packets is refused by the bridge itself, not sent malformed
    const small = await startTestBridge([{ route: "OX3", port: node.ajpPort, node, secret: node.secret }], { balancer: { healthcheck: 0 } });
    try {
      const r = await bridgeRequest(small.url, { target: "/ajax/echo", headers: { cookie } });
      expect(r.status).toBe(431);
      expect(r.headers["x-oxedge-error"]).toBe("headers-too-large");
    } finally {
      await small.close();
    }
  });
});
