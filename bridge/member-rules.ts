/**
 * The rules a member's balancer settings must follow, each written once:
 * the config schema, the admin API and the balancer's own checks all use
 * these, so a value is refused with the same words wherever it comes from.
 * Pure: each check returns why a value is wrong (or undefined), and the zod
 * pieces below are built from the same checks.
 */
import * as z from "zod/mini";
import { routeProblem, ROUTE_RULE } from "../common/route.ts";

export { routeProblem, ROUTE_RULE };

export interface MemberStatus {
  /** D: takes no requests; stays until an admin clears it (httpd's retry only clears E). */
  disabled?: boolean;
  /** S: administratively stopped; never auto-retried, not even when also in error. */
  stopped?: boolean;
  /** N: accepts sticky requests only; skipped by the weighted pick. */
  drain?: boolean;
  /** H: used only if no normal member or spare of its lbset is usable. */
  hotStandby?: boolean;
  /** R: replaces unusable normal members of its lbset one for one. */
  hotSpare?: boolean;
  /** I: markDown() has no effect; the retry check always passes. */
  ignoreErrors?: boolean;
}

export const STATUS_KEYS = ["disabled", "stopped", "drain", "hotStandby", "hotSpare", "ignoreErrors"] as const;
export type StatusKey = (typeof STATUS_KEYS)[number];

export const LOADFACTOR_RULE = "loadfactor must be a number from 1 to 100";
export const LBSET_RULE = "lbset must be an integer from 0 to 99";

/** httpd stores `atof(val) * 100` truncated and accepts 100..10000; 1..100 is the same range. */
export function loadfactorProblem(v: unknown): string | undefined {
  return typeof v === "number" && Number.isFinite(v) && v >= 1 && v <= 100 ? undefined : LOADFACTOR_RULE;
}

export function lbsetProblem(v: unknown): string | undefined {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 99 ? undefined : LBSET_RULE;
}

const LETTER_TO_FLAG: Record<string, StatusKey> = {
  D: "disabled",
  S: "stopped",
  N: "drain",
  H: "hotStandby",
  R: "hotSpare",
  I: "ignoreErrors",
};

export type StatusParse = { ok: true; value: MemberStatus } | { ok: false; reason: string };

/**
 * Apache `status=` syntax, e.g. "+D-S+N": each letter sets (after "+", or
 * by default) or clears (after "-") a flag; the sign carries over to the
 * letters after it, and letters are case-insensitive (httpd's
 * set_worker_param). Only D S N H R I: E and C (error, health check failed)
 * are runtime state here, and O F G U are httpd internals.
 */
export function parseStatus(value: string): StatusParse {
  const out: MemberStatus = {};
  let set = true;
  for (let i = 0; i < value.length; i++) {
    let c = value[i]!;
    if (c === "+" || c === "-") {
      set = c === "+";
      i++;
      if (i >= value.length) return { ok: false, reason: `status "${value}": "${c}" must be followed by a flag letter` };
      c = value[i]!;
    }
    const flag = LETTER_TO_FLAG[c.toUpperCase()];
    if (!flag) return { ok: false, reason: `status "${value}": unknown flag "${c}" (valid: D S N H R I)` };
    out[flag] = set;
  }
  return { ok: true, value: out };
}

/** A redirect names another existing member (or is "" for none). */
export function redirectProblem(route: string, redirect: string, routes: ReadonlySet<string>): string | undefined {
  if (redirect === "") return undefined;
  if (redirect === route) return `redirect "${redirect}" is the member itself`;
  if (!routes.has(redirect)) return `redirect "${redirect}" names no member`;
  return undefined;
}

/** Index of the first route seen before (routes must be unique), or -1. */
export function duplicateRoute(routes: readonly string[]): number {
  const seen = new Set<string>();
  for (let i = 0; i < routes.length; i++) {
    if (seen.has(routes[i])) return i;
    seen.add(routes[i]);
  }
  return -1;
}

// zod pieces for the config file and the admin API, from the checks above.

export const routeSchema = z.string().check(z.refine((v) => routeProblem(v) === undefined, { error: ROUTE_RULE }));
export const loadfactorSchema = z.number().check(z.refine((v) => loadfactorProblem(v) === undefined, { error: LOADFACTOR_RULE }));
export const lbsetSchema = z.number().check(z.refine((v) => lbsetProblem(v) === undefined, { error: LBSET_RULE }));
/** A status string, validated and turned into flags. */
export const statusSchema = z.pipe(
  z.string().check(
    z.maxLength(20),
    z.superRefine((v, ctx) => {
      const p = parseStatus(v);
      if (!p.ok) ctx.addIssue({ code: "custom", message: p.reason, input: v });
    }),
  ),
  z.transform((v: string) => (parseStatus(v) as { ok: true; value: MemberStatus }).value),
);

/**
 * A change to one member's balancer settings, as the admin API takes it and
 * the state file keeps it: any of status (Apache flags), loadfactor, lbset.
 */
export const memberPatchSchema = z.strictObject({
  status: z.optional(statusSchema),
  loadfactor: z.optional(loadfactorSchema),
  lbset: z.optional(lbsetSchema),
});

const FLAG_TO_LETTER = Object.fromEntries(Object.entries(LETTER_TO_FLAG).map(([letter, flag]) => [flag, letter])) as Record<StatusKey, string>;

/** The flags back in Apache syntax, set ones first: {drain: true, disabled: false} → "+N-D"; parseStatus reads it back. */
export function formatStatus(status: MemberStatus): string {
  let set = "";
  let cleared = "";
  for (const key of STATUS_KEYS) {
    if (status[key] === true) set += FLAG_TO_LETTER[key];
    else if (status[key] === false) cleared += FLAG_TO_LETTER[key];
  }
  return (set && `+${set}`) + (cleared && `-${cleared}`);
}
