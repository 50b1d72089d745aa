import { describe, expect, it } from "vitest";
import { BridgeRotation, bridgeListProblem, parseBridgeEntry, type BridgeEntry } from "./bridges.ts";

const entries = (spec: Record<string, number>): BridgeEntry[] => Object.entries(spec).map(([url, weight]) => ({ url: `https://${url}.example.net`, weight }));

/** Which bridge (by host label) the first choice was, for n requests. */
function firsts(r: BridgeRotation, n: number, now = 0): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(new URL(r.bridges[r.order(now)[0]].url).hostname.split(".")[0]);
  return out;
}

const tally = (xs: string[]) => xs.reduce<Record<string, number>>((t, x) => ({ ...t, [x]: (t[x] ?? 0) + 1 }), {});

describe("parseBridgeEntry", () => {
  it.each<[string, BridgeEntry]>([
    ["https://b1.example.net", { url: "https://b1.example.net", weight: 1 }],
    ["https://b1.example.net/ 3", { url: "https://b1.example.net", weight: 3 }],
    ["  http://10.0.0.5:8081   0 ", { url: "http://10.0.0.5:8081", weight: 0 }],
    ["https://B1.Example.NET:443 100", { url: "https://b1.example.net", weight: 100 }],
  ])("%j", (item, want) => {
    expect(parseBridgeEntry(item)).toEqual(want);
  });

  it.each([
    ["https://b1.example.net 101", "weight \"101\" is not a whole number from 0 to 100"],
    ["https://b1.example.net -1", "weight \"-1\""],
    ["https://b1.example.net 1.5", "weight \"1.5\""],
    ["https://b1.example.net weight=3", "weight \"weight=3\""],
    ["https://b1.example.net 3 4", "at most one weight"],
    ["https://b1.example.net/edge 3", "not an http(s) origin"],
    ["b1.example.net", "not an http(s) origin"],
    ["ftp://b1.example.net", "not an http(s) origin"],
  ])("refuses %j", (item, words) => {
    expect(parseBridgeEntry(item)).toContain(words);
  });

  it("refuses a list with a bridge twice or no bridge that takes traffic", () => {
    expect(bridgeListProblem(entries({ a: 1, b: 0 }))).toBeUndefined();
    expect(bridgeListProblem([...entries({ a: 1 }), ...entries({ a: 2 })])).toBe("https://a.example.net is listed twice");
    expect(bridgeListProblem(entries({ a: 0, b: 0 }))).toMatch(/every bridge has weight 0/);
  });
});

describe("BridgeRotation", () => {
  it("splits 3:1 exactly in every cycle of 4, interleaved (smooth)", () => {
    const r = new BridgeRotation(entries({ a: 3, b: 1 }));
    const picks = firsts(r, 40);
    for (let i = 0; i < 40; i += 4) expect(tally(picks.slice(i, i + 4))).toEqual({ a: 3, b: 1 });
    // Smooth: b is not left for the end of a cycle in a burst of a's longer than the weights ask.
    expect(picks.slice(0, 4)).toEqual(["a", "a", "b", "a"]);
  });

  it("splits 5:2:1 exactly over 10 cycles, from any phase", () => {
    for (const phase of [0, 3, 7]) {
      const r = new BridgeRotation(entries({ a: 5, b: 2, c: 1 }), phase);
      expect(tally(firsts(r, 80))).toEqual({ a: 50, b: 20, c: 10 });
    }
  });

  it("starts new isolates at different places of the cycle", () => {
    const bridges = entries({ a: 1, b: 1 });
    const first = (random: number) => firsts(new BridgeRotation(bridges, BridgeRotation.randomPhase(bridges, () => random)), 1)[0];
    expect([first(0), first(0.99)]).toEqual(["a", "b"]);
  });

  it("equal weights without weights given: plain round-robin", () => {
    expect(firsts(new BridgeRotation(entries({ a: 1, b: 1, c: 1 })), 6)).toEqual(["a", "b", "c", "a", "b", "c"]);
  });

  it("lists the fallbacks after the pick: heavier first, then standbys, then skipped ones", () => {
    const r = new BridgeRotation(entries({ a: 1, b: 3, s: 0, c: 2 }));
    r.skip(0, 1000);
    const order = r.order(500).map((i) => r.bridges[i].url.slice(8, 9));
    expect(order).toEqual(["b", "c", "s", "a"]);
  });

  it("a skipped bridge gets nothing until its time is up, then its share again", () => {
    const r = new BridgeRotation(entries({ a: 3, b: 1 }));
    r.skip(0, 10_000);
    expect(tally(firsts(r, 8, 5_000))).toEqual({ b: 8 });
    expect(tally(firsts(r, 40, 10_000))).toEqual({ a: 30, b: 10 });
  });

  it("reached() ends a skip at once", () => {
    const r = new BridgeRotation(entries({ a: 1, b: 1 }));
    r.skip(1, 10_000);
    expect(r.isSkipped(1, 0)).toBe(true);
    r.reached(1);
    expect(r.isSkipped(1, 0)).toBe(false);
    expect(tally(firsts(r, 4))).toEqual({ a: 2, b: 2 });
  });

  it("a standby (weight 0) takes traffic only while every weighted bridge is skipped", () => {
    const r = new BridgeRotation(entries({ a: 2, b: 1, s: 0 }));
    expect(tally(firsts(r, 30))).toEqual({ a: 20, b: 10 });
    r.skip(0, 100);
    expect(tally(firsts(r, 5, 50))).toEqual({ b: 5 });
    r.skip(1, 100);
    expect(tally(firsts(r, 5, 50))).toEqual({ s: 5 });
    // With every bridge skipped, all are still tried (config order), rather than failing outright.
    r.skip(2, 100);
    expect(r.order(50)).toEqual([0, 1, 2]);
    expect(tally(firsts(r, 3, 100))).toEqual({ a: 2, b: 1 });
  });
});
