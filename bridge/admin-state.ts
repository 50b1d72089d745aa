/**
 * The state file (`admin_state_file`): what admins changed, per route, kept
 * across restarts like Apache's BalancerPersist. The config file is the
 * base; the state file's overrides go on top of it at start (and after a
 * reload) until an admin resets them (docs/manager.md, State file).
 *
 * The file is JSON: {"version": 1, "members": {"OX1": {"status": "+N", "loadfactor": 30}}},
 * each entry checked with the admin API's own rules (memberPatchSchema).
 * It is read and written synchronously: admin changes are rare, and a
 * read-modify-write without an await cannot interleave with another.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import * as z from "zod/mini";
import en from "zod/v4/locales/en.js";
import type { MemberPatch, MemberSpec } from "./balancer.ts";
import type { Cluster } from "./cluster.ts";
import type { Logger } from "./log.ts";
import { formatStatus, memberPatchSchema, parseStatus, routeProblem, STATUS_KEYS, type MemberStatus } from "./member-rules.ts";

/** One route's admin changes as stored: status in Apache syntax, so the file reads like a config. */
export interface Override {
  status?: string;
  loadfactor?: number;
  lbset?: number;
}
export type Overrides = Record<string, Override>;

export const STATE_VERSION = 1;

const localeError = en().localeError;

// ---- pure

/** A change on top of what was already overridden: flags one by one, numbers replaced. */
export function mergeOverride(prev: Override | undefined, patch: MemberPatch): Override {
  const out: Override = { ...prev };
  if (patch.status) {
    const before = prev?.status ? parseStatus(prev.status) : undefined;
    out.status = formatStatus({ ...(before?.ok ? before.value : {}), ...patch.status });
  }
  if (patch.loadfactor !== undefined) out.loadfactor = patch.loadfactor;
  if (patch.lbset !== undefined) out.lbset = patch.lbset;
  return out;
}

/** The settings a reset returns a member to: its config file's, every flag said outright. */
export function baseSettings(spec: MemberSpec): MemberPatch {
  const status: MemberStatus = {};
  for (const k of STATUS_KEYS) status[k] = spec.status[k] ?? false;
  return { status, loadfactor: spec.loadfactor, lbset: spec.lbset };
}

export type StateParse = { ok: true; overrides: Overrides; patches: Record<string, MemberPatch>; problems: string[] } | { ok: false; reason: string };

/** The file's text checked: a bad entry is left out and named in problems; a bad file as a whole is not ok. */
export function parseState(text: string): StateParse {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    return { ok: false, reason: `not JSON: ${(e as Error).message}` };
  }
  const top = data as { version?: unknown; members?: unknown } | null;
  if (typeof top !== "object" || top === null || top.version !== STATE_VERSION || typeof top.members !== "object" || top.members === null || Array.isArray(top.members)) {
    return { ok: false, reason: `expected {"version": ${STATE_VERSION}, "members": {…}}` };
  }
  const overrides: Overrides = {};
  const patches: Record<string, MemberPatch> = {};
  const problems: string[] = [];
  for (const [route, entry] of Object.entries(top.members)) {
    const badRoute = routeProblem(route);
    if (badRoute) {
      problems.push(`${JSON.stringify(route)}: ${badRoute}`);
      continue;
    }
    const r = memberPatchSchema.safeParse(entry, { error: localeError });
    if (!r.success) {
      problems.push(`${route}: ${r.error.issues.map((i) => `${i.path.join(".") || "entry"}: ${i.message}`).join("; ")}`);
      continue;
    }
    overrides[route] = entry as Override;
    patches[route] = r.data;
  }
  return { ok: true, overrides, patches, problems };
}

export function serializeState(overrides: Overrides): string {
  return JSON.stringify({ version: STATE_VERSION, members: overrides }, null, 2) + "\n";
}

// ---- I/O

/** The file's overrides; a missing file is none, a corrupt one is logged and taken as none. */
export function readState(file: string, log: Logger): Extract<StateParse, { ok: true }> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") log("error", "state file not readable, admin overrides ignored", { file, error: (e as Error).message });
    return { ok: true, overrides: {}, patches: {}, problems: [] };
  }
  const p = parseState(text);
  if (!p.ok) {
    log("error", "state file ignored", { file, why: p.reason });
    return { ok: true, overrides: {}, patches: {}, problems: [] };
  }
  for (const problem of p.problems) log("warn", "state file entry ignored", { file, why: problem });
  return p;
}

/** Temp file, fsync, rename: a crash leaves the old file or the new one, never half of one. */
export function writeState(file: string, overrides: Overrides): void {
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, "w", 0o600);
  try {
    writeSync(fd, serializeState(overrides));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

/**
 * Record one admin change (or a reset, which drops the route's override)
 * before it is applied, so what runs is never ahead of what a restart
 * would bring back. Routes the cluster no longer has are dropped here.
 */
export function recordChange(file: string, cluster: Cluster, route: string, change: MemberPatch | "reset", log: Logger): void {
  const { overrides } = readState(file, log);
  const next: Overrides = {};
  for (const [r, o] of Object.entries(overrides)) if (cluster.members.has(r) && r !== route) next[r] = o;
  if (change !== "reset") next[route] = mergeOverride(overrides[route], change);
  writeState(file, next);
}

/**
 * Apply the state file's overrides on top of the cluster's config: at start,
 * and after a reload has rebuilt the members from the config file. Routes
 * the config no longer has are logged and left out. Returns the routes applied.
 */
export function applyState(cluster: Cluster, log: Logger): string[] {
  const file = cluster.config.admin?.stateFile;
  if (!file) return [];
  const { patches } = readState(file, log);
  const applied: string[] = [];
  for (const [route, patch] of Object.entries(patches)) {
    if (!cluster.members.has(route)) {
      log("warn", "state file names no such member, override ignored", { file, route });
      continue;
    }
    cluster.balancer.update(route, patch);
    applied.push(route);
  }
  if (applied.length) log("info", "admin overrides applied from the state file", { file, routes: applied.join(",") });
  return applied;
}
