/**
 * A member that answers CPing but fails every request (a black hole) must
 * not pull in new sessions: after `fails` node-side failures in a row it is
 * out for `retry`, like a node that refuses connections, while the healthy
 * members serve the rest — sticky traffic on them included, which is what
 * made the black hole win every election before.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { accountingAfterEach } from "../support/accounting.ts";
import { bridgeRequest, sessionCookie, startTestBridge, type TestBridge } from "../support/bridge.ts";
import { startDemoNode, type DemoNode } from "../../peers/demo-node.ts";
import { startScriptedNode, type ScriptedNode } from "../support/scripted-node.ts";

accountingAfterEach();

const FAILS = 5;
const RETRY_S = 1.5;

describe("passive outlier detection", () => {
  let hole: ScriptedNode;
  let ox1: DemoNode;
  let ox2: DemoNode;
  let b: TestBridge;
  let mode: "garbage" | "reset" | "truncated" = "garbage";

  beforeAll(async () => {
    hole = await startScriptedNode((r) => {
      if (mode === "garbage") r.sock.write("HTTP/1.1 500 not AJP\r\n\r\n");
      else if (mode === "reset") r.sock.resetAndDestroy();
      else {
        r.headers(200, ["Content-Length", "1000"]);
        r.body("short");
        r.sock.end();
      }
    });
    ox1 = await startDemoNode({ route: "OX1" });
    ox2 = await startDemoNode({ route: "OX2" });
    // The black hole first: with equal scores, ties go to the earlier member.
    b = await startTestBridge(
      [
        { route: "BH", port: hole.port, node: hole },
        { route: "OX1", port: ox1.port, node: ox1 },
        { route: "OX2", port: ox2.port, node: ox2 },
      ],
      // Health checks on: the black hole answers them, so only its requests can give it away.
      { balancer: { healthcheck: 0.2, retry: RETRY_S } },
    );
  });
  afterAll(async () => {
    await b?.close();
    await Promise.all([hole?.close(), ox1?.close(), ox2?.close()]);
  });

  /** n new sessions, each followed by sticky requests on its node; returns how many hit the black hole, in order. */
  async function newSessions(n: number): Promise<boolean[]> {
    const hits: boolean[] = [];
    for (let i = 0; i < n; i++) {
      const login = await bridgeRequest(b.url, { target: "/ajax/login" });
      if (login.status === 502 || login.aborted || login.servedBy === "BH") {
        hits.push(true);
        continue;
      }
      expect(login.status).toBe(200);
      hits.push(false);
      const route = sessionCookie(login)!.split(".")[1];
      for (let k = 0; k < 3; k++) expect((await bridgeRequest(b.url, { target: "/ajax/session", route })).servedBy).toBe(route);
    }
    return hits;
  }

  it.each(["garbage", "reset", "truncated"] as const)("a black hole that answers with %s gets at most `fails` of 100 new sessions, then none for `retry`", async (m) => {
    mode = m;
    // Start each variant with the black hole back in rotation.
    await new Promise((r) => setTimeout(r, RETRY_S * 1000 + 100));
    const before = b.logged("requests in a row failed").length;
    const t0 = Date.now();
    const hits = await newSessions(100);
    const took = Date.now() - t0;
    const count = hits.filter(Boolean).length;
    // Each time it is taken out is logged once. On a slow machine the 100 sessions outlast
    // `retry`, the black hole is tried again and found out again: that is another episode.
    const episodes = b.logged("requests in a row failed").length - before;
    expect(episodes).toBeGreaterThanOrEqual(1);
    expect(episodes).toBeLessThanOrEqual(Math.ceil(took / (RETRY_S * 1000)));
    // Each episode costs exactly `fails` sessions; in between it gets none.
    expect(count).toBe(FAILS * episodes);
    if (took < RETRY_S * 1000) expect(b.cluster.status().members[0]).toMatchObject({ route: "BH", inError: true });
    // The healthy members took the rest between them.
    const served = b.cluster.status().members.slice(1).reduce((s, v) => s + v.elected, 0);
    expect(served).toBeGreaterThan(100 - count);
  });

  it("the black hole is retried after `retry`, like a refused connect, and found out again", async () => {
    mode = "garbage";
    await new Promise((r) => setTimeout(r, RETRY_S * 1000 + 100));
    // Out until `retry` has passed, and retried by the next choice (the error clears then).
    expect(b.cluster.status().members[0]).toMatchObject({ inError: true, retryInMs: 0 });
    const before = b.logged("requests in a row failed").length;
    const hits = await newSessions(40);
    expect(hits.filter(Boolean).length).toBe(FAILS);
    expect(b.logged("requests in a row failed").length).toBe(before + 1);
  });
});
