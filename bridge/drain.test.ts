import { describe, expect, it } from "vitest";
import { Drain } from "./drain.ts";

/** Counts a test sets by hand, and when goAway was asked for. */
function counts(requests: number, websockets: number) {
  const c = { requests, websockets, goAwayAt: -1, requestsAtGoAway: -1 };
  const started = Date.now();
  return Object.assign(c, {
    what: {
      requests: () => c.requests,
      websockets: () => c.websockets,
      goAway: () => {
        c.goAwayAt = Date.now() - started;
        c.requestsAtGoAway = c.requests;
      },
    },
  });
}

describe("Drain", () => {
  it("waits for the requests, then asks the WebSockets to go away and waits for them", async () => {
    const c = counts(2, 1);
    const d = new Drain(c.what, 5000);
    setTimeout(() => (c.requests = 0), 120);
    setTimeout(() => (c.websockets = 0), 250);
    const r = await d.done;
    expect(c.requestsAtGoAway).toBe(0);
    expect(c.goAwayAt).toBeGreaterThanOrEqual(100);
    expect(r).toMatchObject({ requestsLeft: 0, websocketsLeft: 0 });
    expect(r.ms).toBeGreaterThanOrEqual(240);
    expect(r.ms).toBeLessThan(2000);
  });

  it("ends with what is left when the grace is over; WebSockets are not asked once it is", async () => {
    const c = counts(1, 3);
    const r = await new Drain(c.what, 150).done;
    expect(r).toMatchObject({ requestsLeft: 1, websocketsLeft: 3 });
    expect(r.ms).toBeGreaterThanOrEqual(140);
    expect(c.goAwayAt).toBe(-1);
  });

  it("shorten(0) ends it at once; nothing to wait for ends it at once too", async () => {
    const c = counts(1, 0);
    const d = new Drain(c.what, 60_000);
    setTimeout(() => d.shorten(0), 50);
    expect((await d.done).requestsLeft).toBe(1);
    const idle = await new Drain(counts(0, 0).what, 60_000).done;
    expect(idle.ms).toBeLessThan(100);
  });
});
