/**
 * App Suite push end to end: worker (workerd) → bridge → real Tomcat 10's
 * own WebSocket implementation (a JSR 356 endpoint at /socket.io/ws, the
 * test app's PushSocket), over HTTP members. The handshake follows the
 * session's route, large messages arrive intact both ways, a close on
 * either end reaches the other, a killed node closes its clients' sockets,
 * and a page in headless Chromium shows the node's pushed messages.
 */
import { createHash, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkBrowserPrereqs, checkInteropPrereqs } from "../../peers/prereqs.ts";
import { artifactPath, startChromium } from "../../peers/chromium.ts";
import { startTomcatCluster, type TomcatNode } from "../../peers/tomcat.ts";
import { accountingAfterEach } from "../support/accounting.ts";
import { startTestBridge, tomcatMember, type TestBridge } from "../support/bridge.ts";
import { startWorker, TEST_SECRET, type WorkerHandle } from "../../peers/miniflare.ts";
import { until } from "../support/wait.ts";
import fs from "node:fs";

accountingAfterEach();

const prereqs = checkInteropPrereqs();
const browser = checkBrowserPrereqs();
const HOST = "https://ox.example.com";
const CLIENT = "203.0.113.70";
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** The WebSocket workerd hands back for an accepted upgrade. */
interface EdgeSocket {
  accept(): void;
  send(data: string | ArrayBuffer | Uint8Array): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: "message", cb: (e: { data: string | ArrayBuffer }) => void): void;
  addEventListener(type: "close", cb: (e: { code: number; reason: string }) => void): void;
}

interface Opened {
  status: number;
  ws: EdgeSocket;
  messages: (string | Buffer)[];
  closed: { code?: number; reason?: string };
}

describe.runIf(prereqs.ok)("WebSocket push: worker → bridge → real Tomcat 10", () => {
  let nodes: TomcatNode[];
  let bridge: TestBridge;
  let w: WorkerHandle;
  const sessions = new Map<string, string>();

  beforeAll(async () => {
    nodes = await startTomcatCluster(["OX1", "OX2"]);
    bridge = await startTestBridge(
      nodes.map((n) => tomcatMember(n, "http", { loadfactor: 50 })),
      { paths: "appsuite7", balancer: { healthcheck: 0.5, retry: 30 } },
      TEST_SECRET,
    );
    w = await startWorker({ BRIDGE_URLS: bridge.url, PATH_MAP: "appsuite7" }, { https: true });
    // One session on each node, logged in through the edge.
    for (let i = 0; i < 20 && sessions.size < 2; i++) {
      const r = await w.fetch(`${HOST}/ajax/login`, { headers: { "cf-connecting-ip": CLIENT } });
      const id = /JSESSIONID=([^;]+)/.exec(r.headers.getSetCookie().join("\n"))?.[1];
      if (id) sessions.set(id.slice(id.indexOf(".") + 1), id);
    }
  });
  afterAll(async () => {
    await w?.dispose();
    await bridge?.close();
    await Promise.all((nodes ?? []).map((n) => n.stop()));
  });

  async function open(route?: string): Promise<Opened> {
    const headers: Record<string, string> = { upgrade: "websocket", "cf-connecting-ip": CLIENT };
    if (route) headers.cookie = `JSESSIONID=${sessions.get(route)}`;
    const r = await w.fetch(`${HOST}/socket.io/ws`, { headers });
    const ws = (r as unknown as { webSocket?: EdgeSocket }).webSocket;
    expect(r.status).toBe(101);
    const messages: (string | Buffer)[] = [];
    const closed: Opened["closed"] = {};
    ws!.addEventListener("message", (e) => messages.push(typeof e.data === "string" ? e.data : Buffer.from(e.data)));
    ws!.addEventListener("close", (e) => Object.assign(closed, { code: e.code, reason: e.reason }));
    ws!.accept();
    return { status: r.status, ws: ws!, messages, closed };
  }

  it("the handshake goes to the session's node: 50 of 50, and the node knows the session", async () => {
    expect([...sessions.keys()].sort()).toEqual(["OX1", "OX2"]);
    for (let i = 0; i < 50; i++) {
      const route = i % 2 ? "OX2" : "OX1";
      const s = await open(route);
      expect(await until(() => s.messages.length >= 1)).toBe(true);
      expect(s.messages[0]).toBe(`hello node=${route} session=${sessions.get(route)}`);
      s.ws.close(1000, "done");
      expect(await until(() => s.closed.code !== undefined)).toBe(true);
    }
    expect(await until(() => bridge.cluster.status().members.every((m) => m.pool.websockets === 0))).toBe(true);
  });

  it("echoes 10 MiB both ways intact, text and binary, and the node's pushes arrive in order", async () => {
    const s = await open("OX1");
    expect(await until(() => s.messages.length >= 1)).toBe(true);
    const binary = randomBytes(10 * 1024 * 1024);
    s.ws.send(binary);
    expect(await until(() => s.messages.length >= 2, 30_000)).toBe(true);
    expect(sha(s.messages[1] as Buffer)).toBe(sha(binary));
    const text = "ö".repeat(5 * 1024 * 1024);
    s.ws.send(text);
    expect(await until(() => s.messages.length >= 3, 30_000)).toBe(true);
    expect(s.messages[2]).toBe(text);
    s.ws.send("push 200");
    expect(await until(() => s.messages.length >= 203, 10_000)).toBe(true);
    expect(s.messages.slice(3)).toEqual(Array.from({ length: 200 }, (_, i) => `push ${i + 1}/200 node=OX1`));
    s.ws.close();
  });

  it("a close from the node reaches the client with its code and reason; one from the client frees the node's connection", async () => {
    const s = await open("OX2");
    expect(await until(() => s.messages.length >= 1)).toBe(true);
    s.ws.send("close 4003 node says bye");
    expect(await until(() => s.closed.code !== undefined)).toBe(true);
    expect(s.closed).toEqual({ code: 4003, reason: "node says bye" });

    // What the node holds besides WebSockets is the pool's idle connections, and those may come
    // and go meanwhile (keep-alive limits): the books are kept against the pool, not a count taken before.
    const ox1 = () => bridge.cluster.status().members[0].pool;
    const c = await open("OX1");
    try {
      expect(await until(() => c.messages.length >= 1)).toBe(true);
      expect(ox1().websockets).toBe(1);
      expect(await until(async () => (await nodes[0].httpConnectionCount()) === ox1().idle + 1, 5000)).toBe(true);
    } finally {
      c.ws.close(1000, "client says bye");
    }
    expect(await until(() => ox1().websockets === 0)).toBe(true);
    expect(await until(async () => (await nodes[0].httpConnectionCount()) === ox1().idle, 5000)).toBe(true);
  });

  it.runIf(browser.ok)("a page in headless Chromium opens the socket through the chain and shows the pushed messages", async () => {
    const chrome = await startChromium({ args: ["--ignore-certificate-errors"] });
    try {
      const page = await chrome.newPage();
      await page.goto(new URL("/push.html?auto", w.url).toString());
      await page.waitForFunction("document.querySelectorAll('#messages li').length >= 6", undefined, { timeout: 15_000 });
      const items = await page.$$eval("#messages li", (lis) => lis.map((li) => li.textContent ?? ""));
      expect(items[0]).toMatch(/^hello node=OX[12] session=none$/);
      const node = /node=(OX[12])/.exec(items[0])![1];
      expect(items.slice(1, 6)).toEqual([1, 2, 3, 4, 5].map((i) => `push ${i}/5 node=${node}`));
      expect(await page.textContent("#state")).toBe("open");
      const png = artifactPath("websocket-push.png");
      await page.screenshot({ path: png });
      expect(fs.statSync(png).size).toBeGreaterThan(5000);
    } finally {
      await chrome.close();
    }
  });

  it("a killed node closes its clients' sockets within the probe interval", async () => {
    const s = await open("OX2");
    expect(await until(() => s.messages.length >= 1)).toBe(true);
    const t0 = Date.now();
    await nodes[1].kill();
    expect(await until(() => s.closed.code !== undefined, 5000)).toBe(true);
    // The socket's TCP connection dies with the JVM; at worst the next probe (every 0.5 s) finds it.
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(bridge.cluster.status().members[1].pool.websockets).toBe(0);
  });
});
