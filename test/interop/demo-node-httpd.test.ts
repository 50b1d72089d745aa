/**
 * "Our demo node speaks real AJP": two demo nodes behind Apache httpd's mod_proxy_balancer +
 * mod_proxy_ajp, configured like the incumbent OX front end. If httpd is happy with the demo
 * node, tests and benchmarks that use the demo node instead of Tomcat measure something real.
 */
import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { patternSha256, startDemoNode, type DemoNode } from "../../peers/demo-node.ts";
import { httpdAvailable, httpdUnavailableReason, startHttpd, type Httpd } from "../../peers/httpd.ts";

const available = httpdAvailable();
if (!available) console.warn(`skipping demo-node-httpd interop tests: ${httpdUnavailableReason()}`);

interface Res {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  bodyLength: number;
  bodySha256: string;
}

/**
 * One HTTP/1.1 request through node:http, which (unlike fetch) can send a header line twice, an
 * unknown method, and a body as separate chunks without Content-Length (chunked encoding).
 * Bodies larger than keepBody are only hashed.
 */
function request(
  port: number,
  opts: { method?: string; path: string; headers?: string[]; body?: Buffer; chunks?: Buffer[]; keepBody?: number },
): Promise<Res> {
  return new Promise((resolve, reject) => {
    // A raw header array is sent as it is: node:http adds no Host, and HTTP/1.1 without one is a 400.
    const headers = ["Host", `127.0.0.1:${port}`, ...(opts.headers ?? [])];
    if (opts.body) headers.push("Content-Length", String(opts.body.length));
    const req = http.request(
      { host: "127.0.0.1", port, method: opts.method ?? "GET", path: opts.path, headers, agent: false, timeout: 20_000 },
      (res) => {
        const hash = createHash("sha256");
        const kept: Buffer[] = [];
        let n = 0;
        const keep = opts.keepBody ?? 1 << 20;
        res.on("data", (d: Buffer) => {
          hash.update(d);
          if (n < keep) kept.push(d);
          n += d.length;
        });
        res.on("end", () =>
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(kept), bodyLength: n, bodySha256: hash.digest("hex") }),
        );
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`request ${opts.path} timed out`)));
    req.on("error", reject);
    if (opts.chunks) {
      // Separate writes without a length: node:http sends them as HTTP chunks.
      for (const c of opts.chunks) req.write(c);
      req.end();
    } else {
      req.end(opts.body);
    }
  });
}

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const json = (r: Res) => JSON.parse(r.body.toString()) as Record<string, any>;

function jsessionid(r: Res): string | undefined {
  for (const c of r.headers["set-cookie"] ?? []) {
    const m = /^JSESSIONID=([^;]+)/.exec(c);
    if (m) return m[1];
  }
  return undefined;
}

async function waitFor(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

describe.runIf(available)("demo node behind Apache httpd (mod_proxy_ajp)", () => {
  let ox1: DemoNode;
  let ox2: DemoNode;
  let httpd: Httpd;
  const nodeLog: string[] = [];
  const timings: Record<string, number> = {};

  beforeAll(async () => {
    const log = (l: string) => nodeLog.push(l);
    ox1 = await startDemoNode({ route: "OX1", secret: "secret-OX1", log });
    ox2 = await startDemoNode({ route: "OX2", secret: "secret-OX2", log });
    const t = performance.now();
    httpd = await startHttpd({
      members: [
        { host: "127.0.0.1", ajpPort: ox1.port, route: "OX1", secret: "secret-OX1" },
        { host: "127.0.0.1", ajpPort: ox2.port, route: "OX2", secret: "secret-OX2" },
      ],
    });
    timings.httpdStartMs = Math.round(performance.now() - t);
  });

  afterAll(async () => {
    if (httpd) {
      const t = performance.now();
      await httpd.stop();
      timings.httpdStopMs = Math.round(performance.now() - t);
    }
    // httpd's pooled AJP connections close with it; the nodes must not keep any.
    const drained = await waitFor(() => ox1.openConnections() + ox2.openConnections() === 0, 3000);
    await Promise.all([ox1?.close(), ox2?.close()]);
    console.log(`demo-node-httpd timings: ${JSON.stringify(timings)}`);
    expect(drained).toBe(true);
  });

  it("passes method, URI, query, headers and client address through to the node", async () => {
    const r = await request(httpd.port, {
      path: "/ajax/echo?action=ping&x=%20y",
      headers: ["X-Dup", "a", "X-Dup", "b", "Accept", "*/*", "X-Custom", "v1"],
    });
    expect(r.status).toBe(200);
    expect(r.headers["x-served-route"]).toMatch(/^OX[12]$/);
    const e = json(r);
    expect(e).toMatchObject({
      node: r.headers["x-served-route"],
      method: "GET",
      uri: "/ajax/echo",
      queryString: "action=ping&x=%20y",
      protocol: "HTTP/1.1",
      remoteAddr: "127.0.0.1",
      localAddr: "127.0.0.1",
      isSsl: false,
      serverPort: httpd.port,
      route: null, // no sticky route found, so mod_proxy_ajp sends no jvm_route attribute
      bodyLength: 0,
    });
    expect(typeof e.remotePort).toBe("number");
    // httpd merges repeated request headers into one comma-joined value before proxying.
    const pairs: [string, string][] = [];
    for (let i = 0; i < e.headers.length; i += 2) pairs.push([e.headers[i], e.headers[i + 1]]);
    expect(pairs).toContainEqual(["X-Dup", "a, b"]);
    expect(pairs).toContainEqual(["accept", "*/*"]); // coded header: the node sees the table's lower-case name
    expect(pairs).toContainEqual(["X-Custom", "v1"]);
    // What mod_proxy_ajp attaches: the two req_attributes Tomcat allows, nothing else.
    expect(e.reqAttributes.filter((_: string, i: number) => i % 2 === 0).sort()).toEqual(["AJP_LOCAL_ADDR", "AJP_REMOTE_PORT"]);
  });

  it.each([0, 1, 8186, 8187, 65536, 1 << 20])("uploads a %i-byte body with Content-Length intact", async (size) => {
    const body = randomBytes(size);
    const r = await request(httpd.port, { method: "POST", path: "/ajax/upload-digest", body, headers: ["Content-Type", "application/octet-stream"] });
    expect(r.status).toBe(200);
    expect(json(r)).toMatchObject({ bodyLength: size, bodySha256: sha256(body) });
  });

  it("uploads a chunked body (no Content-Length): the node pulls it with GET_BODY_CHUNK", async () => {
    const chunks = [randomBytes(1), randomBytes(5000), randomBytes(70_000), randomBytes(8186), randomBytes(3)];
    const r = await request(httpd.port, { method: "PUT", path: "/infostore/echo", chunks });
    expect(r.status).toBe(200);
    const e = json(r);
    expect(e).toMatchObject({ method: "PUT", bodyLength: 83_190, bodySha256: sha256(Buffer.concat(chunks)) });
    const names = e.headers.filter((_: string, i: number) => i % 2 === 0).map((n: string) => n.toLowerCase());
    expect(names).not.toContain("content-length");
    // httpd forwards the hop-by-hop header as it is; AJP itself carries de-chunked bytes.
    expect(names).toContain("transfer-encoding");
  });

  it("downloads 10 MiB intact", async () => {
    const size = 10 * 1024 * 1024;
    const t = performance.now();
    const r = await request(httpd.port, { path: `/ajax/download?size=${size}`, keepBody: 0 });
    timings.download10MiBMs = Math.round(performance.now() - t);
    expect(r.status).toBe(200);
    expect(r.bodyLength).toBe(size);
    expect(r.bodySha256).toBe(patternSha256(size));
  });

  it("keeps a session on the node whose route its JSESSIONID names", async () => {
    const login = await request(httpd.port, { method: "POST", path: "/ajax/login", body: Buffer.from("name=u&password=p") });
    expect(login.status).toBe(200);
    const id = jsessionid(login);
    expect(id).toMatch(/^[0-9A-F]{32}\.OX[12]$/);
    expect(login.headers["set-cookie"]).toHaveLength(3);
    const route = id!.slice(id!.lastIndexOf(".") + 1);
    expect(json(login)).toEqual({ node: route, sessionId: id });
    for (let i = 0; i < 10; i++) {
      const r = await request(httpd.port, { path: "/ajax/session", headers: ["Cookie", `foo=bar; JSESSIONID=${id}`] });
      expect([json(r), r.headers["x-served-route"]]).toEqual([{ node: route, sessionId: id, valid: true }, route]);
    }
  });

  it("spreads new sessions 50/50 (byrequests), counting sticky requests too", async () => {
    // A fresh httpd: the shared one's counters depend on what earlier tests sent.
    const fresh = await startHttpd({
      members: [
        { host: "127.0.0.1", ajpPort: ox1.port, route: "OX1", secret: "secret-OX1" },
        { host: "127.0.0.1", ajpPort: ox2.port, route: "OX2", secret: "secret-OX2" },
      ],
    });
    try {
      const login = async () => {
        const r = await request(fresh.port, { path: "/ajax/login" });
        return { node: json(r).node as string, id: jsessionid(r)! };
      };
      const first = [];
      for (let i = 0; i < 4; i++) first.push(await login());
      // Ties go to the member listed first.
      expect(first.map((l) => l.node)).toEqual(["OX1", "OX2", "OX1", "OX2"]);
      // docs/balancer.md, Sticky hits: a sticky hit runs the same arithmetic as a pick, so three requests on an
      // OX1 session make OX1 "owe" three picks, and the next three new sessions go to OX2.
      for (let i = 0; i < 3; i++) {
        const r = await request(fresh.port, { path: "/ajax/session", headers: ["Cookie", `JSESSIONID=${first[0].id}`] });
        expect(json(r)).toMatchObject({ node: "OX1", valid: true });
      }
      const after = [];
      for (let i = 0; i < 5; i++) after.push((await login()).node);
      expect(after).toEqual(["OX2", "OX2", "OX2", "OX1", "OX2"]);
    } finally {
      await fresh.stop();
    }
  });

  it.each([
    ["PATCH", "/servlet/dav/echo"], // no AJP code: 0xFF + stored_method
    ["FOO", "/ajax/echo"], // extension method: same path
    ["PROPFIND", "/servlet/dav/echo"], // coded
  ])("delivers method %s", async (method, path) => {
    const r = await request(httpd.port, { method, path, body: Buffer.from("<x/>") });
    expect(r.status).toBe(200);
    expect(json(r)).toMatchObject({ method, uri: path, bodyLength: 4 });
  });

  it("passes node statuses and their bodies through", async () => {
    const nf = await request(httpd.port, { path: "/ajax/status?code=404" });
    expect([nf.status, nf.body.toString()]).toEqual([404, `node ${nf.headers["x-served-route"]} says 404`]);
    const err = await request(httpd.port, { path: "/ajax/status?code=500" });
    expect([err.status, err.body.toString()]).toEqual([500, `node ${err.headers["x-served-route"]} says 500`]);
    const nc = await request(httpd.port, { path: "/ajax/status?code=204" });
    expect([nc.status, nc.bodyLength]).toEqual([204, 0]);
    const unknown = await request(httpd.port, { path: "/usm-json/whatever" });
    expect([unknown.status, json(unknown).error]).toEqual([404, "unknown endpoint"]);
    // A 500 from the node is an answer, not a proxy failure: no member was put in error state,
    // or its sticky requests would fail over to the other one.
    for (const route of ["OX1", "OX2"]) {
      const r = await request(httpd.port, { path: "/ajax/echo", headers: ["Cookie", `JSESSIONID=0123.${route}`] });
      expect([r.headers["x-served-route"], json(r).node]).toEqual([route, route]);
    }
  });

  it("gets its AJP connections reused by httpd (END_RESPONSE reuse=1)", async () => {
    for (let i = 0; i < 20; i++) {
      const r = await request(httpd.port, { path: "/ajax/echo", headers: ["Cookie", "JSESSIONID=0123.OX1"] });
      expect([r.status, json(r).route]).toEqual([200, "OX1"]); // the sticky route, as attribute 0x06
    }
    // Sequential requests: at most one pooled connection per httpd child process (ServerLimit 2).
    expect(ox1.openConnections()).toBeGreaterThanOrEqual(1);
    expect(ox1.openConnections()).toBeLessThanOrEqual(2);
  });

  it("frees the connection when the client leaves mid-download (httpd drops the AJP connection)", async () => {
    let during = -1;
    await new Promise<void>((resolve, reject) => {
      const req = http.get(
        { host: "127.0.0.1", port: httpd.port, path: "/ajax/download?size=500000000", headers: { cookie: "JSESSIONID=0123.OX1" }, agent: false },
        (res) => {
          let n = 0;
          res.on("data", (d: Buffer) => {
            n += d.length;
            if (n > 1_000_000 && during < 0) {
              during = ox1.openConnections();
              req.destroy();
              resolve();
            }
          });
        },
      );
      req.on("error", (err) => (during < 0 ? reject(err) : undefined));
    });
    expect(await waitFor(() => ox1.openConnections() === during - 1, 5000)).toBe(true);
    expect(nodeLog.some((l) => /^OX1 conn#\d+: socket error/.test(l))).toBe(true);
    // Not a member failure either: the next request on OX1 is served.
    const r = await request(httpd.port, { path: "/ajax/echo", headers: ["Cookie", "JSESSIONID=0123.OX1"] });
    expect(r.headers["x-served-route"]).toBe("OX1");
  });

  it("works with 64 KiB AJP packets on both sides (ProxyIOBufferSize / packetSize)", async () => {
    const big = await startDemoNode({ route: "OX5", packetSize: 65536 });
    const h = await startHttpd({ members: [{ host: "127.0.0.1", ajpPort: big.port, route: "OX5" }], iobuffersize: 65536 });
    try {
      const body = randomBytes(300_000);
      const up = await request(h.port, { method: "POST", path: "/ajax/upload-digest", body });
      expect(json(up)).toMatchObject({ node: "OX5", bodyLength: 300_000, bodySha256: sha256(body) });
      const chunked = await request(h.port, { method: "POST", path: "/ajax/upload-digest", chunks: [body, body] });
      expect(json(chunked)).toMatchObject({ bodyLength: 600_000 });
      const down = await request(h.port, { path: "/ajax/download?size=3000000", keepBody: 0 });
      expect([down.bodyLength, down.bodySha256]).toEqual([3_000_000, patternSha256(3_000_000)]);
    } finally {
      await h.stop();
      await big.close();
    }
  });

  it("refuses an AJP_* environment variable, which httpd forwards as a req_attribute, with 403 (Tomcat's allow-list)", async () => {
    const log: string[] = [];
    const node = await startDemoNode({ route: "OX6", log: (l) => log.push(l) });
    const h = await startHttpd({
      members: [{ host: "127.0.0.1", ajpPort: node.port, route: "OX6" }],
      extraConf: "LoadModule env_module /usr/lib/apache2/modules/mod_env.so\nSetEnv AJP_FOO bar",
    });
    try {
      const r = await request(h.port, { path: "/ajax/echo" });
      expect([r.status, r.bodyLength]).toEqual([403, 0]);
      expect(log).toContain('OX6: refusing request with 403: req_attribute "FOO" not allowed');
    } finally {
      await h.stop();
      await node.close();
    }
  });

  it("a packet-size mismatch (httpd 64 KiB, node 8 KiB): the node drops the connection, httpd answers 500", async () => {
    const log: string[] = [];
    const node = await startDemoNode({ route: "OX7", log: (l) => log.push(l) });
    const h = await startHttpd({ members: [{ host: "127.0.0.1", ajpPort: node.port, route: "OX7" }], iobuffersize: 65536 });
    try {
      // Small requests fit either packet size; only a body packet over 8 KiB shows the mismatch.
      expect((await request(h.port, { path: "/ajax/echo" })).status).toBe(200);
      expect((await request(h.port, { method: "POST", path: "/ajax/upload-digest", body: randomBytes(100_000) })).status).toBe(500);
      expect(log.some((l) => l.includes("malformed packet (packet length 65532 exceeds the maximum 8188)"))).toBe(true);
      expect(h.errorLog()).toContain("AH00878: read response failed");
    } finally {
      await h.stop();
      await node.close();
    }
  });

  it("left nothing in httpd's error log and nothing refused on the nodes", () => {
    expect(httpd.errorLog()).not.toMatch(/\[proxy(_ajp|_balancer)?:error\]/);
    // The aborted download above is the one connection closed early, on purpose.
    expect(nodeLog.filter((l) => /refusing|closing the connection/.test(l) && !/went away|socket error/.test(l))).toEqual([]);
  });

  it("a member with the wrong secret: the node refuses with 403, and the client gets that 403", async () => {
    const log: string[] = [];
    const ox3 = await startDemoNode({ route: "OX3", secret: "right", log: (l) => log.push(l) });
    const bad = await startHttpd({ members: [{ host: "127.0.0.1", ajpPort: ox3.port, route: "OX3", secret: "wrong" }] });
    try {
      const r = await request(bad.port, { path: "/ajax/echo" });
      const post = await request(bad.port, { method: "POST", path: "/ajax/upload-digest", body: randomBytes(100_000) });
      const again = await request(bad.port, { path: "/ajax/echo" });
      for (const x of [r, post, again]) {
        expect(x.status).toBe(403);
        expect(x.bodyLength).toBe(0); // the node's empty 403 as it is: httpd adds no error page
        expect(x.headers["x-served-route"]).toBe("OX3");
      }
      expect(log.filter((l) => l.includes("refusing request with 403: wrong secret"))).toHaveLength(3);
      expect(log.join("\n")).not.toContain("right");
      // 403 is an answer, not a member failure: httpd did not mark OX3 in error (a third request still reached it).
      expect(ox3.requestsSeen()).toBe(3);
    } finally {
      await bad.stop();
      await ox3.close();
    }
  });

  it("keeps the SOAP provisioning API to the allowed addresses", async () => {
    const restricted = await startHttpd({
      members: [{ host: "127.0.0.1", ajpPort: ox1.port, route: "OX1", secret: "secret-OX1" }],
      provisioningAllow: ["192.0.2.1"],
    });
    try {
      expect((await request(restricted.port, { path: "/servlet/axis2/services/OXUserService" })).status).toBe(403);
      expect((await request(httpd.port, { path: "/servlet/axis2/services/OXUserService" })).status).toBe(404); // reached the node
      expect((await request(restricted.port, { path: "/servlet/echo" })).status).toBe(200);
    } finally {
      await restricted.stop();
    }
  });
});
