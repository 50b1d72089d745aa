// The worker in workerd (Miniflare, harness (a)) against a stub bridge that
// verifies the hand-off signature.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { TEST_SECRET, startWorker, type WorkerHandle } from "../../peers/miniflare.ts";
import { closedPort, startStubBridge, type StubBridge } from "../support/stub-bridge.ts";

const HOST = "https://app.example.com";
const ALLOWED_V4 = "198.51.100.7";
const ALLOWED_V6 = "2001:db8::5";
const OUTSIDER = "203.0.113.9";
const PREFIXES = ["/ajax", "/servlet", "/infostore", "/publications", "/Microsoft-Server-ActiveSync", "/usm-json"];

interface Echo {
  node: string;
  method: string;
  target: string;
  route: string;
  headers: Record<string, string>;
  bodyLength: number;
  bodySha256: string;
}

let stub: StubBridge;
let w: WorkerHandle;

function get(path: string, headers: Record<string, string> = {}, init: RequestInit = {}) {
  return w.fetch(HOST + path, { ...init, headers: { "cf-connecting-ip": OUTSIDER, ...headers } });
}

beforeAll(async () => {
  stub = await startStubBridge({ secret: TEST_SECRET });
  w = await startWorker({ BRIDGE_URLS: stub.url, PROVISIONING_ALLOW: `${ALLOWED_V4},2001:db8::/32` });
});

afterAll(async () => {
  await w?.dispose();
  await stub?.close();
});

describe("HTTP → HTTPS", () => {
  it.each([
    ["GET", 301],
    ["HEAD", 301],
    ["POST", 308],
    ["PUT", 308],
    ["DELETE", 308],
  ])("%s is redirected with %d to the same host, path and query", async (method, status) => {
    const before = stub.requests.length;
    const r = await w.fetch("http://app.example.com/ajax/login?action=login&x=%20y", {
      method,
      body: method === "POST" || method === "PUT" ? "name=a" : undefined,
    });
    expect(r.status).toBe(status);
    expect(r.headers.get("location")).toBe("https://app.example.com/ajax/login?action=login&x=%20y");
    expect(r.headers.get("strict-transport-security")).toBeNull();
    expect(stub.requests.length).toBe(before);
  });

  it("keeps a non-default port", async () => {
    const r = await w.fetch("http://app.example.com:8080/index.html");
    expect(r.headers.get("location")).toBe("https://app.example.com:8080/index.html");
  });

  it("puts HSTS on https responses: static, proxied and errors", async () => {
    for (const p of ["/", "/ajax/x", "/ajax/%2fx"]) {
      const r = await get(p);
      await r.arrayBuffer();
      expect(r.headers.get("strict-transport-security"), p).toBe("max-age=31536000");
    }
  });
});

describe("static assets", () => {
  it("serves HTML with no-cache", async () => {
    const r = await get("/");
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toMatch(/text\/html/);
    expect(r.headers.get("cache-control")).toBe("no-cache");
    expect(await r.text()).toContain("oxedge demo");
  });

  it("serves fingerprinted assets as immutable for a year", async () => {
    const r = await get("/oxedge.3f9a1c2e.css");
    expect(r.status).toBe(200);
    expect(r.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    const expires = Date.parse(r.headers.get("expires") ?? "");
    expect(Math.abs(expires - (Date.now() + 31536000_000))).toBeLessThan(120_000);
    await r.arrayBuffer();
  });

  it("serves other assets with the moderate max-age", async () => {
    const r = await get("/demo.js");
    expect(r.status).toBe(200);
    expect(r.headers.get("cache-control")).toBe("public, max-age=3600");
    expect(r.headers.get("expires")).toBeTruthy();
    await r.arrayBuffer();
  });

  it("answers 404 for unknown static paths without asking the bridge", async () => {
    const before = stub.requests.length;
    const r = await get("/nope.txt");
    expect(r.status).toBe(404);
    await r.arrayBuffer();
    expect(stub.requests.length).toBe(before);
  });
});

describe("cluster paths", () => {
  it.each(PREFIXES)("%s reaches the bridge with the path and query unchanged", async (prefix) => {
    for (const p of [prefix, `${prefix}/`, `${prefix}/some/thing?a=1&b=%2F`]) {
      const r = await get(p);
      expect(r.status, p).toBe(200);
      const echo = (await r.json()) as Echo;
      expect(echo.target).toBe(p);
      expect(stub.requests.at(-1)?.signatureOk).toBe(true);
    }
  });

  it.each([
    "/ajaxfoo",
    "/AJAX/login",
    "/Ajax",
    "/servlets/x",
    "/foo/ajax/x",
    "/microsoft-server-activesync",
    "/usm-json2",
    "/index.html",
  ])("%s does not reach the bridge", async (p) => {
    const before = stub.requests.length;
    const r = await get(p);
    const body = await r.text();
    expect(body).not.toContain('"node"');
    expect(stub.requests.length).toBe(before);
  });

  it("forwards the canonical path, not the client's spelling", async () => {
    const r = await get("/ajax//%61pi/./x;foo=bar?q=1");
    expect(((await r.json()) as Echo).target).toBe("/ajax/api/x?q=1");
  });

  it("refuses undecidable paths with 400 bad-path", async () => {
    for (const p of ["/ajax/a%2fb", "/ajax/%5c", "/ajax/%00", "/ajax/a%3Bb", "/ajax/%C3", "/ajax/%zz"]) {
      const before = stub.requests.length;
      const r = await get(p);
      expect(r.status, p).toBe(400);
      expect(await r.text(), p).toMatch(/^400 bad-path\nrequest id: [0-9a-f-]{36}\n$/);
      expect(stub.requests.length).toBe(before);
    }
  });
});

// Every spelling that Tomcat would map to the provisioning servlet, and a few
// that it would not; none may deliver the backend's answer to an outsider.
const BYPASS = [
  "/servlet/axis2/services/OXUserService",
  "/servlet/axis2/services",
  "/servlet/axis2",
  "/servlet/axis2/",
  "/servlet/axis2/services/../services/OXUserService",
  "/servlet/./axis2//services/OXUserService",
  "/servlet/./axis2//services",
  "/servlet//axis2/services",
  "//servlet/axis2/services",
  "/ajax/../servlet/axis2/services",
  "/ajax/%2e%2e/servlet/axis2/services",
  "/ajax/.%2E/servlet/axis2/services",
  "/publications/x/../../servlet/axis2/services",
  "/servlet/axis2/services;x=y/x",
  "/servlet/axis2;jsessionid=1.OX1/services/x",
  "/servlet;x=y/axis2/services",
  "/servlet/axis2/services;jsessionid=1.OX1",
  "/servlet/axis2/services/..;/services/x",
  "/servlet/axis2/services%3Bx=y/x",
  "/servlet/axis2%3B/services",
  "/servlet/%61xis2/services",
  "/%73ervlet/axis2/services",
  "/servlet/axis%32/services",
  "/servlet%2faxis2/services",
  "/servlet%2Faxis2%2Fservices",
  "/servlet/axis2/services%2f..",
  "/servlet/axis2/services/x%2f..%2f..",
  "/SERVLET/axis2/services",
  "/Servlet/Axis2/Services",
  "/servlet/AXIS2/services",
  "/servlet/axis2/servicesX",
  "/servlet/axis2/x/services/OXUserService",
  "/servlet/axis2/services%00",
  "/servlet\\axis2\\services",
  "/servlet/axis2/services/%2e%2e/%2e%2e/axis2/services",
];

describe("provisioning API", () => {
  it.each(BYPASS)("%s from an outsider never yields the backend", async (p) => {
    const before = stub.requests.length;
    for (const suffix of ["", "?wsdl"]) {
      const r = await get(p + suffix);
      const body = await r.text();
      expect([400, 403, 404], `${p}${suffix} -> ${r.status}`).toContain(r.status);
      expect(body).not.toContain('"node"');
    }
    expect(stub.requests.length).toBe(before);
  });

  it("the stub never saw a provisioning request from the outsider", () => {
    const leaked = stub.requests.filter(
      (r) => r.target.startsWith("/servlet/axis2") && r.headers["x-oxedge-client-ip"] === OUTSIDER,
    );
    expect(leaked).toEqual([]);
  });

  it("allows listed IPv4 and IPv6 (CIDR) clients, with the canonical target", async () => {
    for (const ip of [ALLOWED_V4, ALLOWED_V6]) {
      const r = await get("/servlet/axis2/services/OXUserService?wsdl", { "cf-connecting-ip": ip });
      expect(r.status).toBe(200);
      const echo = (await r.json()) as Echo;
      expect(echo.target).toBe("/servlet/axis2/services/OXUserService?wsdl");
      expect(echo.headers["x-oxedge-client-ip"]).toBe(ip);
    }
    const r = await get("/servlet/axis2;jsessionid=1.OX1/./services//x", { "cf-connecting-ip": ALLOWED_V4 });
    const echo = (await r.json()) as Echo;
    expect(echo.target).toBe("/servlet/axis2/services/x;jsessionid=1.OX1");
    expect(echo.route).toBe("OX1");
  });

  it("a request without CF-Connecting-IP (Miniflare fills in 127.0.0.1) is not allowed", async () => {
    const r = await w.fetch(HOST + "/servlet/axis2/services");
    expect(r.status).toBe(403);
    expect(await r.text()).toMatch(/^403 forbidden\n/);
  });
});

describe("sticky route", () => {
  it.each(["OX1", "OX2"])("cookie JSESSIONID=….%s reaches the bridge as the route", async (route) => {
    const r = await get("/ajax/session", { cookie: `foo=1; JSESSIONID=0f3c9a.${route}; bar=2` });
    const echo = (await r.json()) as Echo;
    expect(echo.route).toBe(route);
    expect(echo.headers["x-oxedge-route"]).toBe(route);
    expect(r.headers.get("x-oxedge-served-by")).toBe(route);
  });

  it("honours ;jsessionid= and keeps it on the forwarded path", async () => {
    const r = await get("/ajax/session;jsessionid=abc.OX2?x=1");
    const echo = (await r.json()) as Echo;
    expect(echo.route).toBe("OX2");
    expect(echo.target).toBe("/ajax/session;jsessionid=abc.OX2?x=1");
  });

  it("honours a jsessionid query parameter", async () => {
    const echo = (await (await get("/ajax/session?jsessionid=abc.OX1")).json()) as Echo;
    expect(echo.route).toBe("OX1");
  });

  it("prefers the cookie over the path parameter", async () => {
    const echo = (await (await get("/ajax/s;jsessionid=a.OX1", { cookie: "JSESSIONID=b.OX2" })).json()) as Echo;
    expect(echo.route).toBe("OX2");
  });

  it("sends an empty route without sticky info (the bridge chooses)", async () => {
    const nodes = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const echo = (await (await get("/ajax/x", { cookie: "JSESSIONID=noroute" })).json()) as Echo;
      expect(echo.route).toBe("");
      expect(echo.headers["x-oxedge-route"]).toBe("");
      nodes.add(echo.node);
    }
    expect(nodes).toEqual(new Set(["OX1", "OX2"]));
  });

  it("a login through the worker sets the node's session cookie", async () => {
    const r = await get("/ajax/login?action=login", {}, { method: "POST", body: "name=demo&password=demo" });
    const cookies = r.headers.getSetCookie();
    expect(cookies).toHaveLength(2);
    expect(cookies[0]).toMatch(/^JSESSIONID=[0-9a-f]+\.OX[12]; Path=\/; HttpOnly$/);
    expect(cookies[1]).toMatch(/^open-xchange-session-0a1b=/);
  });
});

describe("hand-off headers", () => {
  // Connection-named headers are checked in raw-url.test.ts: undici (under
  // dispatchFetch) drops a client's Connection header before workerd sees it.
  it("drops client-supplied x-oxedge-* and forwarding headers and sets its own", async () => {
    const r = await get("/ajax/h?x=1", {
      "x-oxedge-route": "OX9",
      "x-oxedge-client-ip": "6.6.6.6",
      "x-oxedge-sig": "v1=" + "0".repeat(64),
      "x-oxedge-served-by": "OX9",
      "x-forwarded-for": "6.6.6.6",
      "x-forwarded-host": "evil.example",
      "x-forwarded-proto": "http",
      forwarded: "for=6.6.6.6",
      "x-real-ip": "6.6.6.6",
      "x-request-id": "client-chosen-id",
      "x-custom": "kept",
    });
    expect(r.status).toBe(200);
    const echo = (await r.json()) as Echo;
    const h = echo.headers;
    expect(h["x-oxedge-route"]).toBe("");
    expect(h["x-oxedge-client-ip"]).toBe(OUTSIDER);
    expect(h["x-oxedge-client-port"]).toBe("");
    expect(h["x-oxedge-proto"]).toBe("https");
    expect(h["x-oxedge-host"]).toBe("app.example.com");
    expect(h["x-forwarded-for"]).toBe(OUTSIDER);
    expect(h["x-forwarded-proto"]).toBe("https");
    expect(h["x-forwarded-host"]).toBe("app.example.com");
    expect(h.forwarded).toBeUndefined();
    expect(h["x-real-ip"]).toBeUndefined();
    expect(h["x-oxedge-served-by"]).toBeUndefined();
    expect(h["x-custom"]).toBe("kept");
    expect(Number(h["x-oxedge-ts"])).toBeGreaterThan(Date.now() / 1000 - 60);
    expect(h["x-oxedge-nonce"]).toMatch(/^[0-9a-f]{32}$/);
    expect(h["x-oxedge-sig"]).toMatch(/^v1=[0-9a-f]{64}$/);
    // Our request id, not the client's, travels to the bridge and back.
    expect(h["x-oxedge-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.headers.get("x-request-id")).toBe(h["x-oxedge-request-id"]);
  });

  it("sends the host with a non-default port", async () => {
    const r = await w.fetch("https://app.example.com:8443/ajax/x", { headers: { "cf-connecting-ip": OUTSIDER } });
    const echo = (await r.json()) as Echo;
    expect(echo.headers["x-oxedge-host"]).toBe("app.example.com:8443");
  });

  it("streams a request body through unchanged", async () => {
    const body = new Uint8Array(3 * 1024 * 1024 + 17);
    for (let i = 0; i < body.length; i++) body[i] = (i * 31) & 0xff;
    const r = await get("/infostore/upload", { "content-type": "application/octet-stream" }, { method: "PUT", body });
    const echo = (await r.json()) as Echo;
    expect(echo.method).toBe("PUT");
    expect(echo.bodyLength).toBe(body.length);
    expect(echo.bodySha256).toBe(createHash("sha256").update(body).digest("hex"));
  });

  it("passes a backend redirect to the client instead of following it", async () => {
    const before = stub.requests.length;
    const r = await get("/ajax/redirect");
    expect(r.status).toBe(302);
    expect(r.headers.get("location")).toBe("/ajax/after-redirect");
    expect(await r.text()).toBe("moved");
    expect(stub.requests.length).toBe(before + 1);
  });
});

describe("bridge failover", () => {
  it("skips an unreachable first bridge", async () => {
    const dead = await closedPort();
    const w2 = await startWorker({ BRIDGE_URLS: `http://127.0.0.1:${dead} 1, ${stub.url} 0` });
    try {
      const r = await w2.fetch(HOST + "/ajax/x", { headers: { "cf-connecting-ip": OUTSIDER } });
      expect(r.status).toBe(200);
      expect(((await r.json()) as Echo).target).toBe("/ajax/x");
      // Now marked: a request with a body goes straight to the live bridge.
      const p = await w2.fetch(HOST + "/ajax/p", { method: "POST", body: "x=1", headers: { "cf-connecting-ip": OUTSIDER } });
      expect(p.status).toBe(200);
      expect(((await p.json()) as Echo).bodyLength).toBe(3);
    } finally {
      await w2.dispose();
    }
  });

  it("does not replay a request body on the next bridge (502), but skips the dead bridge afterwards", async () => {
    const dead = await closedPort();
    const w2 = await startWorker({ BRIDGE_URLS: `http://127.0.0.1:${dead} 1, ${stub.url} 0` });
    try {
      const before = stub.requests.length;
      const first = await w2.fetch(HOST + "/ajax/p", { method: "POST", body: "x=1", headers: { "cf-connecting-ip": OUTSIDER } });
      expect(first.status).toBe(502);
      expect(await first.text()).toMatch(/^502 bridge-unavailable\n/);
      expect(stub.requests.length).toBe(before);
      const second = await w2.fetch(HOST + "/ajax/p", { method: "POST", body: "x=1", headers: { "cf-connecting-ip": OUTSIDER } });
      expect(second.status).toBe(200);
    } finally {
      await w2.dispose();
    }
  });

  it.each([
    // What fetch() returns at the edge when the tunnel to a bridge is down.
    [530, "error code: 1033"],
    // What cloudflared answers when the bridge behind it refuses the connection (restarting).
    [502, "Bad Gateway"],
  ])("treats %s from Cloudflare or the tunnel, not from the bridge, as not reached", async (status, text) => {
    const edge = http.createServer((_req, res) => {
      res.writeHead(status, { "content-type": "text/html" });
      res.end(text);
    });
    await new Promise<void>((resolve) => edge.listen(0, "127.0.0.1", resolve));
    const edgeUrl = `http://127.0.0.1:${(edge.address() as AddressInfo).port}`;
    const w2 = await startWorker({ BRIDGE_URLS: `${edgeUrl} 1, ${stub.url} 0` });
    try {
      const r = await w2.fetch(HOST + "/ajax/x", { headers: { "cf-connecting-ip": OUTSIDER } });
      expect(r.status).toBe(200);
      expect(((await r.json()) as Echo).target).toBe("/ajax/x");
      // Skipped now: a request with a body goes to the standby without trying it.
      const p = await w2.fetch(HOST + "/ajax/p", { method: "POST", body: "x=1", headers: { "cf-connecting-ip": OUTSIDER } });
      expect(p.status).toBe(200);
    } finally {
      await w2.dispose();
      edge.closeAllConnections();
      await new Promise<void>((resolve) => edge.close(() => resolve()));
    }
  });

  it("answers a small 502 page, no stack trace, when no bridge is reachable", async () => {
    const w2 = await startWorker({ BRIDGE_URLS: `http://127.0.0.1:${await closedPort()},http://127.0.0.1:${await closedPort()}` });
    try {
      for (let i = 0; i < 2; i++) {
        const r = await w2.fetch(HOST + "/ajax/x", { headers: { "cf-connecting-ip": OUTSIDER } });
        expect(r.status).toBe(502);
        expect(r.headers.get("content-type")).toBe("text/plain; charset=utf-8");
        const body = await r.text();
        expect(body).toMatch(/^502 bridge-unavailable\nrequest id: [0-9a-f-]{36}\n$/);
        expect(body).not.toMatch(/Error|at |127\.0\.0\.1/);
      }
      expect(w2.logs.some((l) => /kind=bridge-unavailable .*request=[0-9a-f-]{36}/.test(l))).toBe(true);
    } finally {
      await w2.dispose();
    }
  });
});

describe("configuration", () => {
  it("applies HSTS settings, strips internal headers without DEBUG_HEADERS, uses STATIC_MAX_AGE", async () => {
    const w2 = await startWorker({
      BRIDGE_URLS: stub.url,
      HSTS_MAX_AGE: "600",
      HSTS_INCLUDE_SUBDOMAINS: "true",
      DEBUG_HEADERS: "false",
      STATIC_MAX_AGE: "120",
    });
    try {
      const r = await w2.fetch(HOST + "/ajax/x", { headers: { "cf-connecting-ip": OUTSIDER } });
      expect(r.status).toBe(200);
      expect(r.headers.get("strict-transport-security")).toBe("max-age=600; includeSubDomains");
      expect(r.headers.get("x-oxedge-served-by")).toBeNull();
      await r.arrayBuffer();
      const s = await w2.fetch(HOST + "/demo.js");
      expect(s.headers.get("cache-control")).toBe("public, max-age=120");
      await s.arrayBuffer();
    } finally {
      await w2.dispose();
    }
  });

  it("a bad var gives 500 naming the field, and a log line with value and what is allowed", async () => {
    const w2 = await startWorker({ BRIDGE_URLS: stub.url, HSTS_MAX_AGE: "soon" });
    try {
      const r = await w2.fetch(HOST + "/ajax/x");
      expect(r.status).toBe(500);
      const body = await r.text();
      expect(body).toMatch(/^500 bad-config\nrequest id: [0-9a-f-]{36}\nconfig field: HSTS_MAX_AGE\n$/);
      expect(body).not.toContain("soon");
      const line = w2.logs.find((l) => l.includes("kind=bad-config"));
      expect(line).toContain('HSTS_MAX_AGE = \\"soon\\": ');
      expect(line).toMatch(/allowed: seconds/);
    } finally {
      await w2.dispose();
    }
  });

  it("a short secret is named but never logged", async () => {
    const w2 = await startWorker({ BRIDGE_URLS: stub.url, BRIDGE_SECRET: "hunter2hunter2" });
    try {
      const r = await w2.fetch(HOST + "/");
      expect(r.status).toBe(500);
      expect(await r.text()).toContain("config field: BRIDGE_SECRET");
      expect(w2.logs.join("\n")).not.toContain("hunter2");
      expect(w2.logs.join("\n")).toContain("BRIDGE_SECRET");
    } finally {
      await w2.dispose();
    }
  });

  it("the stub bridge really checks the signature: a different secret gets 401", async () => {
    const w2 = await startWorker({ BRIDGE_URLS: stub.url, BRIDGE_SECRET: "fedcba9876543210".repeat(4) });
    try {
      const r = await w2.fetch(HOST + "/ajax/x", { headers: { "cf-connecting-ip": OUTSIDER } });
      expect(r.status).toBe(401);
      expect(stub.requests.at(-1)).toMatchObject({ signatureOk: false, reason: "signature mismatch" });
      await r.arrayBuffer();
    } finally {
      await w2.dispose();
    }
  });
});
