import { describe, expect, it } from "vitest";
import { createBalancer } from "./balancer.ts";
import { duplicateRoute, formatStatus, lbsetProblem, loadfactorProblem, parseStatus, redirectProblem, routeProblem } from "./member-rules.ts";

const ok = (s: string) => {
  const p = parseStatus(s);
  if (!p.ok) throw new Error(p.reason);
  return p.value;
};

describe("parseStatus (Apache status= syntax)", () => {
  it("parses +X / -X with the sign carrying over, letters case-insensitive", () => {
    expect(ok("+D-S+N")).toEqual({ disabled: true, stopped: false, drain: true });
    expect(ok("DS")).toEqual({ disabled: true, stopped: true });
    expect(ok("-hr")).toEqual({ hotStandby: false, hotSpare: false });
    expect(ok("+I")).toEqual({ ignoreErrors: true });
    expect(ok("")).toEqual({});
  });

  it("rejects unknown letters, runtime-only flags and a dangling sign", () => {
    expect(parseStatus("S-E")).toEqual({ ok: false, reason: 'status "S-E": unknown flag "E" (valid: D S N H R I)' });
    expect(parseStatus("+C")).toMatchObject({ ok: false, reason: expect.stringMatching(/unknown flag/) });
    expect(parseStatus("+D+")).toMatchObject({ ok: false, reason: expect.stringMatching(/followed by a flag/) });
  });

  it("formatStatus writes flags back in the syntax parseStatus reads", () => {
    expect(formatStatus({ drain: true, disabled: false, hotStandby: true })).toBe("+NH-D");
    expect(formatStatus({ stopped: false })).toBe("-S");
    expect(formatStatus({})).toBe("");
    for (const s of ["+D-S+N", "+HRI", "-DSNHRI", "+N"]) expect(ok(formatStatus(ok(s)))).toEqual(ok(s));
  });

  it("feeds MemberSpec.status and update()", () => {
    const b = createBalancer([{ route: "A", loadfactor: 50, lbset: 0, status: ok("+N") }, { route: "B", loadfactor: 50, lbset: 0, status: {} }], { retryMs: 60_000, nofailover: false, forceRecovery: true });
    expect([b.choose("", 0), b.choose("", 0)].map((c) => c.ok && c.route)).toEqual(["B", "B"]);
    b.update("A", { status: ok("-N+D") });
    expect(b.snapshot(0)[0].status).toMatchObject({ drain: false, disabled: true });
  });
});

describe("member rules", () => {
  it.each(["OX1", "ox-2", "a_b~c", "R".repeat(95)])("route %s is valid", (r) => expect(routeProblem(r)).toBeUndefined());
  it.each(["", "O.X1", "OX 1", "OX;1", "OX,1", "OX@1", "Ö", "R".repeat(96)])("route %j is not", (r) => expect(routeProblem(r)).toMatch(/^a route is 1 to 95/));
  it.each([1, 50, 100, 0.5 + 0.5, 99.99])("loadfactor %s is valid", (v) => expect(loadfactorProblem(v)).toBeUndefined());
  it.each([0, 0.99, 101, Number.NaN, Infinity, "50"])("loadfactor %s is not", (v) => expect(loadfactorProblem(v)).toBe("loadfactor must be a number from 1 to 100"));
  it.each([0, 99])("lbset %s is valid", (v) => expect(lbsetProblem(v)).toBeUndefined());
  it.each([-1, 100, 1.5])("lbset %s is not", (v) => expect(lbsetProblem(v)).toBe("lbset must be an integer from 0 to 99"));
  it("redirect and unique routes", () => {
    const routes = new Set(["OX1", "OX2"]);
    expect(redirectProblem("OX1", "", routes)).toBeUndefined();
    expect(redirectProblem("OX1", "OX2", routes)).toBeUndefined();
    expect(redirectProblem("OX1", "OX1", routes)).toMatch(/the member itself/);
    expect(redirectProblem("OX1", "OX9", routes)).toMatch(/names no member/);
    expect(duplicateRoute(["OX1", "OX2", "OX1"])).toBe(2);
    expect(duplicateRoute(["OX1", "OX2"])).toBe(-1);
  });
});
