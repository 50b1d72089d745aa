import { describe, expect, it } from "vitest";
import {
  createBalancer,
  type Balancer,
  type BalancerOptions,
  type MemberSpec,
  type MemberStatus,
} from "./balancer.ts";

const OPTS: BalancerOptions = { retryMs: 60_000, nofailover: false, forceRecovery: true };

function member(route: string, loadfactor = 50, extra: Partial<MemberSpec> & { status?: MemberStatus } = {}): MemberSpec {
  return { route, loadfactor, lbset: 0, status: {}, ...extra };
}

/** n choices without a route; "X" marks a 503. */
function picks(b: Balancer, n: number, now = 0, route = ""): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const c = b.choose(route, now);
    out.push(c.ok ? c.route : "X");
  }
  return out;
}

function lbstatus(b: Balancer): number[] {
  return b.snapshot(0).map((v) => v.lbstatus);
}

function view(b: Balancer, route: string, now = 0) {
  const v = b.snapshot(now).find((x) => x.route === route);
  if (!v) throw new Error(`no ${route}`);
  return v;
}

describe("byrequests arithmetic (docs/balancer.md, byrequests arithmetic)", () => {
  it("50/50 alternates strictly, starting with the first member", () => {
    const b = createBalancer([member("OX1", 50), member("OX2", 50)], OPTS);
    expect(picks(b, 20)).toEqual(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? "OX1" : "OX2")));
    expect(lbstatus(b)).toEqual([0, 0]);
    expect(b.snapshot(0).map((v) => v.elected)).toEqual([10, 10]);
  });

  it("70/30 follows the hand-computed period", () => {
    // lbfactor A=7000, B=3000, total 10000 per pick. lbstatus (A,B) before → after += → winner → after -= total:
    //  1: (0,0)         → (7000,3000)  A → (-3000, 3000)
    //  2: (-3000,3000)  → (4000,6000)  B → (4000,-4000)
    //  3: (4000,-4000)  → (11000,-1000) A → (1000,-1000)
    //  4: (1000,-1000)  → (8000,2000)  A → (-2000,2000)
    //  5: (-2000,2000)  → (5000,5000)  tie, strict '>' keeps the earlier member: A → (-5000,5000)
    //  6: (-5000,5000)  → (2000,8000)  B → (2000,-2000)
    //  7: (2000,-2000)  → (9000,1000)  A → (-1000,1000)
    //  8: (-1000,1000)  → (6000,4000)  A → (-4000,4000)
    //  9: (-4000,4000)  → (3000,7000)  B → (3000,-3000)
    // 10: (3000,-3000)  → (10000,0)    A → (0,0)   — back to the start, period 10 (7×A, 3×B)
    const b = createBalancer([member("A", 70), member("B", 30)], OPTS);
    const period = ["A", "B", "A", "A", "A", "B", "A", "A", "B", "A"];
    expect(picks(b, 5)).toEqual(period.slice(0, 5));
    expect(lbstatus(b)).toEqual([-5000, 5000]);
    expect(picks(b, 5)).toEqual(period.slice(5));
    expect(lbstatus(b)).toEqual([0, 0]);
    expect(picks(b, 10)).toEqual(period);
  });

  it("1/2 gives B,A,B repeating", () => {
    const b = createBalancer([member("A", 1), member("B", 2)], OPTS);
    expect(picks(b, 9)).toEqual(["B", "A", "B", "B", "A", "B", "B", "A", "B"]);
  });

  it("1,1,1,2 gives d,a,b,c,d repeating", () => {
    const b = createBalancer([member("a", 1), member("b", 1), member("c", 1), member("d", 2)], OPTS);
    expect(picks(b, 10)).toEqual(["d", "a", "b", "c", "d", "d", "a", "b", "c", "d"]);
    expect(lbstatus(b)).toEqual([0, 0, 0, 0]);
  });

  it("stores loadfactor ×100 truncated like httpd (atof(val) * 100.0 into an int)", () => {
    const b = createBalancer([member("A", 1.5), member("B", 2.555), member("C", 100)], OPTS);
    // 2.555 * 100 = 255.49999999999997 in IEEE doubles → 255, as in C.
    expect(b.snapshot(0).map((v) => [v.lbfactor, v.loadfactor])).toEqual([
      [150, 1.5],
      [255, 2.55],
      [10000, 100],
    ]);
  });
});

describe("sticky requests", () => {
  it("honours the route and counts sticky hits against new sessions", () => {
    const b = createBalancer([member("OX1"), member("OX2")], OPTS);
    for (let i = 0; i < 3; i++) {
      expect(b.choose("OX1", 0)).toEqual({ ok: true, route: "OX1", sticky: true, routeChanged: false });
    }
    // each hit: both += 5000, OX1 -= 10000
    expect(lbstatus(b)).toEqual([-15000, 15000]);
    // OX2 catches up (−10000/20000 → OX2, −5000/15000 → OX2, 0/10000 → OX2), then 5000/5000 ties to OX1
    expect(picks(b, 7)).toEqual(["OX2", "OX2", "OX2", "OX1", "OX2", "OX1", "OX2"]);
    expect(b.snapshot(0).map((v) => v.elected)).toEqual([5, 5]);
  });

  it("counts every usable member of every lbset, draining/spare/standby included, not disabled ones", () => {
    const b = createBalancer(
      [
        member("A", 1),
        member("B", 1, { lbset: 1 }),
        member("N", 1, { status: { drain: true } }),
        member("H", 1, { status: { hotStandby: true } }),
        member("R", 1, { status: { hotSpare: true } }),
        member("D", 1, { status: { disabled: true } }),
      ],
      OPTS,
    );
    b.choose("A", 0);
    expect(lbstatus(b)).toEqual([-400, 100, 100, 100, 100, 0]);
  });

  it("uses a member in error as soon as its retry has elapsed", () => {
    const b = createBalancer([member("OX1"), member("OX2")], OPTS);
    b.markDown("OX1", 1000);
    expect(b.choose("OX1", 61_001)).toEqual({ ok: true, route: "OX1", sticky: true, routeChanged: false });
    expect(view(b, "OX1")).toMatchObject({ inError: false, retries: 1 });
  });
});

describe("member status flags (docs/balancer.md, Status flags)", () => {
  it("disabled: never picked, sticky moves away, and the retry check does not clear D", () => {
    const b = createBalancer([member("A"), member("B"), member("D", 50, { status: { disabled: true } })], OPTS);
    expect(picks(b, 6)).toEqual(["A", "B", "A", "B", "A", "B"]);
    expect(b.choose("D", 0)).toEqual({ ok: true, route: "A", sticky: false, routeChanged: true });

    b.markDown("D", 0);
    b.choose("D", 100_000); // retry elapsed: E is cleared, D stays
    expect(view(b, "D")).toMatchObject({ inError: false, usable: false, retries: 1, elected: 0 });
  });

  it("stopped: never picked and never auto-retried, even when in error", () => {
    const b = createBalancer([member("A"), member("S", 50, { status: { stopped: true } })], OPTS);
    b.markDown("S", 0);
    expect(b.choose("S", 10_000_000)).toMatchObject({ ok: true, route: "A", routeChanged: true });
    expect(view(b, "S", 10_000_000)).toMatchObject({ inError: true, retryAt: null, retryInMs: null, retries: 0 });
  });

  it("drain: takes sticky requests, no new sessions", () => {
    const b = createBalancer([member("A"), member("B"), member("N", 50, { status: { drain: true } })], OPTS);
    expect(picks(b, 4)).toEqual(["A", "B", "A", "B"]);
    expect(b.choose("N", 0)).toEqual({ ok: true, route: "N", sticky: true, routeChanged: false });
    expect(view(b, "N").elected).toBe(1);
  });

  it("drain: counts as unusable so a spare replaces it", () => {
    const b = createBalancer(
      [member("A"), member("N", 50, { status: { drain: true } }), member("R", 50, { status: { hotSpare: true } })],
      OPTS,
    );
    expect(picks(b, 4)).toEqual(["A", "R", "A", "R"]);
  });

  it("hot standby: only when no normal member of the lbset is usable; usable for sticky", () => {
    const b = createBalancer([member("A"), member("B"), member("H", 50, { status: { hotStandby: true } })], OPTS);
    expect(picks(b, 4)).toEqual(["A", "B", "A", "B"]);
    b.markDown("A", 0);
    expect(picks(b, 3, 1)).toEqual(["B", "B", "B"]);
    b.markDown("B", 0);
    // H is not in error, so this is not "all in error": no forced recovery, H takes over.
    expect(picks(b, 3, 1)).toEqual(["H", "H", "H"]);
    expect(view(b, "A").inError).toBe(true);
    b.markUp("A");
    expect(picks(b, 2, 1)).toEqual(["A", "A"]);
    expect(b.choose("H", 1)).toEqual({ ok: true, route: "H", sticky: true, routeChanged: false });
  });

  it("hot spare: replaces unusable normal members one for one, in config order", () => {
    const b = createBalancer(
      [
        member("A"),
        member("B"),
        member("R1", 50, { status: { hotSpare: true } }),
        member("R2", 50, { status: { hotSpare: true } }),
      ],
      OPTS,
    );
    expect(picks(b, 4)).toEqual(["A", "B", "A", "B"]);
    b.markDown("A", 0);
    // offered: B (normal pass), then R1 (1 unusable → 1 spare); R2 stays idle
    expect(picks(b, 4, 1)).toEqual(["B", "R1", "B", "R1"]);
    b.markDown("B", 0);
    expect(picks(b, 4, 1)).toEqual(["R1", "R2", "R1", "R2"]);
    expect(view(b, "R2").elected).toBe(2);
  });

  it("ignoreErrors: markDown has no effect", () => {
    const b = createBalancer([member("A", 50, { status: { ignoreErrors: true } }), member("B")], OPTS);
    b.markDown("A", 0);
    expect(view(b, "A")).toMatchObject({ inError: false, errors: 0, usable: true });
    expect(picks(b, 2, 1)).toEqual(["A", "B"]);
    expect(b.choose("A", 1)).toMatchObject({ route: "A", sticky: true });
  });

  it("ignoreErrors set while in error: the retry check passes at once", () => {
    const b = createBalancer([member("A"), member("B")], OPTS);
    b.markDown("A", 0);
    b.update("A", { status: { ignoreErrors: true } });
    expect(view(b, "A", 1).retryInMs).toBe(0);
    expect(b.choose("A", 1)).toMatchObject({ route: "A", sticky: true });
  });

  it("lbset: set 0 while any of it is usable, set 1 only when set 0 is all down", () => {
    const b = createBalancer([member("A"), member("B"), member("C", 50, { lbset: 1 }), member("D", 50, { lbset: 1 })], OPTS);
    expect(picks(b, 4)).toEqual(["A", "B", "A", "B"]);
    b.markDown("A", 0);
    expect(picks(b, 2, 1)).toEqual(["B", "B"]);
    b.markDown("B", 0);
    expect(picks(b, 4, 1)).toEqual(["C", "D", "C", "D"]);
    b.markUp("B");
    expect(picks(b, 2, 1)).toEqual(["B", "B"]);
  });

  it("lbset: a hot standby of set 0 is preferred over the members of set 1 (httpd order)", () => {
    const b = createBalancer(
      [member("A"), member("H", 50, { status: { hotStandby: true } }), member("C", 50, { lbset: 1 })],
      OPTS,
    );
    b.markDown("A", 0);
    expect(picks(b, 2, 1)).toEqual(["H", "H"]);
  });

  it("lbset gaps are walked through", () => {
    const b = createBalancer([member("A"), member("Z", 50, { lbset: 7 })], OPTS);
    b.markDown("A", 0);
    expect(picks(b, 2, 1)).toEqual(["Z", "Z"]);
  });
});

describe("error state and recovery", () => {
  it("markDown at t: unusable through t+retry, retried strictly after (httpd: now > error_time + retry)", () => {
    const b = createBalancer([member("OX1"), member("OX2")], OPTS);
    const t = 1000;
    b.markDown("OX1", t);
    expect(view(b, "OX1", t)).toMatchObject({ inError: true, errorSince: t, retryAt: t + 60_000, retryInMs: 60_000 });
    expect(b.choose("OX1", t + 60_000 - 1)).toMatchObject({ route: "OX2", sticky: false, routeChanged: true });
    expect(b.choose("OX1", t + 60_000)).toMatchObject({ route: "OX2", sticky: false, routeChanged: true });
    expect(view(b, "OX1", t + 60_000)).toMatchObject({ inError: true, retryInMs: 0 });
    expect(b.choose("OX1", t + 60_000 + 1)).toEqual({ ok: true, route: "OX1", sticky: true, routeChanged: false });
    expect(view(b, "OX1")).toMatchObject({ inError: false, errorSince: null, retryAt: null, retries: 1, errors: 1 });
  });

  it("the weighted pick runs the retry check too", () => {
    const b = createBalancer([member("OX1"), member("OX2")], OPTS);
    b.markDown("OX1", 0);
    expect(picks(b, 2, 60_000)).toEqual(["OX2", "OX2"]);
    expect(picks(b, 2, 60_001)).toEqual(["OX1", "OX2"]);
  });

  it("markDown again restarts the retry window (httpd sets error_time on every failure)", () => {
    const b = createBalancer([member("OX1"), member("OX2")], OPTS);
    b.markDown("OX1", 0);
    b.markDown("OX1", 30_000);
    expect(b.choose("OX1", 60_001)).toMatchObject({ route: "OX2" });
    expect(b.choose("OX1", 90_001)).toMatchObject({ route: "OX1", sticky: true });
    expect(view(b, "OX1").errors).toBe(2);
  });

  it("markUp clears the error at once without counting a retry", () => {
    const b = createBalancer([member("OX1"), member("OX2")], OPTS);
    b.markDown("OX1", 0);
    b.markUp("OX1");
    expect(b.choose("OX1", 1)).toMatchObject({ route: "OX1", sticky: true });
    expect(view(b, "OX1")).toMatchObject({ inError: false, retries: 0 });
  });

  it("forced recovery: when every member is in error, all are cleared before the choice", () => {
    const b = createBalancer([member("OX1"), member("OX2"), member("OX3")], OPTS);
    b.markDown("OX1", 0);
    b.markDown("OX2", 10);
    b.markDown("OX3", 20);
    expect(b.choose("", 30)).toEqual({ ok: true, route: "OX1", sticky: false, routeChanged: true });
    expect(b.snapshot(30).map((v) => [v.inError, v.retries])).toEqual([
      [false, 1],
      [false, 1],
      [false, 1],
    ]);
    expect(picks(b, 2, 30)).toEqual(["OX2", "OX3"]);
  });

  it("forced recovery also serves sticky requests (it runs before the route lookup)", () => {
    const b = createBalancer([member("OX1"), member("OX2")], OPTS);
    b.markDown("OX1", 0);
    b.markDown("OX2", 0);
    expect(b.choose("OX2", 1)).toEqual({ ok: true, route: "OX2", sticky: true, routeChanged: false });
  });

  it("forceRecovery off: all in error → no-member, errors kept", () => {
    const b = createBalancer([member("OX1"), member("OX2")], { ...OPTS, forceRecovery: false });
    b.markDown("OX1", 0);
    b.markDown("OX2", 0);
    expect(b.choose("", 1)).toMatchObject({ ok: false, kind: "no-member" });
    expect(b.snapshot(1).every((v) => v.inError)).toBe(true);
    expect(picks(b, 1, 60_001)).toEqual(["OX1"]);
  });

  it("no forced recovery when a member is unusable but not in error (only E counts)", () => {
    const b = createBalancer([member("A", 50, { status: { disabled: true } }), member("B")], OPTS);
    b.markDown("B", 0);
    expect(b.choose("", 1)).toMatchObject({ ok: false, kind: "no-member" });
    expect(view(b, "B").inError).toBe(true);
  });

  it("the recovery walk stops at the first member whose retry has elapsed", () => {
    const b = createBalancer([member("A"), member("B")], OPTS);
    b.markDown("A", 0);
    b.markDown("B", 50_000);
    expect(b.choose("", 60_001)).toMatchObject({ route: "A" });
    expect(b.snapshot(60_001).map((v) => [v.inError, v.retries])).toEqual([
      [false, 1],
      [true, 0],
    ]);
  });

  it("choose never puts a member into error by itself", () => {
    const b = createBalancer([member("OX1"), member("OX2")], OPTS);
    b.choose("OX1", 0, new Set(["OX1"]));
    expect(b.snapshot(0).some((v) => v.inError)).toBe(false);
  });
});

describe("passive outlier detection (fails)", () => {
  const FAILS = { ...OPTS, fails: 3 };

  it("fails node-side failures in a row put the member in error for retry, like markDown", () => {
    const b = createBalancer([member("OX1"), member("OX2")], FAILS);
    expect(b.requestFailed("OX1", 10)).toBe(false);
    expect(b.requestFailed("OX1", 20)).toBe(false);
    expect(view(b, "OX1")).toMatchObject({ inError: false, failStreak: 2 });
    expect(b.requestFailed("OX1", 30)).toBe(true);
    expect(view(b, "OX1", 30)).toMatchObject({ inError: true, errorSince: 30, retryAt: 30 + 60_000, errors: 1, failStreak: 0 });
    expect(picks(b, 4, 60_030)).toEqual(["OX2", "OX2", "OX2", "OX2"]);
    expect(picks(b, 2, 60_031)).toEqual(["OX1", "OX2"]);
  });

  it("a success in between starts the count over: one slow or failed request never takes a node out", () => {
    const b = createBalancer([member("OX1"), member("OX2")], FAILS);
    for (let i = 0; i < 100; i++) {
      expect(b.requestFailed("OX1", i)).toBe(false);
      expect(b.requestFailed("OX1", i)).toBe(false);
      b.requestSucceeded("OX1");
    }
    expect(view(b, "OX1")).toMatchObject({ inError: false, errors: 0 });
  });

  it("is off with fails = 0 (the default) and for ignoreErrors members", () => {
    const off = createBalancer([member("OX1"), member("OX2")], OPTS);
    for (let i = 0; i < 50; i++) expect(off.requestFailed("OX1", i)).toBe(false);
    expect(view(off, "OX1").inError).toBe(false);
    const ign = createBalancer([member("OX1", 50, { status: { ignoreErrors: true } }), member("OX2")], FAILS);
    for (let i = 0; i < 50; i++) expect(ign.requestFailed("OX1", i)).toBe(false);
    expect(view(ign, "OX1").inError).toBe(false);
  });

  it("rejects a negative or fractional fails", () => {
    expect(() => createBalancer([member("OX1")], { ...OPTS, fails: -1 })).toThrow(/fails must be an integer/);
    expect(() => createBalancer([member("OX1")], { ...OPTS, fails: 1.5 })).toThrow(/fails must be an integer/);
  });
});

describe("bounded byrequests credit", () => {
  it("a member that gets no sticky traffic cannot pile up more than ten rounds of credit", () => {
    // BH's sessions all fail, so every request is sticky to OX2: httpd's score for BH grows by
    // its lbfactor per request without limit. Here it stops at 10 × (5000 + 5000).
    const b = createBalancer([member("BH"), member("OX2")], OPTS);
    for (let i = 0; i < 100_000; i++) b.choose("OX2", 0);
    expect(lbstatus(b)).toEqual([100_000, -100_000]);
    // Once BH's sessions do produce traffic, the advantage is gone within rounds, not millions.
    let bh = 0;
    for (let i = 0; i < 200; i++) {
      const c = b.choose("", 0);
      if (c.ok && c.route === "BH") {
        bh++;
        for (let k = 0; k < 3; k++) b.choose("BH", 0);
      }
    }
    expect(bh).toBeLessThan(110);
    expect(bh).toBeGreaterThan(40);
  });

  it("a member back from error starts from a neutral score, not the credit it had when it left", () => {
    const b = createBalancer([member("BH"), member("OX2"), member("OX3")], OPTS);
    for (let i = 0; i < 1000; i++) b.choose("OX2", 0);
    expect(view(b, "BH").lbstatus).toBeGreaterThan(0);
    b.markDown("BH", 0);
    expect(b.choose("", 60_001)).toMatchObject({ route: "OX3" });
    expect(view(b, "BH", 60_001)).toMatchObject({ inError: false, retries: 1 });
    b.markDown("BH", 70_000);
    b.markUp("BH");
    expect(view(b, "BH").lbstatus).toBe(0);
  });
});

describe("failover", () => {
  it("route's member down → another member, routeChanged", () => {
    const b = createBalancer([member("OX1"), member("OX2"), member("OX3")], OPTS);
    b.markDown("OX1", 0);
    expect(b.choose("OX1", 1)).toEqual({ ok: true, route: "OX2", sticky: false, routeChanged: true });
  });

  it("exclude is honoured for sticky and weighted choices", () => {
    const b = createBalancer([member("OX1"), member("OX2"), member("OX3")], OPTS);
    expect(b.choose("OX1", 0, new Set(["OX1"]))).toEqual({ ok: true, route: "OX2", sticky: false, routeChanged: true });
    expect(b.choose("", 0, new Set(["OX2", "OX3"]))).toMatchObject({ route: "OX1" });
    expect(b.choose("", 0, new Set(["OX1", "OX2", "OX3"]))).toMatchObject({ ok: false, kind: "no-member" });
  });

  it("an excluded member counts as unusable so a spare can replace it", () => {
    const b = createBalancer([member("A"), member("R", 50, { status: { hotSpare: true } })], OPTS);
    expect(b.choose("", 0, new Set(["A"]))).toMatchObject({ route: "R" });
  });

  it("a failover loop like proxy_handler's: 1 + maxAttempts tries, each on a new member", () => {
    const b = createBalancer([member("OX1"), member("OX2"), member("OX3")], OPTS);
    expect(b.maxAttempts).toBe(2);
    const down = new Set(["OX1", "OX2"]);
    const tried = new Set<string>();
    const sequence: string[] = [];
    let served = "";
    for (let attempt = 0; attempt <= b.maxAttempts && !served; attempt++) {
      const c = b.choose("OX1", 5, tried);
      if (!c.ok) break;
      sequence.push(c.route);
      if (down.has(c.route)) {
        b.markDown(c.route, 5);
        tried.add(c.route);
      } else {
        served = c.route;
      }
    }
    expect(sequence).toEqual(["OX1", "OX2", "OX3"]);
    expect(served).toBe("OX3");
  });

  it("nofailover: known route with unusable member → no-member", () => {
    const b = createBalancer([member("OX1"), member("OX2")], { ...OPTS, nofailover: true });
    b.markDown("OX1", 0);
    expect(b.choose("OX1", 1)).toEqual({
      ok: false,
      kind: "no-member",
      reason: 'member for route "OX1" is unusable and nofailover is on',
    });
    expect(b.choose("OX1", 1, new Set())).toMatchObject({ ok: false });
    // excluded counts as unusable too
    expect(b.choose("OX2", 1, new Set(["OX2"]))).toMatchObject({ ok: false, kind: "no-member" });
    // requests without a route are still balanced
    expect(b.choose("", 1)).toMatchObject({ ok: true, route: "OX2" });
  });

  it("unknown route → normal pick with routeChanged, even with nofailover", () => {
    for (const nofailover of [false, true]) {
      const b = createBalancer([member("OX1"), member("OX2")], { ...OPTS, nofailover });
      expect(b.choose("OX0", 0)).toEqual({ ok: true, route: "OX1", sticky: false, routeChanged: true });
      expect(b.choose("ox2", 0)).toEqual({ ok: true, route: "OX2", sticky: false, routeChanged: true });
    }
  });

  it("no route → normal pick, routeChanged (httpd sets BALANCER_ROUTE_CHANGED)", () => {
    const b = createBalancer([member("OX1"), member("OX2")], OPTS);
    expect(b.choose("", 0)).toEqual({ ok: true, route: "OX1", sticky: false, routeChanged: true });
  });

  it("redirect: sticky requests of an unusable member go to its redirect, even with nofailover", () => {
    const b = createBalancer(
      [member("OX1", 50, { redirect: "OX3" }), member("OX2"), member("OX3")],
      { ...OPTS, nofailover: true },
    );
    b.update("OX1", { status: { disabled: true } });
    expect(b.choose("OX1", 0)).toEqual({ ok: true, route: "OX3", sticky: true, routeChanged: true });
    // redirect is only for sticky requests. The sticky hit counted: (OX2,OX3) = (5000,-5000),
    // so OX2 catches up first: (10000,0) → OX2, (5000,5000) tie → OX2, then OX3.
    expect(picks(b, 3)).toEqual(["OX2", "OX2", "OX3"]);
  });

  it("redirect target gets its own retry check", () => {
    const b = createBalancer([member("OX1", 50, { redirect: "OX2" }), member("OX2"), member("OX3")], OPTS);
    b.markDown("OX1", 0);
    b.markDown("OX2", 0);
    expect(b.choose("OX1", 30_000)).toMatchObject({ route: "OX3", sticky: false, routeChanged: true });
    b.markDown("OX1", 50_000);
    expect(b.choose("OX1", 60_001)).toEqual({ ok: true, route: "OX2", sticky: true, routeChanged: true });
    expect(view(b, "OX1").inError).toBe(true);
  });

  it("redirects are followed in a chain and cycles stop (depth bounded by member count)", () => {
    const b = createBalancer(
      [member("A", 50, { redirect: "B" }), member("B", 50, { redirect: "C" }), member("C", 50, { redirect: "A" })],
      OPTS,
    );
    b.update("A", { status: { stopped: true } });
    b.update("B", { status: { stopped: true } });
    expect(b.choose("A", 0)).toEqual({ ok: true, route: "C", sticky: true, routeChanged: true });
    b.update("C", { status: { stopped: true } });
    expect(b.choose("A", 0)).toMatchObject({ ok: false, kind: "no-member" });
  });

  it("redirect skips an excluded target", () => {
    const b = createBalancer([member("OX1", 50, { redirect: "OX2" }), member("OX2"), member("OX3")], OPTS);
    expect(b.choose("OX1", 0, new Set(["OX1", "OX2"]))).toMatchObject({ route: "OX3", sticky: false });
  });
});

describe("maxAttempts", () => {
  it("defaults to members − 1, at least 1; explicit 0..99", () => {
    expect(createBalancer([member("A")], OPTS).maxAttempts).toBe(1);
    expect(createBalancer([member("A"), member("B")], OPTS).maxAttempts).toBe(1);
    expect(createBalancer([member("A"), member("B"), member("C"), member("D")], OPTS).maxAttempts).toBe(3);
    expect(createBalancer([member("A"), member("B")], { ...OPTS, maxAttempts: 0 }).maxAttempts).toBe(0);
    expect(() => createBalancer([member("A")], { ...OPTS, maxAttempts: 100 })).toThrow(/maxAttempts/);
    expect(() => createBalancer([member("A")], { ...OPTS, maxAttempts: 1.5 })).toThrow(/maxAttempts/);
  });
});

describe("update (balancer-manager)", () => {
  it("drain for maintenance: new sessions leave, sticky ones stay; undrain brings it back", () => {
    const b = createBalancer([member("OX1"), member("OX2")], OPTS);
    b.update("OX1", { status: { drain: true } });
    expect(picks(b, 3)).toEqual(["OX2", "OX2", "OX2"]);
    expect(b.choose("OX1", 0)).toMatchObject({ route: "OX1", sticky: true });
    b.update("OX1", { status: { drain: false } });
    expect(view(b, "OX1").status).toEqual({
      disabled: false, stopped: false, drain: false, hotStandby: false, hotSpare: false, ignoreErrors: false,
    });
  });

  it("loadfactor change runs recalc_factors: every lbstatus restarts at its lbfactor", () => {
    const b = createBalancer([member("OX1", 50), member("OX2", 50)], OPTS);
    b.choose("", 0);
    expect(lbstatus(b)).toEqual([-5000, 5000]);
    b.update("OX2", { loadfactor: 25 });
    expect(lbstatus(b)).toEqual([5000, 2500]);
    expect(view(b, "OX2").loadfactor).toBe(25);
    // (10000,5000) → OX1 → (2500,5000); (7500,7500) → OX1 → (0,7500); (5000,10000) → OX2 → (5000,2500)
    expect(picks(b, 3)).toEqual(["OX1", "OX1", "OX2"]);
  });

  it("a lone member's lbfactor is forced to 100 on a loadfactor change (recalc_factors special case)", () => {
    const b = createBalancer([member("A", 50)], OPTS);
    b.update("A", { loadfactor: 30 });
    expect(view(b, "A")).toMatchObject({ lbfactor: 100, lbstatus: 100 });
  });

  it("re-enabling a member resets every lbstatus to 0 (need_reset)", () => {
    const b = createBalancer([member("A"), member("B"), member("C", 50, { status: { disabled: true } })], OPTS);
    b.choose("", 0);
    expect(lbstatus(b)).toEqual([-5000, 5000, 0]);
    b.update("C", { status: { disabled: false } });
    expect(lbstatus(b)).toEqual([0, 0, 0]);
    expect(picks(b, 3)).toEqual(["A", "B", "C"]);
  });

  it("lbset and redirect can be changed; redirect '' clears it", () => {
    const b = createBalancer([member("A"), member("B")], OPTS);
    b.update("A", { lbset: 1, redirect: "B" });
    expect(view(b, "A")).toMatchObject({ lbset: 1, redirect: "B" });
    expect(picks(b, 2)).toEqual(["B", "B"]);
    b.update("A", { redirect: "" });
    expect(view(b, "A").redirect).toBe("");
  });

  it("validates before changing anything", () => {
    const b = createBalancer([member("A"), member("B")], OPTS);
    expect(() => b.update("A", { loadfactor: 0, lbset: 1 })).toThrow(/loadfactor/);
    expect(() => b.update("A", { lbset: 100 })).toThrow(/lbset/);
    expect(() => b.update("A", { redirect: "Z" })).toThrow(/redirect/);
    expect(() => b.update("A", { status: { bogus: true } as MemberStatus })).toThrow(/unknown status flag/);
    expect(() => b.update("Z", {})).toThrow(/unknown route/);
    expect(view(b, "A")).toMatchObject({ lbset: 0, lbfactor: 5000, redirect: "" });
  });

  it("markDown/markUp reject unknown routes", () => {
    const b = createBalancer([member("A")], OPTS);
    expect(() => b.markDown("Z", 0)).toThrow(/unknown route/);
    expect(() => b.markUp("Z")).toThrow(/unknown route/);
  });
});

describe("construction", () => {
  const bad: Array<[string, MemberSpec[], RegExp]> = [
    ["no members", [], /at least one member/],
    ["duplicate routes", [member("OX1"), member("OX1")], /duplicate route "OX1"/],
    ["route with '.'", [member("OX.1")], /a route is 1 to 95/],
    ["route with ';'", [member("OX;1")], /a route is 1 to 95/],
    ["route with space", [member("OX 1")], /a route is 1 to 95/],
    ["empty route", [member("")], /a route is 1 to 95/],
    ["route too long", [member("x".repeat(96))], /a route is 1 to 95/],
    ["loadfactor 0", [member("A", 0)], /loadfactor/],
    ["loadfactor 0.99", [member("A", 0.99)], /loadfactor/],
    ["loadfactor 101", [member("A", 101)], /loadfactor/],
    ["loadfactor NaN", [member("A", Number.NaN)], /loadfactor/],
    ["lbset 100", [member("A", 50, { lbset: 100 })], /lbset/],
    ["lbset -1", [member("A", 50, { lbset: -1 })], /lbset/],
    ["lbset 1.5", [member("A", 50, { lbset: 1.5 })], /lbset/],
    ["redirect to nowhere", [member("A", 50, { redirect: "B" })], /names no member/],
    ["redirect to itself", [member("A", 50, { redirect: "A" })], /itself/],
    ["status not boolean", [member("A", 50, { status: { drain: 1 as unknown as boolean } })], /boolean/],
  ];
  it.each(bad)("rejects %s", (_name, members, message) => {
    expect(() => createBalancer(members, OPTS)).toThrow(message);
  });

  it("rejects a negative retry", () => {
    expect(() => createBalancer([member("A")], { ...OPTS, retryMs: -1 })).toThrow(/retryMs/);
  });

  it("accepts the OX config and does not keep references to the caller's objects", () => {
    const spec = [member("OX1"), member("OX2")];
    const b = createBalancer(spec, OPTS);
    spec[0]!.status.disabled = true;
    expect(view(b, "OX1").usable).toBe(true);
    expect(view(b, "OX1")).toEqual({
      route: "OX1",
      loadfactor: 50,
      lbfactor: 5000,
      lbset: 0,
      redirect: "",
      status: { disabled: false, stopped: false, drain: false, hotStandby: false, hotSpare: false, ignoreErrors: false },
      usable: true,
      inError: false,
      errorSince: null,
      retryAt: null,
      retryInMs: null,
      lbstatus: 0,
      elected: 0,
      retries: 0,
      errors: 0,
      failStreak: 0,
    });
  });
});

describe("carry across a reload", () => {
  it("a carried member keeps its error state, score and counters; with keepSpec also the admin's changes", () => {
    const old = createBalancer([member("OX1"), member("OX2"), member("OX3")], OPTS);
    picks(old, 5);
    old.markDown("OX1", 1000);
    old.update("OX2", { status: { drain: true }, loadfactor: 20 });
    const carried = new Map([
      ["OX1", { carry: old.carry("OX1")!, keepSpec: true }],
      ["OX2", { carry: old.carry("OX2")!, keepSpec: true }],
    ]);
    const next = createBalancer([member("OX1"), member("OX2"), member("OX4")], OPTS, carried);
    const before = old.snapshot(2000);
    const after = next.snapshot(2000);
    expect(after[0]).toEqual(before[0]);
    expect(after[1]).toEqual(before[1]);
    expect(after[1]).toMatchObject({ loadfactor: 20, status: { drain: true } });
    expect(after[2]).toMatchObject({ route: "OX4", elected: 0, lbstatus: 0, inError: false });
    // OX1 in error, OX2 draining: new sessions go to the new member only.
    expect(picks(next, 3, 2000)).toEqual(["OX4", "OX4", "OX4"]);
  });

  it("without keepSpec the new spec wins, and a carried redirect to a route that is gone falls back to the spec's", () => {
    const old = createBalancer([member("OX1", 50, { redirect: "OX2" }), member("OX2")], OPTS);
    old.update("OX1", { loadfactor: 10 });
    old.markDown("OX1", 5);
    const fresh = createBalancer([member("OX1", 70), member("OX3")], OPTS, new Map([["OX1", { carry: old.carry("OX1")!, keepSpec: false }]]));
    expect(fresh.snapshot(10)[0]).toMatchObject({ loadfactor: 70, redirect: "", inError: true, errorSince: 5 });
    const kept = createBalancer([member("OX1"), member("OX3")], OPTS, new Map([["OX1", { carry: old.carry("OX1")!, keepSpec: true }]]));
    expect(kept.snapshot(10)[0]).toMatchObject({ loadfactor: 10, redirect: "" });
  });
});
