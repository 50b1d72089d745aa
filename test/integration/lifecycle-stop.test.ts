/**
 * Graceful stop of a bridge process (docs/lifecycle.md, Stop): SIGTERM
 * closes the listener at once, a request in flight finishes with its whole
 * answer (and Connection: close), an open WebSocket keeps relaying until
 * then and is closed with 1001, the process exits 0 and logs its counts;
 * a request longer than the grace is cut and logged as cut.
 */
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDemoNode, type DemoNode } from "../../peers/demo-node.ts";
import { canConnect } from "../../peers/ports.ts";
import { bridgeRequest, BRIDGE_SECRET, type BridgeResponse } from "../support/bridge.ts";
import { configDir, spawnBridge, type BridgeProcess } from "../support/bridge-process.ts";
import { until } from "../support/wait.ts";
import { openWs, startWsNode, type WsNode } from "../support/ws.ts";

const files = configDir();
const env = { ...process.env, OXEDGE_BRIDGE_SECRET: BRIDGE_SECRET };
let ox1: DemoNode;
let ox2: WsNode;
const running: BridgeProcess[] = [];

beforeAll(async () => {
  [ox1, ox2] = await Promise.all([startDemoNode({ route: "OX1" }), startWsNode("OX2")]);
});
afterAll(async () => {
  for (const b of running) await b.kill();
  await Promise.all([ox1?.close(), ox2?.close()]);
  files.remove();
});

async function bridgeProcess(name: string, grace: number): Promise<BridgeProcess> {
  const file = files.write(name, {
    listen: "127.0.0.1:0",
    paths: [
      { prefix: "/ajax", cluster: true },
      { prefix: "/socket.io", cluster: true, websocket: true },
    ],
    balancer: { healthcheck: 0 },
    lifecycle: { grace },
    members: [
      { route: "OX1", address: `127.0.0.1:${ox1.port}` },
      { route: "OX2", address: `http://127.0.0.1:${ox2.port}` },
    ],
  });
  const b = await spawnBridge(file, env);
  running.push(b);
  return b;
}

const port = (url: string) => Number(new URL(url).port);

describe("SIGTERM", () => {
  it("lets a 4 s request finish (200, whole body, Connection: close), closes the WebSocket with 1001, refuses new connections and exits 0", async () => {
    const b = await bridgeProcess("stop.json", 20);
    const ws = await openWs(b.url, { target: "/socket.io/?transport=websocket", route: "OX2" });
    expect(await ws.nextText()).toBe("hello node=OX2");
    // Keep-alive clients, as the edge's are: one connection left idle, one with the slow request.
    const idle = new http.Agent({ keepAlive: true });
    const busy = new http.Agent({ keepAlive: true });
    expect((await bridgeRequest(b.url, { target: "/ajax/echo", route: "OX1", agent: idle })).headers.connection).toBe("keep-alive");
    expect(Object.values(idle.freeSockets).flat().length).toBe(1);
    const started = Date.now();
    let served = 0;
    const slow = bridgeRequest(b.url, { target: "/ajax/slow?ms=4000", route: "OX1", agent: busy }).then((r) => ((served = Date.now() - started), r));
    await until(() => ox1.requestsSeen() >= 2, 5000);
    expect(ox1.requestsSeen()).toBe(2);

    b.proc.kill("SIGTERM");
    expect(await until(async () => !(await canConnect(port(b.url))), 2000), "listener closed at once").toBe(true);
    expect(await until(() => Object.values(idle.freeSockets).flat().length === 0, 2000), "idle keep-alive connection closed at once").toBe(true);
    expect(b.logged("stopping")[0]).toMatch(/signal=SIGTERM requests=1 websockets=1 grace_s=20/);
    // Still relayed while the request drains.
    await ws.sendText("still here");
    expect(await ws.nextText()).toBe("still here");

    const r: BridgeResponse = await slow;
    expect(r.status).toBe(200);
    expect(r.aborted).toBe(false);
    expect(r.body.toString()).toBe("slow done");
    expect(r.headers.connection).toBe("close");
    expect(served).toBeGreaterThanOrEqual(3900);
    busy.destroy();
    idle.destroy();

    const closed = await ws.closed;
    expect(closed).toMatchObject({ code: 1001, reason: "going away", closeFrame: true, initiator: "server" });
    expect(await b.exited).toBe(0);
    expect(b.logged(" stopped ")[0]).toMatch(/requests_finished=1 requests_cut=0 websockets_closed=1 websockets_cut=0/);
    expect(b.log()).not.toContain("stopping now");
    // The node sees its sides of both closed.
    expect(await until(() => ox2.openConnections() === 0 && ox1.openConnections() === 0, 3000)).toBe(true);
  }, 30_000);

  it("cuts a request longer than the grace, logs it as cut, and still exits 0", async () => {
    const b = await bridgeProcess("grace.json", 1);
    const started = Date.now();
    const slow = bridgeRequest(b.url, { target: "/ajax/slow?ms=8000", route: "OX1" });
    await until(() => b.log().length > 0 && ox1.openConnections() >= 1, 5000);
    await new Promise((r) => setTimeout(r, 200));
    b.proc.kill("SIGTERM");
    const r = await slow.catch((e: Error) => e);
    const took = Date.now() - started;
    // Cut: a reset before any answer, or an answer without its end.
    expect(r instanceof Error || r.aborted).toBe(true);
    expect(took).toBeLessThan(5000);
    expect(await b.exited).toBe(0);
    expect(b.logged(" stopped ")[0]).toMatch(/requests_finished=0 requests_cut=1/);
  }, 30_000);

  it("a second SIGTERM during the drain stops at once", async () => {
    const b = await bridgeProcess("twice.json", 20);
    const slow = bridgeRequest(b.url, { target: "/ajax/slow?ms=8000", route: "OX1" }).catch((e: Error) => e);
    await until(() => ox1.openConnections() >= 1, 5000);
    await new Promise((r) => setTimeout(r, 200));
    const started = Date.now();
    b.proc.kill("SIGTERM");
    await until(() => b.logged("stopping").length > 0, 5000);
    b.proc.kill("SIGTERM");
    expect(await b.exited).toBe(0);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(b.logged("stopping now")[0]).toMatch(/signal=SIGTERM requests=1/);
    expect(b.logged(" stopped ")[0]).toMatch(/requests_cut=1/);
    await slow;
  }, 30_000);
});
