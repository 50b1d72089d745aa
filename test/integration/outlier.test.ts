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

  /**
   * n new sessions, each followed by sticky requests on its node. For each, whether it hit the
   * black hole, when it started, and whether the black hole had been taken out by then.
   */
  async function newSessions(n: number): Promise<{ hit: boolean; at: number; episodes: number }[]> {
    const out: { hit: boolean; at: number; episodes: number }[] = [];
    const before = b.logged("requests in a row failed").length;
    for (let i = 0; i < n; i++) {
      const at = Date.now();
      const episodes = b.logged("requests in a row failed").length - before;
      const login = await bridgeRequest(b.url, { target: "/ajax/login" });
      if (login.status === 502 || login.aborted || login.servedBy === "BH") {
        out.push({ hit: true, at, episodes });
        continue;
      }
      expect(login.status).toBe(200);
      out.push({ hit: false, at, episodes });
      const route = sessionCookie(login)!.split(".")[1];
      for (let k = 0; k < 3; k++) expect((await bridgeRequest(b.url, { target: "/ajax/session", route })).servedBy).toBe(route);
    }
    return out;
  }

  /** The black hole back in rotation with no failures counted yet, as after a retry. */
  function backInRotation(): void {
    b.cluster.balancer.markDown("BH", Date.now());
    b.cluster.balancer.markUp("BH");
  }

  it.each(["garbage", "reset", "truncated"] as const)("a black hole that answers with %s gets at most `fails` of 100 new sessions, then none for `retry`", async (m) => {
    mode = m;
    backInRotation();
    const sessions = await newSessions(100);
    // Its streak needs `fails` of its own failures, then it is taken out (logged once) ...
    const first = sessions.filter((s) => s.episodes === 0);
    expect(first.filter((s) => s.hit).length).toBe(FAILS);
    expect(sessions.some((s) => s.episodes === 1)).toBe(true);
    expect(b.cluster.status().members[0].route).toBe("BH");
    // ... and gets no session until `retry` has passed. (A slow machine may take longer than
    // `retry` for all 100: from then on it is tried again, which is the next test.)
    const outAt = sessions.find((s) => s.episodes === 1)!.at;
    const whileOut = sessions.filter((s) => s.episodes >= 1 && s.at < outAt + RETRY_S * 1000 - 100);
    expect(whileOut.length).toBeGreaterThan(0);
    expect(whileOut.filter((s) => s.hit).length).toBe(0);
    // The healthy members took the rest between them.
    const served = b.cluster.status().members.slice(1).reduce((sum, v) => sum + v.elected, 0);
    expect(served).toBeGreaterThan(100 - sessions.filter((s) => s.hit).length);
  });

  it("the black hole is retried after `retry`, like a refused connect, and found out again", async () => {
    mode = "garbage";
    // Taken out now (as a refused connect or an outlier streak would), then left alone for `retry`.
    b.cluster.balancer.markDown("BH", Date.now());
    expect(b.cluster.status().members[0]).toMatchObject({ inError: true });
    await new Promise((r) => setTimeout(r, RETRY_S * 1000 + 100));
    // Out until `retry` has passed, and retried by the next choice (the error clears then).
    expect(b.cluster.status().members[0]).toMatchObject({ inError: true, retryInMs: 0 });
    const sessions = await newSessions(40);
    // Found out again after exactly `fails` more (the streak starts over on its return).
    expect(sessions.filter((s) => s.episodes === 0 && s.hit).length).toBe(FAILS);
    expect(sessions.some((s) => s.episodes === 1)).toBe(true);
  });
});
