/**
 * A stop closes WebSockets with 1001 Going Away between two frames
 * (docs/lifecycle.md, Stop): a message on its way when the bridge stops
 * arrives whole first, then the close frame; in-process, through
 * bridge.stop(). A member removed by a reload closes its WebSockets the same way.
 */
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { accountingAfterEach } from "../support/accounting.ts";
import { BRIDGE_SECRET, sha256, startTestBridge, testConfigInput, type TestBridge } from "../support/bridge.ts";
import { configDir } from "../support/bridge-process.ts";
import { until } from "../support/wait.ts";
import { openWs, startWsNode, type WsNode } from "../support/ws.ts";

accountingAfterEach();

let ox1: WsNode;
let b: TestBridge | undefined;
beforeAll(async () => {
  ox1 = await startWsNode("OX1");
});
afterAll(async () => {
  await b?.close();
  await ox1?.close();
});

it("a 4 MiB message the node is sending when the bridge stops arrives whole, then close 1001; the stop reports it closed, not cut", async () => {
  b = await startTestBridge([{ route: "OX1", address: `http://127.0.0.1:${ox1.port}`, port: ox1.port }], {
    paths: [{ prefix: "/socket.io", cluster: true, websocket: true }],
    balancer: { healthcheck: 0 },
  });
  const c = await openWs(b.url, { target: "/socket.io/", route: "OX1" });
  expect(await c.nextText()).toBe("hello node=OX1");
  const big = randomBytes(4 * 1024 * 1024);
  const echoed = c.nextBinary(30_000);
  const readBefore = c.socket.bytesRead;
  // Once the echo has begun to arrive the client stops reading, so the node→client direction
  // stays inside one long frame while the bridge stops.
  let paused = false;
  const hold = () => {
    if (c.socket.bytesRead - readBefore < 64 * 1024) return;
    c.socket.pause();
    c.socket.off("data", hold);
    paused = true;
  };
  c.socket.on("data", hold);
  await c.sendBinary(big);
  expect(await until(() => paused, 20_000)).toBe(true);
  const stopped = b.stop({ graceMs: 20_000 });
  await new Promise((r) => setTimeout(r, 300));
  const inTransit = c.socket.bytesRead - readBefore < big.length;
  c.socket.resume();
  expect(sha256(await echoed)).toBe(sha256(big));
  expect(await c.closed).toMatchObject({ code: 1001, reason: "going away", closeFrame: true });
  expect(await stopped).toMatchObject({ requestsCut: 0, websocketsClosed: 1, websocketsCut: 0 });
  expect(inTransit, "the stop came while the message was still on its way").toBe(true);
  expect(await until(() => ox1.openConnections() === 0, 3000)).toBe(true);
}, 60_000);

it("a reload that removes an HTTP member closes its WebSockets with 1001 once its requests are done; the other member's stay open", async () => {
  const ox2 = await startWsNode("OX2");
  const dir = configDir();
  const file = join(dir.dir, "bridge.json");
  const extra = { paths: [{ prefix: "/socket.io", cluster: true, websocket: true }], balancer: { healthcheck: 0 } };
  const both = [
    { route: "OX1", address: `http://127.0.0.1:${ox1.port}`, port: ox1.port },
    { route: "OX2", address: `http://127.0.0.1:${ox2.port}`, port: ox2.port },
  ];
  const r = await startTestBridge(both, extra, BRIDGE_SECRET, { configFile: file });
  try {
    const stays = await openWs(r.url, { target: "/socket.io/", route: "OX1" });
    const goes = await openWs(r.url, { target: "/socket.io/", route: "OX2" });
    expect(await stays.nextText()).toBe("hello node=OX1");
    expect(await goes.nextText()).toBe("hello node=OX2");
    dir.write("bridge.json", testConfigInput(both.slice(0, 1), extra).input);
    expect(await r.reload()).toEqual({ ok: true, changes: [{ member: "OX2", change: "removed" }] });
    expect(await goes.closed).toMatchObject({ code: 1001, closeFrame: true });
    expect(await until(() => r.logged("member retired").length === 1, 3000)).toBe(true);
    expect(r.logged("member retired")[0]).toMatch(/route=OX2 .*requests_cut=0 websockets_cut=0/);
    expect(await until(() => ox2.openConnections() === 0, 3000)).toBe(true);
    await stays.sendText("still here");
    expect(await stays.nextText()).toBe("still here");
    expect((await stays.close()).code).toBe(1000);
  } finally {
    await r.close();
    await ox2.close();
    dir.remove();
  }
});
