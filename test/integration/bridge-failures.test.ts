/**
 * What the bridge does when nodes or clients misbehave: slow replies, full
 * pools, dead nodes, truncated or malformed responses, clients that vanish.
 * Every case must end in a clear status or an aborted response, and never in
 * a hang, a crash or a leaked connection.
 */
import http from "node:http";
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { type DecodedForwardRequest, encodeBodyChunk, encodeEndResponse, encodeSendHeaders } from "../../peers/ajp-container.ts";
import { startDemoNode, type DemoNode } from "../../peers/demo-node.ts";
import { accountingAfterEach } from "../support/accounting.ts";
import { bridgeRequest, startTestBridge, type TestBridge } from "../support/bridge.ts";
import { startScriptedNode, type ScriptedNode } from "../support/scripted-node.ts";
import { until } from "../support/wait.ts";
import { freePort as closedPort } from "../../peers/ports.ts";

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
// Registered after the cleanup so that it runs before it (after-hooks run in reverse order).
accountingAfterEach();

async function demo(route: string): Promise<DemoNode> {
  const n = await startDemoNode({ route });
  cleanups.push(() => n.close());
  return n;
}

async function bridgeFor(members: Parameters<typeof startTestBridge>[0], extra: Parameters<typeof startTestBridge>[1] = {}): Promise<TestBridge> {
  const b = await startTestBridge(members, { balancer: { healthcheck: 0, ...(extra.balancer ?? {}) }, ...extra });
  cleanups.push(() => b.close());
  return b;
}

/** A node whose answer the test scripts packet by packet. */
async function scriptedNode(script: (sock: net.Socket, req: DecodedForwardRequest) => void): Promise<ScriptedNode> {
  const n = await startScriptedNode((r, req) => script(r.sock, req));
  cleanups.push(() => n.close());
  return n;
}

describe("slow node", () => {
  it("answers 504 within timeout + 1 s and keeps the node in rotation", async () => {
    const ox1 = await demo("OX1");
    const b = await bridgeFor([{ route: "OX1", port: ox1.port, node: ox1, timeout: 1 }]);
    const t0 = Date.now();
    const r = await bridgeRequest(b.url, { target: "/ajax/slow?ms=3000" });
    const took = Date.now() - t0;
    expect(r.status).toBe(504);
    expect(r.headers["x-oxedge-error"]).toBe("backend-timeout");
    expect(took).toBeGreaterThanOrEqual(900);
    expect(took).toBeLessThan(2000);
    expect(b.logged("kind=backend-timeout").length).toBe(1);
    const view = b.cluster.status().members[0];
    expect(view.inError).toBe(false);
    const next = await bridgeRequest(b.url, { target: "/ajax/echo", route: "OX1" });
    expect(next.status).toBe(200);
    expect(next.servedBy).toBe("OX1");
  });

  it("uses the longer per-prefix timeout for ActiveSync", async () => {
    const ox1 = await demo("OX1");
    const b = await bridgeFor([{ route: "OX1", port: ox1.port, node: ox1, timeout: 0.5 }], { timeouts: [{ prefix: "/Microsoft-Server-ActiveSync", timeout: 5 }] });
    expect((await bridgeRequest(b.url, { target: "/ajax/slow?ms=1000" })).status).toBe(504);
    expect((await bridgeRequest(b.url, { target: "/Microsoft-Server-ActiveSync/slow?ms=1000" })).status).toBe(200);
  });
});

describe("pool limits", () => {
  it("answers 503 with Retry-After quickly when the pool and its queue are full", async () => {
    const ox1 = await demo("OX1");
    const b = await bridgeFor([{ route: "OX1", port: ox1.port, node: ox1, max: 1, queue: 0 }]);
    const slow = bridgeRequest(b.url, { target: "/ajax/slow?ms=1500" });
    await until(() => b.cluster.status().members[0].pool.busy === 1);
    const t0 = Date.now();
    const r = await bridgeRequest(b.url, { target: "/ajax/echo" });
    expect(r.status).toBe(503);
    expect(r.headers["retry-after"]).toBe("1");
    expect(r.headers["x-oxedge-error"]).toBe("pool-exhausted");
    expect(Date.now() - t0).toBeLessThan(500);
    expect((await slow).status).toBe(200);
  });

  it("lets a bounded number wait, then serves them in turn", async () => {
    const ox1 = await demo("OX1");
    const b = await bridgeFor([{ route: "OX1", port: ox1.port, node: ox1, max: 1, queue: 4, acquire: 5 }]);
    const rs = await Promise.all(Array.from({ length: 4 }, () => bridgeRequest(b.url, { target: "/ajax/slow?ms=50" })));
    expect(rs.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(b.cluster.status().members[0].pool.created).toBe(1);
  });
});

describe("failover", () => {
  it("moves a sticky request to another node when its node refuses connections, and skips it for `retry`", async () => {
    const ox2 = await demo("OX2");
    const dead = await closedPort();
    const b = await bridgeFor([
      { route: "OX1", port: dead },
      { route: "OX2", port: ox2.port, node: ox2 },
    ], { balancer: { retry: 60 } });
    const r = await bridgeRequest(b.url, { target: "/ajax/echo", route: "OX1" });
    expect(r.status).toBe(200);
    expect(r.servedBy).toBe("OX2");
    expect(b.logged("member down").length).toBe(1);
    expect(b.cluster.status().members.find((m) => m.route === "OX1")!.inError).toBe(true);
    // no second connect attempt during the retry window
    for (let i = 0; i < 5; i++) expect((await bridgeRequest(b.url, { target: "/ajax/echo" })).servedBy).toBe("OX2");
    expect(b.logged("member down").length).toBe(1);
  });

  it("answers 503 with nofailover when the session's node is down", async () => {
    const ox2 = await demo("OX2");
    const b = await bridgeFor([{ route: "OX1", port: await closedPort() }, { route: "OX2", port: ox2.port, node: ox2 }], { balancer: { nofailover: true } });
    const r = await bridgeRequest(b.url, { target: "/ajax/echo", route: "OX1" });
    expect(r.status).toBe(503);
    expect(ox2.requestsSeen()).toBe(0);
  });

  it("answers 503 when every node is down", async () => {
    const b = await bridgeFor([{ route: "OX1", port: await closedPort() }, { route: "OX2", port: await closedPort() }]);
    const r = await bridgeRequest(b.url, { target: "/ajax/echo" });
    expect(r.status).toBe(503);
    expect(r.headers["x-oxedge-error"]).toBe("connect-failed");
  });

  it("never replays a POST whose bytes reached a node that then died", async () => {
    let seen = 0;
    const node = await scriptedNode((sock) => {
      seen++;
      sock.destroy();
    });
    const ox2 = await demo("OX2");
    const b = await bridgeFor([{ route: "OX1", port: node.port, node: node }, { route: "OX2", port: ox2.port, node: ox2 }]);
    const r = await bridgeRequest(b.url, { method: "POST", target: "/ajax/echo", route: "OX1", body: Buffer.from("pay once") });
    expect(r.status).toBe(502);
    expect(seen).toBe(1);
    expect(ox2.requestsSeen()).toBe(0);
  });
});

describe("broken responses", () => {
  it("aborts the client response when the node dies mid-body (Content-Length given)", async () => {
    const node = await scriptedNode((sock) => {
      sock.write(encodeSendHeaders(200, "200", ["Content-Length", "1000"])!);
      sock.write(encodeBodyChunk(Buffer.alloc(100, 1)));
      setTimeout(() => sock.destroy(), 20);
    });
    const b = await bridgeFor([{ route: "OX1", port: node.port, node: node }]);
    const r = await bridgeRequest(b.url, { target: "/ajax/x" });
    expect(r.status).toBe(200);
    expect(r.aborted).toBe(true);
    expect(r.length).toBe(100);
  });

  it("aborts the client response when the node dies mid-body (chunked)", async () => {
    const node = await scriptedNode((sock) => {
      sock.write(encodeSendHeaders(200, "200", ["Content-Type", "text/plain"])!);
      sock.write(encodeBodyChunk(Buffer.alloc(100, 1)));
      setTimeout(() => sock.destroy(), 20);
    });
    const b = await bridgeFor([{ route: "OX1", port: node.port, node: node }]);
    const r = await bridgeRequest(b.url, { target: "/ajax/x" });
    expect(r.aborted).toBe(true);
  });

  it("aborts when END_RESPONSE comes before the promised Content-Length", async () => {
    const node = await scriptedNode((sock) => {
      sock.write(encodeSendHeaders(200, "200", ["Content-Length", "10"])!);
      sock.write(encodeBodyChunk(Buffer.from("short")));
      sock.write(encodeEndResponse(true));
    });
    const b = await bridgeFor([{ route: "OX1", port: node.port, node: node }]);
    const r = await bridgeRequest(b.url, { target: "/ajax/x" });
    expect(r.aborted).toBe(true);
    expect(b.logged("short of its Content-Length").length).toBe(1);
  });

  it.each([
    ["garbage bytes", Buffer.from("HTTP/1.1 200 OK\r\n\r\n")],
    ["unknown message type", Buffer.from([0x41, 0x42, 0x00, 0x01, 0x63])],
    ["body before headers", encodeBodyChunk(Buffer.from("x"))],
    ["END_RESPONSE without headers", encodeEndResponse(true)],
  ] as [string, Buffer][])("answers 502 for a malformed reply (%s) and closes that connection", async (_name, bytes) => {
    const node = await scriptedNode((sock) => sock.write(bytes));
    const b = await bridgeFor([{ route: "OX1", port: node.port, node: node }]);
    const r = await bridgeRequest(b.url, { target: "/ajax/x" });
    expect(r.status).toBe(502);
    expect(r.headers["x-oxedge-error"]).toBe("backend-protocol");
    expect(await until(() => node.connections() === 0)).toBe(true);
    expect(b.cluster.status().members[0].inError).toBe(false);
  });

  it("a header value the HTTP layer refuses is a 502, not a crash", async () => {
    const node = await scriptedNode((sock) => {
      sock.write(encodeSendHeaders(200, "200", ["X-Bad", "a\r\nInjected: 1"])!);
      sock.write(encodeEndResponse(true));
    });
    const b = await bridgeFor([{ route: "OX1", port: node.port, node: node }]);
    const r = await bridgeRequest(b.url, { target: "/ajax/x" });
    expect(r.status).toBe(502);
    expect(r.headers["injected"]).toBeUndefined();
  });
});

describe("client aborts", () => {
  it("closes the AJP connection when the client goes away mid-response, and leaks none over many aborts", async () => {
    const ox1 = await demo("OX1");
    const b = await bridgeFor([{ route: "OX1", port: ox1.port, node: ox1, max: 8 }]);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    cleanups.push(() => agent.destroy());
    let midResponse = 0;
    // Deterministic "random": every third request is abandoned at a different point.
    const jobs = Array.from({ length: 150 }, (_, i) => async () => {
      const mode = i % 3;
      if (mode === 0) {
        // 16 MiB cannot sit in the loopback socket buffers: when the client leaves at its first
        // bytes, the bridge is still sending, however slow the machine.
        const ac = new AbortController();
        const target = `/ajax/download?size=${16 << 20}`;
        await bridgeRequest(b.url, { target, keepBody: false, agent, signal: ac.signal, onResponse: (res) => res.once("data", () => ac.abort()) }).catch(() => {});
        midResponse++;
      } else if (mode === 1) {
        // Timed: lands anywhere from before the request is read to while the node waits.
        const ac = new AbortController();
        setTimeout(() => ac.abort(), 5);
        await bridgeRequest(b.url, { target: "/ajax/slow?ms=50", agent, signal: ac.signal }).catch(() => {});
      } else {
        expect((await bridgeRequest(b.url, { target: "/ajax/echo", agent })).status).toBe(200);
      }
    });
    for (let i = 0; i < jobs.length; i += 8) await Promise.all(jobs.slice(i, i + 8).map((j) => j()));
    // The aborts really reached the bridge mid-exchange: at least every one left mid-download is
    // logged as the client leaving (timed ones count when they land while the node is at work).
    expect(midResponse).toBe(50);
    expect(b.logged("kind=client-aborted").length).toBeGreaterThanOrEqual(midResponse);
    // every connection the node still has open is one the pool holds idle
    expect(await until(() => ox1.openConnections() === b.cluster.status().members[0].pool.idle)).toBe(true);
    expect(await until(() => b.cluster.status().members[0].pool.busy === 0)).toBe(true);
    expect((await bridgeRequest(b.url, { target: "/ajax/echo" })).status).toBe(200);
  });
});

describe("robustness of the bridge's own listener", () => {
  it("answers 400 to garbage on the wire and keeps serving", async () => {
    const ox1 = await demo("OX1");
    const b = await bridgeFor([{ route: "OX1", port: ox1.port, node: ox1 }]);
    const url = new URL(b.url);
    const reply = await new Promise<string>((resolve) => {
      const s = net.connect(Number(url.port), url.hostname, () => s.write("GARBAGE\r\n\r\n"));
      let got = "";
      s.on("data", (d) => (got += d));
      s.on("close", () => resolve(got));
    });
    expect(reply).toMatch(/^HTTP\/1\.1 400/);
    expect((await bridgeRequest(b.url, { target: "/ajax/echo" })).status).toBe(200);
  });
});
