/**
 * Regression guard for the bridge's shared join buffer (HttpSink in
 * bridge/http-sink.ts): the body chunks of one AJP read are copied into one
 * buffer shared by all responses and written as one piece. When a client is
 * slow, the bridge's response still holds that piece after the read, and the
 * next join, for any response, must then take a new buffer; reusing it would
 * overwrite bytes a slow client has not received yet.
 *
 * Many downloads at once, half of them read slowly in small bites, each body
 * checked against the pattern the node serves. The test also checks that the
 * slow responses really held writes after a read (watched from outside
 * through the server's 'request' event), so a machine whose socket buffers
 * absorb everything cannot make it pass without testing anything.
 */
import { createHash, randomBytes } from "node:crypto";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bridgeRequest, handoffHeaders, startTestBridge, type TestBridge } from "../support/bridge.ts";
import { patternSha256, startDemoNode, type DemoNode } from "../../peers/demo-node.ts";
import { encodeBodyChunk, encodeEndResponse, encodeSendHeaders } from "../../peers/ajp-container.ts";
import { startScriptedNode } from "../support/scripted-node.ts";
import { accountingAfterEach } from "../support/accounting.ts";

accountingAfterEach();

const MIB = 1024 * 1024;
const PARALLEL = 50;
/**
 * More than the kernel takes on loopback for a reader that stalls (about
 * 3.7 MiB with Linux's default 4 MiB tcp_wmem maximum): below that, the
 * bridge's response never holds a byte and nothing is tested. Not a multiple
 * of the 8184-byte chunk a node sends, so the last read is a short one.
 */
const SIZE = 6 * MIB + 4321;
/**
 * A slow reader first takes nothing, so every socket buffer between it and the bridge fills up:
 * at least this long, and until its response holds bytes in the bridge (bounded by STALL_LIMIT_MS;
 * on a loaded machine the bridge may need longer than the minimum to get there).
 */
const STALL_MS = 300;
const STALL_LIMIT_MS = 10_000;
/** Then it reads this much per tick… */
const BITE = 4 * 1024;
const BITES_PER_TICK = 8;
/** …every tick. */
const TICK_MS = 10;
/** Bound on one download, slow or not; the whole file stays well under the test timeout. */
const DOWNLOAD_LIMIT_MS = 30_000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Result {
  status: number;
  length: number;
  sha256: string;
  complete: boolean;
}

/** A download read in small bites from a paused stream, with a bounded total time. */
async function slowDownload(bridgeUrl: string, target: string, holding: () => boolean): Promise<Result> {
  const url = new URL(bridgeUrl);
  const headers = await handoffHeaders({ target });
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, path: target, headers, agent: false }, (res) => {
      res.pause();
      const hash = createHash("sha256");
      let length = 0;
      let ended = false;
      res.on("end", () => (ended = true));
      res.on("error", reject);
      const deadline = Date.now() + DOWNLOAD_LIMIT_MS;
      (async () => {
        await sleep(STALL_MS);
        for (const end = Date.now() + STALL_LIMIT_MS; !holding() && Date.now() < end; ) await sleep(20);
        while (!ended && !res.destroyed) {
          if (Date.now() > deadline) throw new Error(`slow download not done after ${DOWNLOAD_LIMIT_MS} ms (${length} bytes)`);
          for (let i = 0; i < BITES_PER_TICK; i++) {
            // null until BITE bytes are buffered, except at the end, where it gives the rest.
            const c = res.read(BITE) as Buffer | null;
            if (c === null) break;
            length += c.length;
            hash.update(c);
          }
          // The read() that finds nothing left after the last byte emits 'end'.
          await sleep(TICK_MS);
        }
        resolve({ status: res.statusCode ?? 0, length, sha256: hash.digest("hex"), complete: res.complete });
      })().catch((e) => {
        req.destroy();
        reject(e);
      });
    });
    req.on("error", reject);
    req.end();
  });
}

async function fastDownload(bridgeUrl: string, target: string): Promise<Result> {
  const r = await bridgeRequest(bridgeUrl, { target, keepBody: false });
  return { status: r.status, length: r.length, sha256: r.sha256, complete: !r.aborted };
}

describe("shared join buffer under concurrency", () => {
  let nodes: DemoNode[];
  let bridge: TestBridge;
  /** Per slow download (by its `lane` query parameter): reads after which its response still held bytes. */
  const heldReads = new Map<string, number>();

  beforeAll(async () => {
    nodes = await Promise.all(["OX1", "OX2"].map((route) => startDemoNode({ route })));
    bridge = await startTestBridge(nodes.map((n) => ({ route: n.route, port: n.port, node: n })), { balancer: { healthcheck: 0 } });
    // Runs after the bridge's own handler has started, before any body is written: every AJP
    // read ends in uncork(), and what is still queued right after it is what the sink holds.
    bridge.server.on("request", (req: IncomingMessage, res: ServerResponse) => {
      const lane = /[?&]lane=(slow-\d+)/.exec(req.url ?? "")?.[1];
      if (!lane) return;
      heldReads.set(lane, 0);
      const uncork = res.uncork.bind(res);
      res.uncork = () => {
        uncork();
        if (res.writableLength > 0) heldReads.set(lane, heldReads.get(lane)! + 1);
      };
    });
  });
  afterAll(async () => {
    await bridge?.close();
    await Promise.all((nodes ?? []).map((n) => n.close()));
  });

  it(`${PARALLEL} parallel downloads, half read slowly: every body complete and intact`, async () => {
    const expected = patternSha256(SIZE);
    const started = Date.now();
    const runs = Array.from({ length: PARALLEL }, (_, i) => {
      const slow = i % 2 === 0;
      const target = `/ajax/download?size=${SIZE}&lane=${slow ? "slow" : "fast"}-${i}`;
      const lane = `slow-${i}`;
      return (slow ? slowDownload(bridge.url, target, () => (heldReads.get(lane) ?? 0) > 0) : fastDownload(bridge.url, target)).then((r) => ({ i, slow, ...r }));
    });
    const results = await Promise.all(runs);
    const bad = results.filter((r) => r.status !== 200 || !r.complete || r.length !== SIZE || r.sha256 !== expected);
    expect(
      bad.map((r) => `#${r.i} ${r.slow ? "slow" : "fast"}: status ${r.status}, ${r.length} bytes, complete=${r.complete}, sha256 ${r.sha256 === expected ? "ok" : "WRONG"}`),
    ).toEqual([]);
    expect(results.length).toBe(PARALLEL);
    expect(bridge.logs.filter((l) => /^(error|warn) /.test(l))).toEqual([]);

    // The case under test happened, for every slow download.
    expect(heldReads.size).toBe(PARALLEL / 2);
    const held = [...heldReads.values()];
    expect(Math.min(...held), `held reads per slow download: ${held.join(" ")}`).toBeGreaterThan(0);
    if (process.env.OXEDGE_TEST_LOG) console.error(`join-buffer: ${Date.now() - started} ms, held reads per slow download: ${held.join(" ")}`);
  });
});

describe("two joins within one AJP read", () => {
  it("do not share the buffer: a read that yields more than 64 KiB of body arrives intact", async () => {
    // One full 8184-byte chunk, then twenty of 1000 bytes, over and over, sent in one write: where
    // a 64 KiB read ends inside a full chunk, the next read finishes it and holds ~60 small ones,
    // more than one join's worth. The first join is only queued (the response is corked) when the
    // second one is made.
    const pieces: Buffer[] = [];
    for (let total = 0; total < 4 * MIB; ) {
      for (const n of [8184, ...Array<number>(20).fill(1000)]) {
        pieces.push(randomBytes(n));
        total += n;
      }
    }
    const body = Buffer.concat(pieces);
    const wire = Buffer.concat([
      encodeSendHeaders(200, "200", ["Content-Length", String(body.length)])!,
      ...pieces.map((p) => encodeBodyChunk(p)),
      encodeEndResponse(true),
    ]);
    const node = await startScriptedNode((r) => void r.sock.write(wire));
    const bridge = await startTestBridge([{ route: "OX1", port: node.port, node }], { balancer: { healthcheck: 0 } });
    try {
      const expected = createHash("sha256").update(body).digest("hex");
      for (let i = 0; i < 5; i++) {
        const r = await bridgeRequest(bridge.url, { target: "/ajax/download", keepBody: false });
        expect({ status: r.status, length: r.length, aborted: r.aborted, intact: r.sha256 === expected }).toEqual({ status: 200, length: body.length, aborted: false, intact: true });
      }
    } finally {
      await bridge.close();
      await node.close();
    }
  });
});
