import { createHash } from "node:crypto";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkInteropPrereqs } from "../../peers/prereqs.ts";
import { forwardGet } from "../support/ajp-by-hand.ts";
import { ajpCping, patternBytes, patternSha256, startTomcatCluster, type TomcatEcho, type TomcatNode } from "../../peers/tomcat.ts";

// The launcher's own checks, with AJP bytes written by hand so they do not depend on the
// bridge's codec (which these nodes exist to test).

// --- minimal AJP13 reader (docs/ajp13.md, Container messages); the writer is test/support/ajp-by-hand.ts ---

/** docs/ajp13.md, Worked examples, A GET request: byte for byte (secret "s3cr3t"). */
const DOC_EXAMPLE_12_1 = Buffer.from(
  "123400bf02020008485454502f312e3100000c2f616a61782f73797374656d00" +
    "000b3230332e302e3131332e3700000b3230332e302e3131332e3700000e6f78" +
    "2e6578616d706c652e636f6d0001bb010003a00b000e6f782e6578616d706c65" +
    "2e636f6d00a00900154a53455353494f4e49443d3066336339612e4f583100a0" +
    "0100032a2f2a000c00067333637233740005000b616374696f6e3d70696e6700" +
    "0600034f5831000a000f414a505f52454d4f54455f504f525400000535313233" +
    "3400ff",
  "hex",
);

interface AjpReply {
  raw: Buffer;
  packets: { type: number; payload: Buffer }[];
  closedByPeer: boolean;
}

/** Sends bytes, collects container packets until END_RESPONSE/CPONG, a close, or 5 s. */
function exchange(port: number, bytes: Buffer): Promise<AjpReply> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: "127.0.0.1", port });
    let buf = Buffer.alloc(0);
    const reply: AjpReply = { raw: Buffer.alloc(0), packets: [], closedByPeer: false };
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      reply.raw = buf;
      // Give the peer a moment to close after END_RESPONSE reuse=0, so the test can see it.
      setTimeout(() => {
        sock.destroy();
        resolve(reply);
      }, 100);
    };
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no complete AJP reply within 5 s; got ${buf.toString("hex")}`));
    }, 5000);
    sock.on("connect", () => sock.write(bytes));
    let consumed = 0;
    sock.on("data", (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length - consumed >= 4) {
        expect(buf.readUInt16BE(consumed)).toBe(0x4142);
        const len = buf.readUInt16BE(consumed + 2);
        if (buf.length - consumed < 4 + len) break;
        const payload = buf.subarray(consumed + 4, consumed + 4 + len);
        consumed += 4 + len;
        reply.packets.push({ type: payload[0], payload });
        // Tomcat cannot tell "no body" from "body of unknown length" without a
        // Content-Length, so a servlet that reads the body (echo does) makes it ask; an empty
        // body packet ends the body, as mod_proxy_ajp answers.
        if (payload[0] === 6) sock.write(Buffer.from([0x12, 0x34, 0x00, 0x00]));
        if (payload[0] === 5 || payload[0] === 9) finish();
      }
    });
    sock.on("end", () => (reply.closedByPeer = true));
    sock.on("close", () => {
      reply.closedByPeer = true;
      finish();
    });
    sock.on("error", () => undefined);
  });
}

const RESPONSE_HEADER_NAMES = [
  "",
  "Content-Type",
  "Content-Language",
  "Content-Length",
  "Date",
  "Last-Modified",
  "Location",
  "Set-Cookie",
  "Set-Cookie2",
  "Servlet-Engine",
  "Status",
  "WWW-Authenticate",
];

function parseSendHeaders(p: Buffer): { status: number; reason: string; headers: [string, string][] } {
  let o = 1;
  const str = () => {
    const len = p.readUInt16BE(o);
    const s = p.subarray(o + 2, o + 2 + len).toString("latin1");
    o += 3 + len;
    return s;
  };
  const status = p.readUInt16BE(o);
  o += 2;
  const reason = str();
  const n = p.readUInt16BE(o);
  o += 2;
  const headers: [string, string][] = [];
  for (let i = 0; i < n; i++) {
    let name: string;
    if (p[o] === 0xa0) {
      name = RESPONSE_HEADER_NAMES[p[o + 1]];
      o += 2;
    } else {
      name = str();
    }
    headers.push([name, str()]);
  }
  return { status, reason, headers };
}

function headersOf(reply: AjpReply): ReturnType<typeof parseSendHeaders> {
  const p = reply.packets.find((x) => x.type === 4);
  if (!p) throw new Error(`no SEND_HEADERS in ${reply.raw.toString("hex")}`);
  return parseSendHeaders(p.payload);
}

function bodyOf(reply: AjpReply): string {
  return Buffer.concat(
    reply.packets.filter((p) => p.type === 3).map((p) => p.payload.subarray(3, 3 + p.payload.readUInt16BE(1))),
  ).toString("utf8");
}

async function pollUntil(fn: () => Promise<boolean>, timeoutMs = 3000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await fn()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return fn();
}

// --- the suite ------------------------------------------------------------------------------

describe.runIf(checkInteropPrereqs().ok)("Tomcat launcher (real Tomcat 10)", () => {
  let ox1: TomcatNode;
  let ox2: TomcatNode;
  let startupMs = 0;

  beforeAll(async () => {
    const t0 = Date.now();
    // The secret from docs/ajp13.md (Worked examples, A GET request), so the document's example bytes can be replayed verbatim.
    [ox1, ox2] = await startTomcatCluster(["OX1", "OX2"], { secret: "s3cr3t" });
    startupMs = Date.now() - t0;
  });

  afterAll(async () => {
    await Promise.all([ox1?.stop(), ox2?.stop()]);
  });

  it("starts both nodes on distinct loopback ports in bounded time", () => {
    const ports = new Set([ox1.ajpPort, ox1.httpPort, ox2.ajpPort, ox2.httpPort]);
    expect(ports.size).toBe(4);
    expect(ox1.pid).toBeGreaterThan(0);
    expect(ox1.baseDir).toContain(".tmp/tomcat-OX1-");
    expect(startupMs).toBeLessThan(30_000);
    console.log(`two Tomcat nodes ready in ${startupMs} ms`);
  });

  it("serves /ajax/echo over HTTP with the node's route", async () => {
    for (const [node, route] of [
      [ox1, "OX1"],
      [ox2, "OX2"],
    ] as const) {
      const res = await fetch(`http://127.0.0.1:${node.httpPort}/ajax/echo?a=1&a=2`, {
        headers: { "x-multi": "one" },
      });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("application/json");
      const body = (await res.json()) as TomcatEcho;
      expect(body).toMatchObject({ node: route, method: "GET", requestURI: "/ajax/echo", queryString: "a=1&a=2", bodyLength: 0 });
      expect(body.headers).toContainEqual(["x-multi", "one"]);
    }
  });

  it("answers under every OX prefix, for any method, and hashes uploaded bodies", async () => {
    for (const prefix of ["/servlet/axis2", "/infostore", "/publications", "/Microsoft-Server-ActiveSync", "/usm-json"]) {
      const res = await fetch(`http://127.0.0.1:${ox1.httpPort}${prefix}/echo`, { method: "PATCH", body: "hello" });
      const body = (await res.json()) as TomcatEcho;
      expect(body).toMatchObject({ node: "OX1", method: "PATCH", bodyLength: 5 });
      expect(body.bodySha256).toBe(createHash("sha256").update("hello").digest("hex"));
    }
    const odd = await fetch(`http://127.0.0.1:${ox1.httpPort}/ajax/echo`, { method: "PROPFIND" });
    expect(((await odd.json()) as TomcatEcho).method).toBe("PROPFIND");
    const head = await fetch(`http://127.0.0.1:${ox1.httpPort}/ajax/echo`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe("");
  });

  it("sends the download pattern with and without a length", async () => {
    const size = 1_000_003;
    const fixed = await fetch(`http://127.0.0.1:${ox1.httpPort}/ajax/download?size=${size}`);
    expect(fixed.headers.get("content-length")).toBe(String(size));
    const fixedBody = Buffer.from(await fixed.arrayBuffer());
    expect(createHash("sha256").update(fixedBody).digest("hex")).toBe(patternSha256(size));
    expect(fixedBody.subarray(70_000, 70_100).equals(patternBytes(70_000, 100))).toBe(true);

    const chunked = await fetch(`http://127.0.0.1:${ox1.httpPort}/ajax/download?size=${size}&chunked=1`);
    expect(chunked.headers.get("content-length")).toBeNull();
    const chunkedBody = Buffer.from(await chunked.arrayBuffer());
    expect(createHash("sha256").update(chunkedBody).digest("hex")).toBe(patternSha256(size));
  });

  it("has status, slow and cookie endpoints", async () => {
    const nf = await fetch(`http://127.0.0.1:${ox2.httpPort}/ajax/status?code=404`);
    expect(nf.status).toBe(404);
    expect(await nf.text()).toBe("node OX2 says 404");
    const err = await fetch(`http://127.0.0.1:${ox2.httpPort}/ajax/status?code=500`);
    expect(err.status).toBe(500);
    expect(await err.text()).toBe("node OX2 says 500");
    const none = await fetch(`http://127.0.0.1:${ox2.httpPort}/ajax/status?code=204`);
    expect(none.status).toBe(204);
    const slow = await fetch(`http://127.0.0.1:${ox2.httpPort}/ajax/slow?ms=50`);
    expect(await slow.text()).toBe("slow done");
    const cookies = await fetch(`http://127.0.0.1:${ox2.httpPort}/ajax/cookies`);
    expect(cookies.headers.getSetCookie()).toHaveLength(3);
  });

  it("issues JSESSIONID=<hex>.OX1 plus the OX cookies on /ajax/login, and knows the session after", async () => {
    const res = await fetch(`http://127.0.0.1:${ox1.httpPort}/ajax/login`);
    const cookies = res.headers.getSetCookie();
    const jsession = cookies.find((c) => c.startsWith("JSESSIONID="));
    expect(jsession).toMatch(/^JSESSIONID=[0-9A-F]+\.OX1;/);
    expect(cookies.some((c) => c.startsWith("open-xchange-session="))).toBe(true);
    expect(cookies.some((c) => c.startsWith("open-xchange-secret="))).toBe(true);
    const { sessionId } = (await res.json()) as { sessionId: string };
    expect(jsession).toContain(sessionId);

    const check = await fetch(`http://127.0.0.1:${ox1.httpPort}/ajax/session`, { headers: { cookie: `JSESSIONID=${sessionId}` } });
    expect(await check.json()).toEqual({ node: "OX1", requestedSessionId: sessionId, valid: true });
    const elsewhere = await fetch(`http://127.0.0.1:${ox2.httpPort}/ajax/session`, { headers: { cookie: `JSESSIONID=${sessionId}` } });
    expect(((await elsewhere.json()) as { valid: boolean }).valid).toBe(false);
  });

  it("answers an AJP CPing with a CPong", async () => {
    const reply = await exchange(ox1.ajpPort, Buffer.from([0x12, 0x34, 0x00, 0x01, 0x0a]));
    expect(reply.raw.toString("hex")).toBe("4142000109");
    expect(await ajpCping(ox2.ajpPort)).toBe(true);
  });

  it("serves a hand-built AJP forward request carrying the secret", async () => {
    const reply = await exchange(
      ox1.ajpPort,
      forwardGet("/ajax/echo", { secret: "s3cr3t", query: "x=1", remoteAddr: "198.51.100.9", remotePort: 40123 }),
    );
    // GET_BODY_CHUNK first: echo reads the body and the request has no Content-Length.
    expect(reply.packets.map((p) => p.type).slice(0, 2)).toEqual([6, 4]);
    const head = headersOf(reply);
    expect(head.status).toBe(200);
    expect(head.headers).toContainEqual(["Content-Type", "application/json"]);
    const body = JSON.parse(bodyOf(reply));
    expect(body).toMatchObject({
      node: "OX1",
      queryString: "x=1",
      remoteAddr: "198.51.100.9",
      remotePort: 40123,
      isSecure: true,
      scheme: "https",
      serverName: "ox.example.com",
      serverPort: 443,
    });
    const end = reply.packets.at(-1)!;
    expect(end.payload.toString("hex")).toBe("0501"); // END_RESPONSE, reuse
  });

  it("accepts the example bytes of docs/ajp13.md (Worked examples) verbatim", async () => {
    const reply = await exchange(ox2.ajpPort, DOC_EXAMPLE_12_1);
    const head = headersOf(reply);
    // Accepted (not 403): the app itself answers, and it has no /system endpoint.
    expect(head.status).toBe(404);
    expect(JSON.parse(bodyOf(reply))).toMatchObject({ node: "OX2", error: "unknown endpoint" });
  });

  it("rejects a wrong or missing secret with 403 and END_RESPONSE reuse=0", async () => {
    for (const secret of ["wrong", undefined]) {
      const reply = await exchange(ox1.ajpPort, forwardGet("/ajax/echo", { secret }));
      const head = headersOf(reply);
      expect(head.status).toBe(403);
      expect(head.headers).toContainEqual(["Content-Type", "text/html;charset=utf-8"]);
      // Tomcat's own HTML error page: the app never ran.
      expect(bodyOf(reply)).toContain("HTTP Status 403");
      expect(bodyOf(reply)).not.toContain("OX1");
      expect(reply.packets.at(-1)!.payload.toString("hex")).toBe("0500");
      // Measured on 10.1.60: despite reuse=0 Tomcat leaves the socket open (and would serve
      // a correct request on it), so closing it is entirely the client's job.
      expect(reply.closedByPeer).toBe(false);
    }
  });

  it("counts open AJP connections from /proc/net/tcp", async () => {
    expect(await pollUntil(async () => (await ox2.ajpConnectionCount()) === 0)).toBe(true);
    const sock = net.connect({ host: "127.0.0.1", port: ox2.ajpPort });
    await new Promise<void>((resolve, reject) => sock.once("connect", resolve).once("error", reject));
    try {
      expect(await pollUntil(async () => (await ox2.ajpConnectionCount()) === 1)).toBe(true);
      expect(await ox1.ajpConnectionCount()).toBe(0);
    } finally {
      sock.destroy();
    }
    expect(await pollUntil(async () => (await ox2.ajpConnectionCount()) === 0)).toBe(true);
  });

  it("pauses into a node that accepts TCP but never answers, and resumes", async () => {
    ox1.pause();
    try {
      const sock = net.connect({ host: "127.0.0.1", port: ox1.ajpPort });
      await new Promise<void>((resolve, reject) => sock.once("connect", resolve).once("error", reject));
      sock.destroy();
      expect(await ajpCping(ox1.ajpPort, 300)).toBe(false);
    } finally {
      ox1.resume();
    }
    expect(await ajpCping(ox1.ajpPort)).toBe(true);
  });

  it("stops and restarts on the same ports, without the old sessions", async () => {
    const login = await fetch(`http://127.0.0.1:${ox2.httpPort}/ajax/login`);
    const { sessionId } = (await login.json()) as { sessionId: string };
    const { ajpPort, httpPort, pid } = ox2;

    await ox2.stop();
    expect(await ajpCping(ajpPort, 500)).toBe(false);
    await expect(fetch(`http://127.0.0.1:${httpPort}/ajax/echo`)).rejects.toThrow();

    const t0 = Date.now();
    await ox2.restart();
    console.log(`restart ready in ${Date.now() - t0} ms`);
    expect([ox2.ajpPort, ox2.httpPort]).toEqual([ajpPort, httpPort]);
    expect(ox2.pid).not.toBe(pid);
    expect(await ajpCping(ajpPort)).toBe(true);
    const check = await fetch(`http://127.0.0.1:${httpPort}/ajax/session`, { headers: { cookie: `JSESSIONID=${sessionId}` } });
    expect(await check.json()).toMatchObject({ node: "OX2", valid: false });
  });
});
