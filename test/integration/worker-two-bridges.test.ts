/**
 * Several bridges behind one worker, nothing stubbed: the worker bundle in
 * workerd (Miniflare), two real bridges that both know both demo AJP nodes.
 * The worker spreads requests by BRIDGE_URLS weights (worker/bridges.ts);
 * sessions stay on their node whichever bridge carries a request; a stopped
 * bridge costs no bodyless request.
 *
 * Harness for checks that need every bridge: `bridges` lists them with their
 * admin URLs, `viaWorker` counts which bridge carried each request.
 */
import type { IncomingMessage } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDemoNode, type DemoNode } from "../../peers/demo-node.ts";
import { ACCESS_HEADERS } from "../../common/edge-headers.ts";
import { startTestBridge, type TestBridge } from "../support/bridge.ts";
import { startWorker, TEST_SECRET, type WorkerHandle } from "../../peers/miniflare.ts";
import { accountingAfterEach } from "../support/accounting.ts";
import { adminCli } from "../../bridge/admin-cli.ts";

accountingAfterEach();

const HOST = "https://ox.example.com";
const CLIENT = "203.0.113.9";
const ADMIN_TOKEN = "two-bridges-admin-token-0123456789";
const ACCESS_ID = "0123abcd.access";
const ACCESS_SECRET = "access-secret-for-tests-only-4f9e";

interface CountedBridge {
  name: "A" | "B";
  bridge: TestBridge;
  /** Requests this bridge received, with the headers the worker sent. */
  seen: IncomingMessage["headers"][];
  closed: boolean;
}

let ox1: DemoNode, ox2: DemoNode, w: WorkerHandle;
const bridges: CountedBridge[] = [];

async function startCounted(name: "A" | "B"): Promise<CountedBridge> {
  const bridge = await startTestBridge(
    [
      { route: "OX1", port: ox1.port, node: ox1, secret: "a1", loadfactor: 50 },
      { route: "OX2", port: ox2.port, node: ox2, secret: "a2", loadfactor: 50 },
    ],
    { balancer: { healthcheck: 0 }, admin_listen: "127.0.0.1:0", admin_token_env: "OXEDGE_TEST_TWO_BRIDGES_TOKEN" },
    TEST_SECRET,
  );
  const b: CountedBridge = { name, bridge, seen: [], closed: false };
  bridge.server.on("request", (req: IncomingMessage) => b.seen.push(req.headers));
  return b;
}

beforeAll(async () => {
  process.env.OXEDGE_TEST_TWO_BRIDGES_TOKEN = ADMIN_TOKEN;
  [ox1, ox2] = await Promise.all([startDemoNode({ route: "OX1", secret: "a1" }), startDemoNode({ route: "OX2", secret: "a2" })]);
  bridges.push(await startCounted("A"), await startCounted("B"));
  w = await startWorker({
    BRIDGE_URLS: `${bridges[0].bridge.url} 3, ${bridges[1].bridge.url} 1`,
    ACCESS_CLIENT_ID: ACCESS_ID,
    ACCESS_CLIENT_SECRET: ACCESS_SECRET,
  });
});
afterAll(async () => {
  await w?.dispose();
  for (const b of bridges) if (!b.closed) await b.bridge.close();
  await Promise.all([ox1?.close(), ox2?.close()]);
});

const get = (path: string, headers: Record<string, string> = {}, init: RequestInit = {}) => w.fetch(HOST + path, { ...init, headers: { "cf-connecting-ip": CLIENT, ...headers } });

/** Runs `n` requests one after another; returns their JSON answers and how many each bridge carried. */
async function viaWorker<T>(n: number, send: () => Promise<Response>): Promise<{ answers: T[]; statuses: number[]; perBridge: Record<string, number> }> {
  const before = bridges.map((b) => b.seen.length);
  const answers: T[] = [];
  const statuses: number[] = [];
  for (let i = 0; i < n; i++) {
    const r = await send();
    statuses.push(r.status);
    answers.push(r.status === 200 ? ((await r.json()) as T) : (await r.arrayBuffer(), undefined as T));
  }
  const perBridge = Object.fromEntries(bridges.map((b, i) => [b.name, b.seen.length - before[i]]));
  return { answers, statuses, perBridge };
}

async function login(route: string): Promise<string> {
  for (let i = 0; i < 20; i++) {
    const r = await get("/ajax/login");
    await r.arrayBuffer();
    const id = /JSESSIONID=([^;]+)/.exec(r.headers.get("set-cookie") ?? "")?.[1] ?? "";
    if (id.endsWith(`.${route}`)) return id;
  }
  throw new Error(`no ${route} session in 20 logins`);
}

type Echo = { node: string; headers: string[] };
type Session = { node: string; valid: boolean };

describe("two bridges, weights 3:1", () => {
  it("splits 80 requests exactly 60:20 (round-robin per isolate)", async () => {
    const { statuses, perBridge } = await viaWorker(80, () => get("/ajax/echo"));
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(perBridge).toEqual({ A: 60, B: 20 });
  });

  it("sends the Access service token to every bridge; no node ever sees it, nor one a client sent", async () => {
    const { answers, perBridge } = await viaWorker<Echo>(8, () => get("/ajax/echo", { [ACCESS_HEADERS.clientSecret]: "forged-by-client", [ACCESS_HEADERS.assertion]: "forged.jwt" }));
    expect(perBridge).toEqual({ A: 6, B: 2 });
    for (const b of bridges) {
      for (const h of b.seen.slice(-perBridge[b.name])) {
        expect(h[ACCESS_HEADERS.clientId]).toBe(ACCESS_ID);
        expect(h[ACCESS_HEADERS.clientSecret]).toBe(ACCESS_SECRET);
        expect(h[ACCESS_HEADERS.assertion]).toBeUndefined();
      }
    }
    for (const e of answers) {
      const names = e.headers.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
      expect(names.filter((n) => n.startsWith("cf-access-"))).toEqual([]);
      expect(JSON.stringify(e.headers)).not.toContain(ACCESS_SECRET);
    }
  });

  it.each(["OX1", "OX2"])("a %s session keeps its node whichever bridge carries the request", async (route) => {
    const id = await login(route);
    const { answers, perBridge } = await viaWorker<Session>(20, () => get("/ajax/session", { cookie: `JSESSIONID=${id}` }));
    expect(answers.every((a) => a.node === route && a.valid)).toBe(true);
    // Both bridges carried some of them, so the session crossed from one bridge to the other.
    expect(perBridge.A).toBeGreaterThan(0);
    expect(perBridge.B).toBeGreaterThan(0);
  });
});

// A drain reaches both bridges: one `oxedge-bridge admin` command with both admin listeners.
describe("a drain applied to every bridge", () => {
  const admin = async (...argv: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await adminCli([...argv, "--bridges", bridges.map((b) => b.bridge.adminUrl!).join(",")], { out: (l) => out.push(l), err: (l) => err.push(l), env: { OXEDGE_ADMIN_TOKEN: ADMIN_TOKEN } });
    expect(code, [...out, ...err].join("\n")).toBe(0);
    // One line per bridge, each ok.
    expect(out.filter((l) => / ok\b/.test(l))).toHaveLength(bridges.length);
  };
  const state = (b: (typeof bridges)[number], route: string) => b.bridge.cluster.status().members.find((m) => m.route === route)!.status;

  it("new sessions avoid the drained node through both bridges; its sessions stay", async () => {
    const kept = await login("OX2");
    await admin("drain", "OX2");
    for (const b of bridges) expect(state(b, "OX2").drain).toBe(true);
    try {
      const fresh = await viaWorker<Echo>(12, () => get("/ajax/echo"));
      expect(fresh.answers.map((a) => a.node)).toEqual(Array(12).fill("OX1"));
      expect(fresh.perBridge).toEqual({ A: 9, B: 3 });
      const sticky = await viaWorker<Session>(8, () => get("/ajax/session", { cookie: `JSESSIONID=${kept}` }));
      expect(sticky.answers.every((a) => a.node === "OX2" && a.valid)).toBe(true);
    } finally {
      await admin("enable", "OX2");
    }
    for (const b of bridges) expect(state(b, "OX2").drain).toBe(false);
  });
});

describe("a bridge stops", () => {
  it("a request it holds ends in a 502 whose log says what happened, with the request id the bridge logged", async () => {
    // A third bridge of its own, so the request is known to be on it when it stops.
    const c = await startCounted("A");
    const w1 = await startWorker({ BRIDGE_URLS: c.bridge.url });
    try {
      const pending = w1.fetch(`${HOST}/ajax/slow?ms=3000`, { headers: { "cf-connecting-ip": CLIENT } }).then(async (r) => ({ status: r.status, text: await r.text() }));
      const started = Date.now();
      while (c.seen.length === 0 && Date.now() - started < 5000) await new Promise((r) => setTimeout(r, 10));
      expect(c.seen.length).toBe(1);
      await new Promise((r) => setTimeout(r, 300));
      await c.bridge.close();
      c.closed = true;
      const r = await pending;
      expect(r.status).toBe(502);
      const id = /request id: ([0-9a-f-]{36})/.exec(r.text)?.[1];
      expect(id).toBeDefined();
      const line = w1.logs.find((l) => l.includes("kind=bridge-unavailable") && l.includes(id!));
      expect(line, w1.logs.join("\n")).toBeDefined();
      expect(line).toContain("no bridge answered");
      expect(line).toContain(`${c.bridge.url}: no answer, connection refused or lost`);
      expect(line).toMatch(/after \d{3,} ms/);
      expect(line).not.toContain("no bridge reachable");
      // The bridge did get it, under the same id.
      expect(c.seen[0]["x-oxedge-request-id"]).toBe(id);
    } finally {
      await w1.dispose();
      if (!c.closed) await c.bridge.close();
    }
  });

  it("one bridge stopped: every bodyless request goes to the other and none fails; bodies follow once it is skipped", async () => {
    const [a, b] = bridges;
    await a.bridge.close();
    a.closed = true;
    const gets = await viaWorker<Echo>(20, () => get("/ajax/echo"));
    expect(gets.statuses).toEqual(Array(20).fill(200));
    expect(gets.perBridge).toEqual({ A: 0, B: 20 });
    const posts = await viaWorker<{ bodyLength: number }>(5, () => get("/ajax/upload-digest", {}, { method: "POST", body: "x=1" }));
    expect(posts.statuses).toEqual(Array(5).fill(200));
    expect(posts.answers.map((p) => p.bodyLength)).toEqual(Array(5).fill(3));
    expect(b.seen.length).toBeGreaterThan(0);
    // Only the first request after the stop found the bridge gone; the log line says so.
    const failovers = w.logs.filter((l) => l.startsWith("{") && (JSON.parse(l) as { failed?: string[] }).failed?.includes(a.bridge.url));
    expect(failovers.length).toBe(1);
  });
});
