// `Expect: 100-continue` from a client, and interim (1xx) or out-of-range
// answers from a bridge: the worker in workerd (Miniflare) against a stub
// bridge and against raw-socket stubs that write status lines by hand.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHash, randomBytes } from "node:crypto";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { expectContinueRequest, startWorker, TEST_SECRET, type WorkerHandle } from "../../peers/miniflare.ts";
import { startStubBridge, type StubBridge } from "../support/stub-bridge.ts";

const HOST = "https://app.example.com";
const CLIENT = "203.0.113.9";

interface Echo {
  method: string;
  headers: Record<string, string>;
  bodyLength: number;
  bodySha256: string;
}

interface RawBridge {
  url: string;
  /** Request heads received (one per request). */
  heads: string[];
  close(): Promise<void>;
}

/**
 * A "bridge" that answers each request head with bytes written by hand:
 * workerd's fetch resolves with whatever status line comes first, which a
 * Node HTTP server will not send on its own except as `100 Continue`.
 */
async function startRawBridge(answer: (socket: net.Socket) => void): Promise<RawBridge> {
  const heads: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    let buf = "";
    let answered = false;
    socket.on("data", (d: Buffer) => {
      if (answered) return;
      buf += d.toString("latin1");
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      answered = true;
      heads.push(buf.slice(0, end));
      answer(socket);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    heads,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

const FINAL_OK = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok";
const later = (socket: net.Socket, bytes: string) => setTimeout(() => socket.end(bytes), 30);

/** What each stub writes after the request head. */
const ANSWERS: [string, number, (s: net.Socket) => void][] = [
  ["100 Continue, then a final 200", 100, (s) => {
    s.write("HTTP/1.1 100 Continue\r\n\r\n");
    later(s, FINAL_OK);
  }],
  ["100 Continue and a final 200 in one write", 100, (s) => s.end(`HTTP/1.1 100 Continue\r\n\r\n${FINAL_OK}`)],
  ["103 Early Hints, then a final 200", 103, (s) => {
    s.write("HTTP/1.1 103 Early Hints\r\nlink: </a.css>; rel=preload\r\n\r\n");
    later(s, FINAL_OK);
  }],
  ["only 100 Continue, then close", 100, (s) => {
    s.write("HTTP/1.1 100 Continue\r\n\r\n");
    later(s, "");
  }],
  ["only 102 Processing, then close", 102, (s) => {
    s.write("HTTP/1.1 102 Processing\r\n\r\n");
    later(s, "");
  }],
  // Without an upgrade requested, workerd hands back a 101 with no WebSocket.
  ["101 Switching Protocols nobody asked for", 101, (s) => {
    s.write("HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: x\r\n\r\n");
    later(s, "");
  }],
  ["a status past 599", 600, (s) => s.end("HTTP/1.1 600 Odd\r\ncontent-length: 2\r\n\r\nok")],
];

describe("Expect: 100-continue from the client", () => {
  let stub: StubBridge;
  let w: WorkerHandle;
  beforeAll(async () => {
    stub = await startStubBridge({ secret: TEST_SECRET });
    w = await startWorker({ BRIDGE_URLS: stub.url });
  });
  afterAll(async () => {
    await w?.dispose();
    await stub?.close();
  });

  it("is answered at the edge: the bridge sees no Expect and gets the whole body", async () => {
    const body = randomBytes(300 * 1024 + 5);
    const before = stub.requests.length;
    const r = await expectContinueRequest(w, `${HOST}/ajax/upload`, {
      headers: { "cf-connecting-ip": CLIENT, "content-type": "application/octet-stream" },
      body,
      // workerd does not answer 100 itself (Cloudflare's edge does): keep the client's wait short.
      continueWaitMs: 200,
    });
    expect(r.status, r.body.toString()).toBe(200);
    const echo = JSON.parse(r.body.toString()) as Echo;
    expect(echo.method).toBe("POST");
    expect(echo.headers.expect).toBeUndefined();
    expect(echo.bodyLength).toBe(body.length);
    expect(echo.bodySha256).toBe(createHash("sha256").update(body).digest("hex"));
    expect(stub.requests.length).toBe(before + 1);
    expect(stub.requests.at(-1)).toMatchObject({ signatureOk: true, bodyLength: body.length });
    expect(stub.requests.at(-1)?.headers.expect).toBeUndefined();
    expect(w.logs.filter((l) => l.includes("oxedge-worker error"))).toEqual([]);
  });

  it("also when the client sends the body without waiting", async () => {
    const body = randomBytes(64 * 1024);
    const r = await expectContinueRequest(w, `${HOST}/infostore/put`, { method: "PUT", headers: { "cf-connecting-ip": CLIENT }, body, continueWaitMs: 0 });
    expect(r.status).toBe(200);
    const echo = JSON.parse(r.body.toString()) as Echo;
    expect(echo.headers.expect).toBeUndefined();
    expect(echo.bodySha256).toBe(createHash("sha256").update(body).digest("hex"));
  });
});

describe("a bridge answering with a status the edge cannot pass on", () => {
  it.each(ANSWERS)("%s: 502 backend-protocol and one log line, never a 500", async (_name, status, answer) => {
    const raw = await startRawBridge(answer);
    const w = await startWorker({ BRIDGE_URLS: raw.url });
    try {
      for (const init of [{ method: "GET" }, { method: "POST", body: "x=1" }]) {
        const logsBefore = w.logs.length;
        const r = await w.fetch(`${HOST}/ajax/x`, { ...init, headers: { "cf-connecting-ip": CLIENT } });
        expect(r.status, init.method).toBe(502);
        expect(await r.text()).toMatch(/^502 backend-protocol\nrequest id: [0-9a-f-]{36}\n$/);
        const lines = w.logs.slice(logsBefore).filter((l) => l.includes("oxedge-worker error"));
        expect(lines.length, lines.join("\n")).toBe(1);
        expect(lines[0]).toContain("kind=backend-protocol");
        expect(lines[0]).toContain(`answered with status ${status}`);
        expect(lines[0]).not.toContain("RangeError");
      }
      expect(raw.heads.length).toBe(2);
    } finally {
      await w.dispose();
      await raw.close();
    }
  });

  it("is not taken for unreachable: no failover to the next bridge, and it stays first", async () => {
    const raw = await startRawBridge((s) => s.end(`HTTP/1.1 100 Continue\r\n\r\n${FINAL_OK}`));
    const stub = await startStubBridge({ secret: TEST_SECRET });
    const w = await startWorker({ BRIDGE_URLS: `${raw.url} 1, ${stub.url} 0` });
    try {
      for (let i = 0; i < 3; i++) {
        const r = await w.fetch(`${HOST}/ajax/x`, { headers: { "cf-connecting-ip": CLIENT } });
        expect(r.status).toBe(502);
        await r.arrayBuffer();
      }
      // A marked bridge would have been skipped for the second and third request.
      expect(raw.heads.length).toBe(3);
      expect(stub.requests.length).toBe(0);
      expect(w.logs.some((l) => l.includes("kind=bridge-unavailable"))).toBe(false);
    } finally {
      await w.dispose();
      await stub.close();
      await raw.close();
    }
  });
});
