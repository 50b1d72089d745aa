import { describe, expect, it } from "vitest";
import { baseSettings, mergeOverride, parseState, serializeState } from "./admin-state.ts";

describe("mergeOverride", () => {
  it("merges flags one by one and replaces numbers", () => {
    let o = mergeOverride(undefined, { status: { drain: true } });
    expect(o).toEqual({ status: "+N" });
    o = mergeOverride(o, { status: { disabled: true }, loadfactor: 30 });
    expect(o).toEqual({ status: "+DN", loadfactor: 30 });
    o = mergeOverride(o, { status: { drain: false, disabled: false, stopped: false, hotStandby: false }, lbset: 2 });
    expect(o).toEqual({ status: "-DSNH", loadfactor: 30, lbset: 2 });
  });
});

describe("baseSettings", () => {
  it("says every flag, so a reset clears what the config does not set", () => {
    expect(baseSettings({ route: "OX1", loadfactor: 40, lbset: 1, status: { hotStandby: true } })).toEqual({
      loadfactor: 40,
      lbset: 1,
      status: { disabled: false, stopped: false, drain: false, hotStandby: true, hotSpare: false, ignoreErrors: false },
    });
  });
});

describe("parseState", () => {
  it("reads back what serializeState wrote", () => {
    const overrides = { OX1: { status: "+N-D" }, OX2: { loadfactor: 20, lbset: 3 } };
    const p = parseState(serializeState(overrides));
    expect(p).toEqual({ ok: true, overrides, problems: [], patches: { OX1: { status: { drain: true, disabled: false } }, OX2: { loadfactor: 20, lbset: 3 } } });
  });

  it("leaves out bad entries and names them; refuses a file that is not one", () => {
    const p = parseState(JSON.stringify({ version: 1, members: { "O.X": {}, OX1: { status: "+Q" }, OX2: { weight: 1 }, OX3: { lbset: 1 } } }));
    expect(p.ok && Object.keys(p.patches)).toEqual(["OX3"]);
    expect(p.ok && p.problems).toEqual([expect.stringMatching(/^"O\.X": a route is/), expect.stringMatching(/^OX1: status: .*unknown flag "Q"/), expect.stringMatching(/^OX2: .*weight/)]);
    for (const bad of ["", "[]", "null", '{"version":1}', '{"version":1,"members":[]}', '{"version":"1","members":{}}']) expect(parseState(bad).ok, bad).toBe(false);
  });
});
