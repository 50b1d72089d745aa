/**
 * WebSocket push through the whole chain in workerd: the worker (Miniflare)
 * passes the upgrade of a WebSocket prefix to the bridge, signed, with the
 * session's route; the bridge relays to the node of that route; messages go
 * both ways and a close on either end reaches the other.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { accountingAfterEach } from "../support/accounting.ts";
import { startTestBridge, type TestBridge } from "../support/bridge.ts";
import { startWorker, TEST_SECRET, type WorkerHandle } from "../../peers/miniflare.ts";
import { until } from "../support/wait.ts";
import { startWsNode, type WsNode } from "../support/ws.ts";

accountingAfterEach();

const HOST = "https://ox.example.com";

/** The WebSocket Miniflare hands back for an accepted upgrade (workers' WebSocket API). */
interface EdgeSocket {
  accept(): void;
  send(data: string | ArrayBuffer): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: "message", cb: (e: { data: string | ArrayBuffer }) => void): void;
  addEventListener(type: "close", cb: (e: { code: number }) => void): void;
}

describe("worker → bridge → node WebSocket", () => {
  let ox1: WsNode;
  let ox2: WsNode;
  let b: TestBridge;
  let w: WorkerHandle;

  beforeAll(async () => {
    [ox1, ox2] = await Promise.all([startWsNode("OX1"), startWsNode("OX2")]);
    b = await startTestBridge(
      [
        { route: "OX1", address: `http://127.0.0.1:${ox1.port}`, port: ox1.port },
        { route: "OX2", address: `http://127.0.0.1:${ox2.port}`, port: ox2.port },
      ],
      { paths: "appsuite7", balancer: { healthcheck: 0 } },
      TEST_SECRET,
    );
    w = await startWorker({ BRIDGE_URLS: b.url, PATH_MAP: "appsuite7" });
  });
  afterAll(async () => {
    await w?.dispose();
    await b?.close();
    await Promise.all([ox1?.close(), ox2?.close()]);
  });

  async function open(path: string, cookie?: string): Promise<{ status: number; ws: EdgeSocket | undefined; messages: string[]; closed: { code?: number } }> {
    const r = await w.fetch(HOST + path, { headers: { upgrade: "websocket", "cf-connecting-ip": "203.0.113.60", ...(cookie ? { cookie } : {}) } });
    const ws = (r as unknown as { webSocket?: EdgeSocket }).webSocket ?? undefined;
    const messages: string[] = [];
    const closed: { code?: number } = {};
    if (ws) {
      // Listeners first: accept() delivers what already came.
      ws.addEventListener("message", (e) => messages.push(typeof e.data === "string" ? e.data : Buffer.from(e.data).toString()));
      ws.addEventListener("close", (e) => (closed.code = e.code));
      ws.accept();
    }
    return { status: r.status, ws, messages, closed };
  }

  it("opens on the session's node, 20 of 20, and echoes and pushes", async () => {
    for (let i = 0; i < 20; i++) {
      const route = i % 2 ? "OX2" : "OX1";
      const s = await open("/socket.io/?EIO=3&transport=websocket", `JSESSIONID=abc${i}.${route}`);
      expect(s.status).toBe(101);
      expect(await until(() => s.messages.length >= 1)).toBe(true);
      expect(s.messages[0]).toBe(`hello node=${route}`);
      s.ws!.send("push 3");
      s.ws!.send("echo me");
      expect(await until(() => s.messages.length >= 5)).toBe(true);
      expect(s.messages.slice(1)).toEqual([`push 1/3 node=${route}`, `push 2/3 node=${route}`, `push 3/3 node=${route}`, "echo me"]);
      s.ws!.close(1000, "bye");
      expect(await until(() => b.cluster.status().members.every((m) => m.pool.websockets === 0))).toBe(true);
    }
    // The node saw the client's address as the edge knows it.
    const h = ox1.upgrades[ox1.upgrades.length - 1];
    expect(h[h.findIndex((x, i) => i % 2 === 0 && x.toLowerCase() === "x-forwarded-for") + 1]).toBe("203.0.113.60");
  });

  it("a close from the node reaches the client", async () => {
    const s = await open("/socket.io/", "JSESSIONID=x.OX2");
    expect(await until(() => s.messages.length >= 1)).toBe(true);
    s.ws!.send("close 4002");
    expect(await until(() => s.closed.code !== undefined)).toBe(true);
    expect(s.closed.code).toBe(4002);
  });

  it("an upgrade outside a WebSocket prefix is refused at the edge and reaches no node", async () => {
    const before = ox1.upgrades.length + ox2.upgrades.length;
    const s = await open("/ajax/ws");
    expect(s.status).toBe(400);
    expect(s.ws).toBeUndefined();
    expect(ox1.upgrades.length + ox2.upgrades.length).toBe(before);
  });
});
