/**
 * What the manager page shows for a member, as text: one pure function per
 * column, used both when the page is rendered and in GET /status (as
 * `state` and `cells`), so the page's refresh script only copies strings
 * into cells and no rule is written twice (docs/manager.md, The page).
 */
import type { Cluster } from "./cluster.ts";
import { formatStatus } from "./member-rules.ts";
import { memberState, type MemberState } from "./member-state.ts";
import type { MemberStats } from "./tally.ts";

export { memberState, type MemberState };

export type MemberStatusView = ReturnType<Cluster["status"]>["members"][number];

const STATE_TEXT: Record<MemberState, string> = {
  stopped: "stopped",
  disabled: "disabled",
  error: "in error",
  draining: "draining",
  standby: "hot standby",
  spare: "hot spare",
  ok: "ok",
};

/** Every member's text, by name: what the page shows (COLUMNS) and a few more for scripts. */
export type Cells = Record<"route" | "address" | "kind" | "state" | "flags" | "retryIn" | "retry" | "loadfactor" | "lbset" | "connections" | "websockets" | "elected" | "requests" | "errors" | "bytesIn" | "bytesOut" | "bytes" | "lastError", string>;

/**
 * The page's columns, in order: heading, the cell shown, and a second, smaller
 * line under it (the node under the route, the time left under "in error").
 */
export const COLUMNS: readonly { title: string; cell: keyof Cells; sub?: keyof Cells; numeric?: true }[] = [
  { title: "Member", cell: "route", sub: "address" },
  { title: "State", cell: "state", sub: "retry" },
  { title: "Flags", cell: "flags" },
  { title: "Factor", cell: "loadfactor", numeric: true },
  { title: "Set", cell: "lbset", numeric: true },
  { title: "Connections", cell: "connections", sub: "websockets" },
  { title: "Elected", cell: "elected", numeric: true },
  { title: "Requests", cell: "requests", numeric: true },
  { title: "Errors", cell: "errors", numeric: true },
  { title: "In / out", cell: "bytes", numeric: true },
  { title: "Last error", cell: "lastError" },
];

/** A node's error message can be long (a stack, a body); the page shows its start. */
const MAX_MESSAGE = 160;

/** Shown where a value does not exist (yet): no stats, not in error. */
export const NONE = "–";

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/** A duration as people read it on a status page: 42 s, 3 min, 2 h 5 min. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s`;
  const min = Math.floor(s / 60);
  if (min < 120) return `${min} min`;
  return `${Math.floor(min / 60)} h ${min % 60} min`;
}

function retryIn(m: MemberStatusView): string {
  if (!m.inError) return NONE;
  if (m.retryInMs === null) return "never (stopped)";
  return m.retryInMs === 0 ? "due now" : formatDuration(m.retryInMs);
}

function lastError(stats: MemberStats, now: number): string {
  const e = stats.lastError;
  if (!e) return NONE;
  const at = Date.parse(e.at);
  const when = Number.isFinite(at) ? `${formatDuration(now - at)} ago` : String(e.at);
  const message = e.message.length > MAX_MESSAGE ? `${e.message.slice(0, MAX_MESSAGE)}…` : e.message;
  return `${e.kind}: ${message} (${when})`;
}

/** Every column of one member as text; `now` for the ages. */
export function memberCells(m: MemberStatusView, now: number): Cells {
  const state = memberState(m);
  const stats = m.stats;
  return {
    route: m.route,
    address: `${m.kind}://${m.address}`,
    kind: m.kind,
    state: STATE_TEXT[state],
    retry: state !== "error" || m.retryInMs === null ? "" : m.retryInMs === 0 ? "retry due now" : `retry in ${retryIn(m)}`,
    flags: formatStatus(Object.fromEntries(Object.entries(m.status).filter(([, on]) => on))).slice(1) || NONE,
    retryIn: retryIn(m),
    loadfactor: String(m.loadfactor),
    lbset: String(m.lbset),
    connections: `${m.pool.busy} busy, ${m.pool.idle} idle${m.pool.waiting ? `, ${m.pool.waiting} waiting` : ""}`,
    // AJP carries no WebSocket: nothing to show rather than a 0 that could change.
    websockets: m.kind === "http" ? `${m.pool.websockets} WebSocket${m.pool.websockets === 1 ? "" : "s"}` : "",
    elected: String(m.elected),
    requests: String(stats.requests),
    errors: String(stats.errors),
    bytesIn: formatBytes(stats.bytesIn),
    bytesOut: formatBytes(stats.bytesOut),
    bytes: `${formatBytes(stats.bytesIn)} / ${formatBytes(stats.bytesOut)}`,
    lastError: lastError(stats, now),
  };
}

/** GET /status: the cluster's own view, plus per member its state word and the page's cells. */
export function statusView(cluster: Cluster, now: number): { at: number; members: (MemberStatusView & { state: MemberState; cells: Cells })[] } {
  const members = cluster.status().members;
  return { at: now, members: members.map((m) => ({ ...m, state: memberState(m), cells: memberCells(m, now) })) };
}
