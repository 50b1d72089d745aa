/**
 * The operator's actions on a member, each declared once as the JSON body
 * it sends to POST /members/<route>: the manager page's buttons and
 * `oxedge-bridge admin` both take them from here (docs/manager.md, Actions).
 */
import { loadfactorProblem } from "./member-rules.ts";

/** A body for POST /members/<route>: a change (member-rules.ts memberPatchSchema) or a reset. */
export type ChangeBody = { status?: string; loadfactor?: number; lbset?: number } | { reset: true };

/**
 * "enable" clears every flag that keeps a member from new sessions (D, S,
 * N and H): the member is back in normal rotation whatever took it out. A
 * member configured as hot standby returns to that with "reset".
 */
export const ACTIONS = {
  drain: { status: "+N" },
  disable: { status: "+D" },
  stop: { status: "+S" },
  standby: { status: "+H" },
  enable: { status: "-D-S-N-H" },
  reset: { reset: true },
} as const satisfies Record<string, ChangeBody>;

export type ActionName = keyof typeof ACTIONS | "loadfactor";
export const ACTION_NAMES: readonly ActionName[] = [...(Object.keys(ACTIONS) as (keyof typeof ACTIONS)[]), "loadfactor"];

export type ActionBody = { ok: true; body: ChangeBody } | { ok: false; reason: string };

/** The body for an action; loadfactor takes its value (1–100) as text, as typed on the page or the command line. */
export function actionBody(action: string, value?: string): ActionBody {
  if (action === "loadfactor") {
    const n = value === undefined || value.trim() === "" ? Number.NaN : Number(value);
    const bad = loadfactorProblem(n);
    return bad ? { ok: false, reason: `${bad}, got ${JSON.stringify(value ?? "")}` } : { ok: true, body: { loadfactor: n } };
  }
  if (Object.hasOwn(ACTIONS, action)) return { ok: true, body: ACTIONS[action as keyof typeof ACTIONS] };
  return { ok: false, reason: `unknown action ${JSON.stringify(action)} (valid: ${ACTION_NAMES.join(", ")})` };
}
