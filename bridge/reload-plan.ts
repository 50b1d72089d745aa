import type { BridgeConfig, MemberConfig } from "./config.ts";

/**
 * What a reload changes, decided from the running config and the new one
 * alone (docs/lifecycle.md, Reload). Members are compared by route:
 *
 * - kept: same node and the same transport options (address, kind, secret,
 *   timeouts, pool, packet size, probe): its pool, connections and balancer
 *   state stay, the admin's changes included;
 * - updated: like kept, but the file changed its loadfactor, lbset, status
 *   or redirect: state and connections stay, the file's values apply;
 * - changed: anything of its transport differs: the old one is drained like
 *   a removed member and a new one takes the route;
 * - added / removed.
 *
 * A setting is either applied to new requests or needs a restart (the
 * listeners' addresses, which a running process cannot move).
 */
export type MemberChange = "added" | "removed" | "changed" | "updated";

export type ReloadChange = { member: string; change: MemberChange } | { setting: string; change: "applied" | "needs-restart" };

export interface ReloadPlan {
  changes: ReloadChange[];
  /** Routes whose member stays as it is (no entry in changes). */
  kept: string[];
  /** Routes whose old member is drained: removed and changed. */
  retire: string[];
}

/** What a member's transport is built from: any difference means a new transport. */
function transportKey(m: MemberConfig): string {
  return JSON.stringify([m.kind, m.host, m.port, m.secret ?? null, m.timeoutMs, m.packetSize, m.pool, m.probe]);
}

function specKey(m: MemberConfig): string {
  const s = m.spec;
  return JSON.stringify([s.loadfactor, s.lbset, s.status, s.redirect ?? ""]);
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/** The largest request head the listener lets through (server.ts): fixed when it is created. */
export function maxHeaderSize(c: BridgeConfig): number {
  return Math.max(16 * 1024, ...c.members.map((m) => m.packetSize + 4096));
}

export function planReload(old: BridgeConfig, next: BridgeConfig): ReloadPlan {
  const changes: ReloadChange[] = [];
  const kept: string[] = [];
  const retire: string[] = [];
  const before = new Map(old.members.map((m) => [m.route, m]));
  const after = new Set(next.members.map((m) => m.route));
  for (const m of next.members) {
    const o = before.get(m.route);
    if (!o) changes.push({ member: m.route, change: "added" });
    else if (transportKey(o) !== transportKey(m)) {
      changes.push({ member: m.route, change: "changed" });
      retire.push(m.route);
    } else if (specKey(o) !== specKey(m)) changes.push({ member: m.route, change: "updated" });
    else kept.push(m.route);
  }
  for (const o of old.members) {
    if (after.has(o.route)) continue;
    changes.push({ member: o.route, change: "removed" });
    retire.push(o.route);
  }

  if (old.listenHost !== next.listenHost || old.listenPort !== next.listenPort) changes.push({ setting: "listen", change: "needs-restart" });
  if (!same(old.admin, next.admin)) changes.push({ setting: old.admin?.host === next.admin?.host && old.admin?.port === next.admin?.port ? "admin_token_env" : "admin_listen", change: "needs-restart" });
  // A member with a larger packet than any before takes longer heads than the listener reads.
  if (maxHeaderSize(next) > maxHeaderSize(old)) changes.push({ setting: "members.packet_size (request head size)", change: "needs-restart" });
  const applied: [string, unknown, unknown][] = [
    ["secret_env", old.secret, next.secret],
    ["signature_window", old.signatureWindowS, next.signatureWindowS],
    ["access_log", old.accessLog, next.accessLog],
    ["paths", old.paths, next.paths],
    ["limits", old.limits, next.limits],
    ["balancer", old.balancer, next.balancer],
    ["lifecycle", old.lifecycle, next.lifecycle],
  ];
  for (const [setting, a, b] of applied) if (!same(a, b)) changes.push({ setting, change: "applied" });
  return { changes, kept, retire };
}
