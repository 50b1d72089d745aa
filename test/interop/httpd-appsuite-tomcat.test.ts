/**
 * The incumbent App Suite front end: Apache httpd with mod_proxy_http and mod_proxy_wstunnel
 * in front of real Tomcat nodes' HTTP listeners, configured as OX's guide has it
 * (peers/httpd.ts with HTTP members). What it does here is what the bridge's HTTP members
 * are compared with.
 */
import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHttpd, type Httpd } from "../../peers/httpd.ts";
import { checkInteropPrereqs } from "../../peers/prereqs.ts";
import { startTomcatCluster, type TomcatEcho, type TomcatNode } from "../../peers/tomcat.ts";
import { wsConnect, type WsClient } from "../../peers/ws-client.ts";

const sha256 = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");

/**
 * node:http, where fetch cannot: a Host of our choice, a body in chunks without a length.
 * Resolves with the echo the node answered.
 */
function rawEcho(port: number, opts: { method?: string; headers?: Record<string, string>; chunks?: string[] }): Promise<TomcatEcho> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method: opts.method ?? "GET", path: "/ajax/echo", headers: opts.headers, agent: false, timeout: 10_000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve(JSON.parse(body) as TomcatEcho));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("echo timed out")));
    req.on("error", reject);
    for (const c of opts.chunks ?? []) req.write(c);
    req.end();
  });
}

describe.runIf(checkInteropPrereqs().ok)("Apache httpd (mod_proxy_http, mod_proxy_wstunnel) in front of Tomcat HTTP nodes", () => {
  let nodes: TomcatNode[];
  let httpd: Httpd;
  const sockets: WsClient[] = [];
  let base = "";

  const get = (path: string, headers: Record<string, string> = {}) => fetch(`${base}${path}`, { headers });
  async function login(): Promise<{ id: string; route: string; cookie: string }> {
    const res = await get("/ajax/login");
    const { sessionId } = (await res.json()) as { sessionId: string };
    const route = res.headers.get("x-served-route")!;
    return { id: sessionId, route, cookie: `JSESSIONID=${sessionId}` };
  }
  async function socket(headers?: Record<string, string>): Promise<WsClient> {
    const ws = await wsConnect(`ws://127.0.0.1:${httpd.port}/socket.io/ws`, { headers });
    sockets.push(ws);
    return ws;
  }

  beforeAll(async () => {
    nodes = await startTomcatCluster(["OX1", "OX2"]);
    httpd = await startHttpd({ members: nodes.map((n) => ({ kind: "http", host: "127.0.0.1", httpPort: n.httpPort, route: n.route })) });
    base = `http://127.0.0.1:${httpd.port}`;
  });

  afterAll(async () => {
    for (const ws of sockets) ws.terminate();
    await httpd?.stop();
    await Promise.all((nodes ?? []).map((n) => n.stop()));
  });

  it("spreads new sessions over both routes, and keeps each on its node by the JSESSIONID cookie", async () => {
    const sessions = [];
    for (let i = 0; i < 4; i++) sessions.push(await login());
    expect(new Set(sessions.map((s) => s.route))).toEqual(new Set(["OX1", "OX2"]));
    for (const s of sessions) {
      expect(s.id.endsWith(`.${s.route}`)).toBe(true);
      for (let i = 0; i < 3; i++) {
        const res = await get("/ajax/session", { cookie: s.cookie });
        expect(res.headers.get("x-served-route")).toBe(s.route);
        expect(await res.json()).toEqual({ node: s.route, requestedSessionId: s.id, valid: true });
      }
    }
  });

  it("routes by a ;jsessionid= path parameter too (scolonpathdelim), which the node reads as the session", async () => {
    const s = await login();
    for (let i = 0; i < 3; i++) {
      const res = await get(`/ajax/echo;jsessionid=${s.id}`);
      expect(res.headers.get("x-served-route")).toBe(s.route);
      const e = (await res.json()) as TomcatEcho;
      expect(e).toMatchObject({ node: s.route, sessionId: s.id, sessionIdFromURL: true, sessionIdValid: true });
    }
  });

  it("maps /appsuite/api to /ajax, and proxies App Suite's other prefixes", async () => {
    const api = (await (await get("/appsuite/api/echo?action=x")).json()) as TomcatEcho;
    expect(api).toMatchObject({ requestURI: "/ajax/echo", queryString: "action=x" });
    for (const prefix of ["/drive", "/realtime", "/infostore", "/publications", "/usm-json", "/Microsoft-Server-ActiveSync", "/webservices"]) {
      const res = await get(`${prefix}/echo`);
      expect(res.status).toBe(200);
      expect(((await res.json()) as TomcatEcho).requestURI).toBe(`${prefix}/echo`);
    }
    expect((await get("/other/echo")).status).toBe(404);
  });

  it("passes the client's Host and address on; a client's own X-Forwarded-For reaches the node and is believed", async () => {
    const e = await rawEcho(httpd.port, { headers: { host: "ox.example.com" } });
    expect(e).toMatchObject({ serverName: "ox.example.com", remoteAddr: "127.0.0.1", isSecure: false });
    expect(e.headers).toContainEqual(["host", "ox.example.com"]);
    // httpd appends the peer to X-Forwarded-For; the node skips that known proxy and takes the
    // address before it, which the client wrote itself.
    const spoofed = (await (await get("/ajax/echo", { "x-forwarded-for": "198.51.100.7" })).json()) as TomcatEcho;
    expect(spoofed.remoteAddr).toBe("198.51.100.7");
  });

  it("streams request bodies intact: a long chunked one stays chunked, a short one gets a length", async () => {
    const body = randomBytes(1024 * 1024 + 3);
    const res = await fetch(`${base}/ajax/upload-digest`, { method: "POST", body });
    expect(await res.json()).toMatchObject({ bodyLength: body.length, bodySha256: sha256(body) });
    const pieces = Array.from({ length: 40 }, (_, i) => String(i % 10).repeat(8192));
    const long = await rawEcho(httpd.port, { method: "PUT", chunks: pieces });
    expect(long).toMatchObject({ bodyLength: 40 * 8192, bodySha256: sha256(pieces.join("")), contentLengthHeader: null });
    expect(long.headers).toContainEqual(["transfer-encoding", "chunked"]);
    // mod_proxy_http reads ahead up to 16 KiB first; a chunked body that ends within it goes on
    // with a Content-Length, proxy-sendchunked or not.
    const short = await rawEcho(httpd.port, { method: "PUT", chunks: ["ab", "c"] });
    expect(short).toMatchObject({ bodyLength: 3, contentLengthHeader: "3" });
    expect(short.headers.map(([k]) => k)).not.toContain("transfer-encoding");
  });

  it("keeps the provisioning paths to the allowed addresses", async () => {
    const restricted = await startHttpd({
      members: nodes.map((n) => ({ kind: "http", host: "127.0.0.1", httpPort: n.httpPort, route: n.route })),
      provisioningAllow: ["192.0.2.1"],
    });
    try {
      const at = (p: string) => fetch(`http://127.0.0.1:${restricted.port}${p}`).then((r) => r.status);
      expect(await at("/webservices/echo")).toBe(403);
      expect(await at("/servlet/axis2/services/echo")).toBe(403);
      expect(await at("/ajax/echo")).toBe(200);
    } finally {
      await restricted.stop();
    }
  });

  it("tunnels a WebSocket to the node of the session its cookie names", async () => {
    for (const s of [await login(), await login()]) {
      const ws = await socket({ cookie: s.cookie });
      // Header always set does not reach the tunnel's 101: the route is not visible here.
      expect(ws.headers["x-served-route"]).toBeUndefined();
      expect(await ws.nextText()).toBe(`hello node=${s.route} session=${s.id}`);
      await ws.sendText("push 3");
      for (let i = 1; i <= 3; i++) expect(await ws.nextText()).toBe(`push ${i}/3 node=${s.route}`);
      await ws.close();
    }
  });

  it("echoes text and large binary messages through the tunnel, and passes the node's close code on", async () => {
    const ws = await socket();
    expect(await ws.nextText()).toMatch(/^hello node=OX[12] session=none$/);
    await ws.sendText("grüße ✓", { fragmentSize: 4 });
    expect(await ws.nextText()).toBe("grüße ✓");
    const bytes = randomBytes(10 * 1024 * 1024);
    await ws.sendBinary(bytes);
    expect(sha256(await ws.nextBinary(30_000))).toBe(sha256(bytes));
    expect(await ws.ping(Buffer.from("through httpd"))).toEqual(Buffer.from("through httpd"));
    await ws.sendText("close 4003 node says bye");
    expect(await ws.closed).toMatchObject({ code: 4003, reason: "node says bye", initiator: "server", endedBy: "server" });
  }, 60_000);

  it("spreads new sockets over both nodes; a plain request under /socket.io goes through the ws balancer as HTTP", async () => {
    const nodesSeen = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const ws = await socket();
      nodesSeen.add(/node=(\S+)/.exec(await ws.nextText())![1]);
      await ws.close();
    }
    expect(nodesSeen).toEqual(new Set(["OX1", "OX2"]));
    // httpd 2.4.71 hands a ws:// worker's non-upgrade request to mod_proxy_http (socket.io's
    // polling transport), so the whole /socket.io tree works through the one ProxyPass.
    const polling = await get("/socket.io/echo?EIO=4&transport=polling");
    expect(polling.status).toBe(200);
    expect(((await polling.json()) as TomcatEcho).requestURI).toBe("/socket.io/echo");
  });

  it("left nothing in httpd's error log", () => {
    expect(httpd.errorLog()).not.toMatch(/\[(?:proxy\w*|core):error\]|AH01114|AH00898/);
  });
});
