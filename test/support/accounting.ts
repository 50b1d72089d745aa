/**
 * Connection accounting as a habit: after every test, each bridge still
 * running must have given back every connection it leased (nothing busy,
 * nobody waiting), and each node must hold exactly the connections the
 * bridges keep idle for it — no more (a leak the pool forgot) and no fewer
 * (a pool counting sockets that are gone).
 *
 * A status code says what the client saw; only this says what was left
 * behind. Test files call `accountingAfterEach()` once and `watch()` for
 * each bridge they start.
 */
import { afterEach, expect } from "vitest";
import type { Bridge } from "../../bridge/server.ts";

/** How many AJP connections a node has open right now, counted on the node's side. */
export type OpenCount = () => number | Promise<number>;

interface Watched {
  bridge: Bridge;
  /** route → the node's counter; one counter may be shared by several bridges' members. */
  nodes: Map<string, OpenCount>;
}

const watched = new Set<Watched>();

/** Check this bridge after each test while it listens. `nodes` maps a member's route to its node's counter. */
export function watch(bridge: Bridge, nodes: Record<string, OpenCount> = {}): void {
  watched.add({ bridge, nodes: new Map(Object.entries(nodes)) });
}

/** What is out of balance right now, or undefined when everything is given back. */
async function imbalance(): Promise<string | undefined> {
  const live = [...watched].filter((w) => w.bridge.server.listening);
  const idleFor = new Map<OpenCount, number>();
  for (const w of live) {
    for (const m of w.bridge.cluster.status().members) {
      const p = m.pool;
      if (p.busy !== 0 || p.waiting !== 0) return `${m.route}: ${p.busy} busy, ${p.waiting} waiting`;
      const counter = w.nodes.get(m.route);
      if (counter) idleFor.set(counter, (idleFor.get(counter) ?? 0) + p.idle);
    }
  }
  for (const [counter, idle] of idleFor) {
    const open = await counter();
    if (open !== idle) return `a node holds ${open} connections, its pools keep ${idle} idle`;
  }
  return undefined;
}

/** Waits (bounded) until the books balance; returns the last imbalance if they never do. */
export async function settled(ms = 5000): Promise<string | undefined> {
  const end = Date.now() + ms;
  for (;;) {
    const bad = await imbalance();
    if (bad === undefined || Date.now() > end) return bad;
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function accountingAfterEach(): void {
  afterEach(async () => {
    expect(await settled(), "connections left behind by this test").toBeUndefined();
  });
}
