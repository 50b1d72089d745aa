/**
 * Connection accounting as a habit: after every test, each bridge still
 * running must have given back every connection it leased (nothing busy,
 * nobody waiting), and each node must hold exactly the connections the
 * bridges keep idle for it — no more (a leak the pool forgot) and no fewer
 * (a pool counting sockets that are gone).
 *
 * A status code says what the client saw; only this says what was left
 * behind. Test files call `accountingAfterEach()` once; a bridge is
 * watched when its members name their `node` (startTestBridge) or by `watch()`.
 */
import { afterEach, expect } from "vitest";
import type { Bridge } from "../../bridge/server.ts";

/** A node that counts, on its side, the AJP connections it has open: demo, scripted or real Tomcat. */
export type CountedNode = { openConnections(): number } | { connections(): number } | { ajpConnectionCount(): Promise<number> };

function openOn(node: CountedNode): number | Promise<number> {
  if ("openConnections" in node) return node.openConnections();
  if ("connections" in node) return node.connections();
  return node.ajpConnectionCount();
}

interface Watched {
  bridge: Bridge;
  /** route → its node; one node may serve members of several bridges. */
  nodes: Map<string, CountedNode>;
}

const watched = new Set<Watched>();

/** Check this bridge after each test while it listens. `nodes` maps a member's route to its node. */
export function watch(bridge: Bridge, nodes: Record<string, CountedNode> = {}): void {
  watched.add({ bridge, nodes: new Map(Object.entries(nodes)) });
}

/** What is out of balance right now, or undefined when everything is given back. */
async function imbalance(): Promise<string | undefined> {
  const live = [...watched].filter((w) => w.bridge.server.listening);
  const idleFor = new Map<CountedNode, number>();
  for (const w of live) {
    for (const m of w.bridge.cluster.status().members) {
      const p = m.pool;
      if (p.busy !== 0 || p.waiting !== 0) return `${m.route}: ${p.busy} busy, ${p.waiting} waiting`;
      const node = w.nodes.get(m.route);
      if (node) idleFor.set(node, (idleFor.get(node) ?? 0) + p.idle);
    }
  }
  for (const [node, idle] of idleFor) {
    const open = await openOn(node);
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
