import { describe, expect, it } from "vitest";
import { actionBody } from "./admin-actions.ts";
import { bridgeUrl, changeLine, mergeStatus, planAdmin } from "./admin-cli.ts";

describe("actionBody", () => {
  it("gives each action's body, and checks a load factor by the member rule", () => {
    expect(actionBody("drain")).toEqual({ ok: true, body: { status: "+N" } });
    expect(actionBody("enable")).toEqual({ ok: true, body: { status: "-D-S-N-H" } });
    expect(actionBody("reset")).toEqual({ ok: true, body: { reset: true } });
    expect(actionBody("loadfactor", "25")).toEqual({ ok: true, body: { loadfactor: 25 } });
    for (const v of ["0", "101", "", "x", undefined]) expect(actionBody("loadfactor", v)).toMatchObject({ ok: false, reason: expect.stringMatching(/^loadfactor must be a number from 1 to 100/) });
    expect(actionBody("toString")).toMatchObject({ ok: false, reason: expect.stringMatching(/unknown action/) });
  });
});

describe("planAdmin", () => {
  it("reads action, route, value and the bridges", () => {
    expect(planAdmin(["drain", "OX1", "--bridges", "10.0.0.5:8010,http://10.0.0.6:8010/"])).toEqual({ ok: true, action: "drain", route: "OX1", body: { status: "+N" }, bridges: ["http://10.0.0.5:8010", "http://10.0.0.6:8010"], tokenEnv: "OXEDGE_ADMIN_TOKEN" });
    expect(planAdmin(["loadfactor", "OX2", "30", "-b", "a:1", "--token-env", "T"])).toMatchObject({ ok: true, body: { loadfactor: 30 }, tokenEnv: "T" });
    expect(planAdmin(["status", "--bridges", "a:1"])).toMatchObject({ ok: true, action: "status" });
  });

  it.each([
    [["drain", "OX1"], /--bridges/],
    [["--bridges", "a:1"], /no action/],
    [["drain", "--bridges", "a:1"], /drain needs a ROUTE/],
    [["drain", "OX1", "5", "--bridges", "a:1"], /unexpected 5/],
    [["loadfactor", "OX1", "500", "--bridges", "a:1"], /loadfactor must be/],
    [["status", "OX1", "--bridges", "a:1"], /status takes no route/],
    [["frob", "OX1", "--bridges", "a:1"], /unknown action "frob"/],
    [["drain", "OX1", "--bridges", "a:1", "--nope"], /Unknown option/],
  ])("%j is refused", (argv, reason) => expect(planAdmin(argv)).toMatchObject({ ok: false, reason: expect.stringMatching(reason) }));

  it("bridgeUrl", () => expect(["h:1", "h:1/", "https://h:1//"].map(bridgeUrl)).toEqual(["http://h:1", "http://h:1", "https://h:1"]));
});

describe("changeLine", () => {
  it("ok, an HTTP error with its kind, or no answer", () => {
    expect(changeLine("http://a", "OX1", { ok: true, status: 200, body: { cells: { state: "draining" } } })).toEqual({ ok: true, line: "http://a  ok: OX1 draining" });
    expect(changeLine("http://a", "OX1", { ok: true, status: 401, body: { kind: "bad-token", error: "bad token" } })).toEqual({ ok: false, line: "http://a  HTTP 401 bad-token: bad token" });
    expect(changeLine("http://a", "OX1", { ok: true, status: 400, body: { kind: "bad-request", error: ["a", "b"] } }).line).toBe("http://a  HTTP 400 bad-request: a; b");
    expect(changeLine("http://a", "OX1", { ok: false, reason: "ECONNREFUSED" })).toEqual({ ok: false, line: "http://a  failed: ECONNREFUSED" });
  });
});

describe("mergeStatus", () => {
  const m = (route: string, state: string, elected: number, requests?: number) => ({ route, elected, pool: { busy: 1, idle: 2 }, cells: { state } as never, stats: requests === undefined ? undefined : { requests, errors: 1, bytesIn: 0, bytesOut: 0 } });
  it("one row per route: the state on each bridge, counters summed", () => {
    const lines = mergeStatus([
      { bridge: "http://a", members: [m("OX1", "draining", 3, 10), m("OX2", "ok", 4, 20)] },
      { bridge: "http://b", members: [m("OX1", "draining", 5, 1), m("OX3", "ok", 1)] },
    ]);
    expect(lines).toEqual([
      "route  http://a        http://b        elected  requests  errors  busy  idle",
      "OX1    draining        draining        8        11        2       2     4",
      "OX2    ok              (not a member)  4        20        1       1     2",
      "OX3    (not a member)  ok              1        –         –       1     2",
    ]);
  });
  it("a bridge without an answer is named under the table", () => {
    const lines = mergeStatus([{ bridge: "http://a", members: [m("OX1", "ok", 1)] }, { bridge: "http://b", error: "ECONNREFUSED" }]);
    expect(lines[1]).toMatch(/^OX1 +ok +\(no answer\)/);
    expect(lines.at(-1)).toBe("http://b  failed: ECONNREFUSED");
  });
});
