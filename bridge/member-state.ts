import type { MemberStatus } from "./balancer.ts";

/**
 * A member's state in one word, the first that applies (a stopped member in
 * error is "stopped"): the manager page's State column and the
 * oxedge_member_state metric say the same (docs/manager.md, docs/observability.md).
 */
export const MEMBER_STATES = ["stopped", "disabled", "error", "draining", "standby", "spare", "ok"] as const;
export type MemberState = (typeof MEMBER_STATES)[number];

export function memberState(m: { status: Required<MemberStatus>; inError: boolean }): MemberState {
  if (m.status.stopped) return "stopped";
  if (m.status.disabled) return "disabled";
  if (m.inError) return "error";
  if (m.status.drain) return "draining";
  if (m.status.hotStandby) return "standby";
  if (m.status.hotSpare) return "spare";
  return "ok";
}
