/**
 * `oxedge-bridge admin ACTION [ROUTE] [VALUE] --bridges URL,URL [--token-env NAME]`:
 * one admin action on every bridge's admin listener, one line per bridge,
 * exit 0 only when every bridge did it; `status` merges the bridges' views
 * into one table (docs/manager.md, Admin CLI). Each bridge keeps its own
 * state, so a change is sent to each of them.
 */
import { parseArgs } from "node:util";
import { ACTION_NAMES, actionBody } from "./admin-actions.ts";
import type { Cells } from "./admin-view.ts";
import type { MemberStats } from "./tally.ts";

export const ADMIN_USAGE = `usage: oxedge-bridge admin ACTION [ROUTE] [VALUE] --bridges URL[,URL…] [--token-env NAME]
  ACTION: status | drain ROUTE | disable ROUTE | stop ROUTE | standby ROUTE | enable ROUTE | reset ROUTE | loadfactor ROUTE 1-100
  --bridges    the bridges' admin listeners, e.g. http://10.0.0.5:8010,10.0.0.6:8010
  --token-env  environment variable holding the admin token (default OXEDGE_ADMIN_TOKEN)`;

export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  env: NodeJS.ProcessEnv;
}

const TIMEOUT_MS = 5000;

type Plan = { ok: true; action: string; route?: string; body?: unknown; bridges: string[]; tokenEnv: string } | { ok: false; reason: string };

/** "10.0.0.5:8010" and "http://10.0.0.5:8010/" name the same listener. */
export function bridgeUrl(s: string): string {
  const t = s.trim().replace(/\/+$/, "");
  return /^https?:\/\//.test(t) ? t : `http://${t}`;
}

/** The command line checked, before anything is sent. Pure. */
export function planAdmin(argv: string[]): Plan {
  let values: { bridges?: string; "token-env"?: string };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { bridges: { type: "string", short: "b" }, "token-env": { type: "string" } } }));
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
  const bridges = (values.bridges ?? "").split(",").filter((b) => b.trim()).map(bridgeUrl);
  if (bridges.length === 0) return { ok: false, reason: "--bridges names no admin listener" };
  const tokenEnv = values["token-env"] ?? "OXEDGE_ADMIN_TOKEN";
  const [action, route, value, ...rest] = positionals;
  if (!action) return { ok: false, reason: "no action" };
  if (action === "status") return positionals.length === 1 ? { ok: true, action, bridges, tokenEnv } : { ok: false, reason: "status takes no route" };
  if (!(ACTION_NAMES as readonly string[]).includes(action)) return { ok: false, reason: `unknown action ${JSON.stringify(action)} (valid: status, ${ACTION_NAMES.join(", ")})` };
  if (!route) return { ok: false, reason: `${action} needs a ROUTE` };
  const extra = action === "loadfactor" ? rest : [value, ...rest].filter((v) => v !== undefined);
  if (extra.length) return { ok: false, reason: `unexpected ${extra.join(" ")}` };
  const body = actionBody(action, value);
  if (!body.ok) return { ok: false, reason: body.reason };
  return { ok: true, action, route, body: body.body, bridges, tokenEnv };
}

type Answer = { ok: true; status: number; body: any } | { ok: false; reason: string };

async function call(url: string, init: RequestInit): Promise<Answer> {
  try {
    const r = await fetch(url, { ...init, signal: AbortSignal.timeout(TIMEOUT_MS) });
    const text = await r.text();
    let body: any;
    try {
      body = JSON.parse(text);
    } catch {
      body = { error: text.slice(0, 200) };
    }
    return { ok: true, status: r.status, body };
  } catch (e) {
    const err = e as Error & { cause?: { code?: string; message?: string } };
    return { ok: false, reason: err.name === "TimeoutError" ? `no answer within ${TIMEOUT_MS / 1000} s` : err.cause?.code ?? err.cause?.message ?? err.message };
  }
}

/** One line for one bridge's answer to a change. Pure. */
export function changeLine(bridge: string, route: string, a: Answer): { ok: boolean; line: string } {
  if (!a.ok) return { ok: false, line: `${bridge}  failed: ${a.reason}` };
  if (a.status === 200) return { ok: true, line: `${bridge}  ok: ${route} ${a.body?.cells?.state ?? ""}`.trimEnd() };
  const why = [a.body?.error ?? ""].flat().join("; ");
  return { ok: false, line: `${bridge}  HTTP ${a.status}${a.body?.kind ? ` ${a.body.kind}` : ""}: ${why}` };
}

interface StatusMember {
  route: string;
  elected: number;
  pool: { busy: number; idle: number };
  cells: Cells;
  stats?: MemberStats;
}

function pad(rows: string[][]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd());
}

/**
 * The bridges' status as one table: per route, its state on each bridge and
 * its counters summed over the bridges that answered. Pure.
 */
export function mergeStatus(results: { bridge: string; members?: StatusMember[]; error?: string }[]): string[] {
  const routes: string[] = [];
  for (const r of results) for (const m of r.members ?? []) if (!routes.includes(m.route)) routes.push(m.route);
  const sum = (route: string, pick: (m: StatusMember) => number | undefined) => {
    let total: number | undefined;
    for (const r of results) {
      const v = r.members?.find((m) => m.route === route);
      const n = v && pick(v);
      if (n !== undefined) total = (total ?? 0) + n;
    }
    return total === undefined ? "–" : String(total);
  };
  const head = ["route", ...results.map((r) => r.bridge), "elected", "requests", "errors", "busy", "idle"];
  const rows = routes.map((route) => [
    route,
    ...results.map((r) => (r.error ? "(no answer)" : r.members!.find((m) => m.route === route)?.cells.state ?? "(not a member)")),
    sum(route, (m) => m.elected),
    sum(route, (m) => m.stats?.requests),
    sum(route, (m) => m.stats?.errors),
    sum(route, (m) => m.pool.busy),
    sum(route, (m) => m.pool.idle),
  ]);
  const lines = pad([head, ...rows]);
  for (const r of results) if (r.error) lines.push(`${r.bridge}  failed: ${r.error}`);
  return lines;
}

const defaultIo: CliIo = { out: (l) => console.log(l), err: (l) => console.error(l), env: process.env };

export async function adminCli(argv: string[], io: CliIo = defaultIo): Promise<number> {
  if (argv.includes("--help") || argv.includes("-h")) {
    io.out(ADMIN_USAGE);
    return 0;
  }
  const plan = planAdmin(argv);
  if (!plan.ok) {
    io.err(`${plan.reason}\n${ADMIN_USAGE}`);
    return 2;
  }
  if (plan.action === "status") {
    const results = await Promise.all(
      plan.bridges.map(async (bridge) => {
        const a = await call(`${bridge}/status`, {});
        if (!a.ok) return { bridge, error: a.reason };
        if (a.status !== 200 || !Array.isArray(a.body?.members)) return { bridge, error: `HTTP ${a.status}` };
        return { bridge, members: a.body.members as StatusMember[] };
      }),
    );
    for (const line of mergeStatus(results)) io.out(line);
    return results.every((r) => !r.error) ? 0 : 1;
  }
  const token = io.env[plan.tokenEnv];
  if (!token) {
    io.err(`${plan.tokenEnv} is empty or unset: it must hold the bridges' admin token (--token-env names another variable)`);
    return 2;
  }
  const route = plan.route!;
  const lines = await Promise.all(
    plan.bridges.map(async (bridge) =>
      changeLine(
        bridge,
        route,
        await call(`${bridge}/members/${encodeURIComponent(route)}`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify(plan.body),
        }),
      ),
    ),
  );
  for (const l of lines) io.out(l.line);
  return lines.every((l) => l.ok) ? 0 : 1;
}
