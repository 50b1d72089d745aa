import { describe, expect, it } from "vitest";
import { formatBytes, formatDuration, memberCells, memberState, NONE, type MemberStatusView } from "./admin-view.ts";

const NO_FLAGS = { disabled: false, stopped: false, drain: false, hotStandby: false, hotSpare: false, ignoreErrors: false };

function view(over: Partial<MemberStatusView> = {}): MemberStatusView {
  return {
    route: "OX1",
    loadfactor: 50,
    lbfactor: 5000,
    lbset: 0,
    redirect: "",
    status: { ...NO_FLAGS },
    usable: true,
    inError: false,
    errorSince: null,
    retryAt: null,
    retryInMs: null,
    lbstatus: 0,
    elected: 12,
    retries: 0,
    errors: 0,
    failStreak: 0,
    address: "10.0.0.1:8009",
    kind: "ajp",
    pool: { open: 3, idle: 2, busy: 1, waiting: 0, created: 3, websockets: 0 },
    stats: { requests: 0, errors: 0, bytesIn: 0, bytesOut: 0 },
    ...over,
  };
}

describe("memberState", () => {
  it.each([
    [{ stopped: true, disabled: true }, true, "stopped"],
    [{ disabled: true, drain: true }, true, "disabled"],
    [{ drain: true }, true, "error"],
    [{ drain: true, hotStandby: true }, false, "draining"],
    [{ hotStandby: true }, false, "standby"],
    [{ hotSpare: true }, false, "spare"],
    [{ ignoreErrors: true }, false, "ok"],
  ] as const)("%j, in error %s → %s", (flags, inError, state) => {
    expect(memberState(view({ status: { ...NO_FLAGS, ...flags }, inError }))).toBe(state);
  });
});

describe("memberCells", () => {
  it("shows – where there is nothing yet: no flags, not in error, no error so far", () => {
    const c = memberCells(view(), 0);
    expect(c).toMatchObject({ state: "ok", flags: NONE, retryIn: NONE, connections: "1 busy, 2 idle", websockets: "", elected: "12", requests: "0", errors: "0", bytesIn: "0 B", bytesOut: "0 B", lastError: NONE });
  });

  it("shows the counters and the last error with its age when they are there", () => {
    const now = Date.parse("2026-12-01T10:00:00Z");
    const stats = { requests: 1234, errors: 2, bytesIn: 2048, bytesOut: 5 * 1024 * 1024, lastError: { kind: "backend-timeout", message: "no packet in 100 s", at: new Date(now - 90_000).toISOString() } };
    const c = memberCells(view({ stats, kind: "http", pool: { open: 1, idle: 0, busy: 1, waiting: 4, created: 1, websockets: 7 } }), now);
    expect(c).toMatchObject({ requests: "1234", errors: "2", bytesIn: "2.0 KiB", bytesOut: "5.0 MiB", lastError: "backend-timeout: no packet in 100 s (90 s ago)", websockets: "7 WebSockets", connections: "1 busy, 0 idle, 4 waiting" });
    expect(memberCells(view({ stats: { ...stats, lastError: { ...stats.lastError, at: new Date(now - 600_000).toISOString() } } }), now).lastError).toMatch(/\(10 min ago\)$/);
    const long = memberCells(view({ stats: { ...stats, lastError: { kind: "internal", message: "x".repeat(500), at: new Date(now).toISOString() } } }), now).lastError;
    expect(long).toBe(`internal: ${"x".repeat(160)}… (0 s ago)`);
  });

  it("in error: the time left until the retry, in the state and its own column", () => {
    const c = memberCells(view({ inError: true, usable: false, retryInMs: 42_400, status: { ...NO_FLAGS, drain: true } }), 0);
    expect([c.state, c.retry, c.retryIn, c.flags]).toEqual(["in error", "retry in 42 s", "42 s", "N"]);
    expect(memberCells(view({ inError: true, retryInMs: 0 }), 0)).toMatchObject({ retryIn: "due now", retry: "retry due now" });
    expect(memberCells(view(), 0).retry).toBe("");
    expect(memberCells(view({ inError: true, retryInMs: null, status: { ...NO_FLAGS, stopped: true } }), 0)).toMatchObject({ state: "stopped", retryIn: "never (stopped)", flags: "S" });
  });
});

describe("formatting", () => {
  it.each([[0, "0 B"], [1023, "1023 B"], [1536, "1.5 KiB"], [20 * 1024 * 1024, "20 MiB"], [3 * 1024 ** 4, "3.0 TiB"]])("formatBytes(%d) = %s", (n, s) => expect(formatBytes(n)).toBe(s));
  it.each([[0, "0 s"], [119_000, "119 s"], [120_000, "2 min"], [7_500_000, "2 h 5 min"], [-5, "0 s"]])("formatDuration(%d) = %s", (n, s) => expect(formatDuration(n)).toBe(s));
});
