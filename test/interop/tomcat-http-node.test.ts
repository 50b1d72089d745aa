/**
 * Tomcat's HTTP connector as an OX App Suite node: X-Forwarded-* trusted from known proxies
 * only (OX's considerXForwards/knownProxies, played by RemoteIpValve), AJP requests left as the
 * protocol describes them, and the jvmRoute on JSESSIONID over both connectors.
 */
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkInteropPrereqs } from "../../peers/prereqs.ts";
import { forwardGet } from "../support/ajp-by-hand.ts";
import { startTomcat, startTomcatCluster, type TomcatEcho, type TomcatNode } from "../../peers/tomcat.ts";

const SECRET = "oxedge-http-node";

interface AjpResponse {
  status: number;
  headers: [string, string][];
  body: string;
}

const CODED_RESPONSE_HEADERS = ["", "Content-Type", "Content-Language", "Content-Length", "Date", "Last-Modified", "Location", "Set-Cookie"];

/** Sends one forward request and reads SEND_HEADERS, SEND_BODY_CHUNKs and END_RESPONSE (5 s bound). */
function ajpGet(port: number, request: Buffer): Promise<AjpResponse> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: "127.0.0.1", port });
    let buf = Buffer.alloc(0);
    const out: AjpResponse = { status: 0, headers: [], body: "" };
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no END_RESPONSE within 5 s; got ${buf.toString("hex").slice(0, 200)}`));
    }, 5000);
    sock.on("connect", () => sock.write(request));
    sock.on("error", reject);
    sock.on("data", (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4 && buf.length >= 4 + buf.readUInt16BE(2)) {
        const p = buf.subarray(4, 4 + buf.readUInt16BE(2));
        buf = buf.subarray(4 + p.length);
        if (p[0] === 6) sock.write(Buffer.from([0x12, 0x34, 0, 0])); // GET_BODY_CHUNK: no body
        if (p[0] === 3) out.body += p.subarray(3, 3 + p.readUInt16BE(1)).toString("utf8");
        if (p[0] === 4) {
          let o = 1;
          const str = () => {
            const len = p.readUInt16BE(o);
            const s = p.subarray(o + 2, o + 2 + len).toString("latin1");
            o += 3 + len;
            return s;
          };
          out.status = p.readUInt16BE(o);
          o += 2;
          str();
          const n = p.readUInt16BE(o);
          o += 2;
          for (let i = 0; i < n; i++) {
            let name: string;
            if (p[o] === 0xa0) {
              name = CODED_RESPONSE_HEADERS[p[o + 1]] ?? `coded-${p[o + 1]}`;
              o += 2;
            } else {
              name = str();
            }
            out.headers.push([name, str()]);
          }
        }
        if (p[0] === 5) {
          clearTimeout(timer);
          sock.destroy();
          resolve(out);
        }
      }
    });
  });
}

async function httpEcho(node: TomcatNode, headers: Record<string, string> = {}): Promise<TomcatEcho> {
  const res = await fetch(`http://127.0.0.1:${node.httpPort}/ajax/echo`, { headers });
  expect(res.status).toBe(200);
  return (await res.json()) as TomcatEcho;
}

const header = (e: TomcatEcho, name: string) => e.headers.filter(([k]) => k.toLowerCase() === name).map(([, v]) => v);

const FORWARDED = {
  "x-forwarded-for": "198.51.100.7",
  "x-forwarded-proto": "https",
  "x-forwarded-port": "8443",
  "x-forwarded-host": "ox.example.com:8443",
};

describe.runIf(checkInteropPrereqs().ok)("Tomcat's HTTP connector as an App Suite node", () => {
  let ox1: TomcatNode;
  let ox2: TomcatNode;
  /** Trusts only an address no test connects from. */
  let strict: TomcatNode;

  beforeAll(async () => {
    const [cluster, other] = await Promise.all([
      startTomcatCluster(["OX1", "OX2"], { secret: SECRET }),
      startTomcat({ route: "OX9", secret: SECRET, knownProxies: ["192.0.2.1"] }),
    ]);
    [ox1, ox2] = cluster;
    strict = other;
  });

  afterAll(async () => {
    await Promise.all([ox1?.stop(), ox2?.stop(), strict?.stop()]);
  });

  it("without X-Forwarded-* the request is the proxy's own", async () => {
    const e = await httpEcho(ox1);
    expect(e).toMatchObject({ remoteAddr: "127.0.0.1", isSecure: false, scheme: "http", serverName: "127.0.0.1", serverPort: ox1.httpPort });
  });

  it("from 127.0.0.1, takes the client's address, scheme, port and host from X-Forwarded-*", async () => {
    const e = await httpEcho(ox1, FORWARDED);
    expect(e).toMatchObject({
      remoteAddr: "198.51.100.7",
      remoteHost: "198.51.100.7",
      isSecure: true,
      scheme: "https",
      serverPort: 8443,
      // The port in X-Forwarded-Host is dropped; the port comes from X-Forwarded-Port.
      serverName: "ox.example.com",
    });
    // RemoteIpValve consumes the addresses it used; the other headers stay.
    expect(header(e, "x-forwarded-for")).toEqual([]);
    expect(header(e, "x-forwarded-proto")).toEqual(["https"]);
  });

  it("without X-Forwarded-Port, the scheme's default port; X-Forwarded-Port alone changes nothing", async () => {
    expect(await httpEcho(ox1, { "x-forwarded-proto": "https" })).toMatchObject({ isSecure: true, serverPort: 443 });
    expect(await httpEcho(ox1, { "x-forwarded-proto": "http" })).toMatchObject({ isSecure: false, scheme: "http", serverPort: 80 });
    // The valve reads the port only together with a protocol.
    expect(await httpEcho(ox1, { "x-forwarded-port": "8443" })).toMatchObject({ isSecure: false, serverPort: ox1.httpPort });
  });

  it("takes the rightmost address that is not a known proxy, and leaves the ones before it", async () => {
    const e = await httpEcho(ox1, { "x-forwarded-for": "203.0.113.9, 198.51.100.7, 127.0.0.1" });
    expect(e.remoteAddr).toBe("198.51.100.7");
    expect(header(e, "x-forwarded-for")).toEqual(["203.0.113.9"]);
  });

  it("ignores X-Forwarded-* from an address that is not in knownProxies", async () => {
    const e = await httpEcho(strict, FORWARDED);
    expect(e).toMatchObject({ remoteAddr: "127.0.0.1", isSecure: false, scheme: "http", serverName: "127.0.0.1", serverPort: strict.httpPort });
    expect(header(e, "x-forwarded-for")).toEqual(["198.51.100.7"]);
  });

  it("with considerXForwards false, trusts nobody", async () => {
    const plain = await startTomcat({ route: "OX8", secret: SECRET, considerXForwards: false });
    try {
      const e = await httpEcho(plain, FORWARDED);
      expect(e).toMatchObject({ remoteAddr: "127.0.0.1", isSecure: false, serverPort: plain.httpPort });
      expect(header(e, "x-forwarded-for")).toEqual(["198.51.100.7"]);

      // Over AJP the valve is never applied, so a node with it and one without answer alike.
      const req = forwardGet("/ajax/echo", { remoteAddr: "127.0.0.1", headers: Object.entries(FORWARDED), secret: SECRET });
      const [withValve, without] = await Promise.all([ajpGet(ox1.ajpPort, req), ajpGet(plain.ajpPort, req)]);
      const comparable = (r: AjpResponse) => {
        const { node: _node, localPort: _port, remotePort: _remote, ...rest } = JSON.parse(r.body) as TomcatEcho;
        return rest;
      };
      expect(comparable(withValve)).toEqual(comparable(without));
    } finally {
      await plain.stop();
    }
  });

  it("over AJP, the client is what the protocol says even from 127.0.0.1 with X-Forwarded-*", async () => {
    const r = await ajpGet(ox1.ajpPort, forwardGet("/ajax/echo", { remoteAddr: "127.0.0.1", headers: [...Object.entries(FORWARDED), ["x-forwarded-proto", "http"]], secret: SECRET }));
    expect(r.status).toBe(200);
    const e = JSON.parse(r.body) as TomcatEcho;
    expect(e).toMatchObject({ node: "OX1", remoteAddr: "127.0.0.1", isSecure: true, scheme: "https", serverName: "ox.example.com", serverPort: 443 });
    expect(header(e, "x-forwarded-for")).toEqual(["198.51.100.7"]);
  });

  it("JSESSIONID ends in the jvmRoute over HTTP as over AJP, and one session serves both", async () => {
    const login = await fetch(`http://127.0.0.1:${ox1.httpPort}/ajax/login`);
    const viaHttp = login.headers.getSetCookie().find((c) => c.startsWith("JSESSIONID="));
    expect(viaHttp).toMatch(/^JSESSIONID=[0-9A-F]+\.OX1; Path=\/; HttpOnly$/);

    const r = await ajpGet(ox2.ajpPort, forwardGet("/ajax/login", { remoteAddr: "198.51.100.7", secret: SECRET }));
    const viaAjp = r.headers.find(([k, v]) => k === "Set-Cookie" && v.startsWith("JSESSIONID="))?.[1];
    // Over AJP with is_ssl set, Tomcat marks the cookie Secure.
    expect(viaAjp).toMatch(/^JSESSIONID=[0-9A-F]+\.OX2; Path=\/; Secure; HttpOnly$/);

    const id = /^JSESSIONID=([^;]+)/.exec(viaHttp!)![1];
    const overAjp = await ajpGet(ox1.ajpPort, forwardGet("/ajax/session", { remoteAddr: "198.51.100.7", headers: [["Cookie", `JSESSIONID=${id}`]], secret: SECRET }));
    expect(JSON.parse(overAjp.body)).toEqual({ node: "OX1", requestedSessionId: id, valid: true });
  });
});
