/**
 * Checks a bridge in front of the two demo nodes (OX1, OX2 at loadfactor 50)
 * must pass however it was configured: written by hand or imported from
 * Apache's configuration, the same assertions.
 */
import { expect } from "vitest";
import { bridgeRequest, sessionCookie } from "./bridge.ts";

/** New sessions alternate 5 of 10 per node; a session then stays on its node by route, 10 of 10. */
export async function expectBalancedAndSticky(bridgeUrl: string): Promise<void> {
  const served: string[] = [];
  for (let i = 0; i < 10; i++) served.push((await bridgeRequest(bridgeUrl, { target: "/ajax/login" })).servedBy!);
  expect(served.filter((s) => s === "OX1").length).toBe(5);
  for (let i = 1; i < served.length; i++) expect(served[i]).not.toBe(served[i - 1]);

  const login = await bridgeRequest(bridgeUrl, { target: "/ajax/login" });
  const id = sessionCookie(login)!;
  const route = id.slice(id.indexOf(".") + 1);
  expect(["OX1", "OX2"]).toContain(route);
  for (let i = 0; i < 10; i++) {
    const r = await bridgeRequest(bridgeUrl, { target: "/ajax/session", route, headers: { cookie: `JSESSIONID=${id}` } });
    expect(r.servedBy).toBe(route);
    expect(r.json()).toMatchObject({ node: route, valid: true });
  }
}
