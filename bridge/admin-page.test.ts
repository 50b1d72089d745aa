import { describe, expect, it } from "vitest";
import { managerPage } from "./admin-page.ts";
import { memberCells, memberState, type MemberStatusView } from "./admin-view.ts";

const NO_FLAGS = { disabled: false, stopped: false, drain: false, hotStandby: false, hotSpare: false, ignoreErrors: false };
const evil = '<script>alert("x")</script>&"\'';

function member(): MemberStatusView {
  return {
    route: "OX1", loadfactor: 50, lbfactor: 5000, lbset: 0, redirect: "", status: { ...NO_FLAGS }, usable: true, inError: false, errorSince: null, retryAt: null, retryInMs: null,
    lbstatus: 0, elected: 0, retries: 0, errors: 0, failStreak: 0, address: "10.0.0.1:8009", kind: "ajp",
    pool: { open: 0, idle: 0, busy: 0, waiting: 0, created: 0, websockets: 0 },
    stats: { requests: 1, errors: 1, bytesIn: 0, bytesOut: 0, lastError: { kind: "backend-protocol", message: evil, at: new Date(0).toISOString() } },
  };
}

describe("managerPage", () => {
  it("escapes every value it shows, a node's error message included", async () => {
    const m = member();
    const page = String(await managerPage({ members: [{ route: m.route, state: memberState(m), cells: memberCells(m, 0), loadfactor: 50 }], changes: true, nonce: "abc", refreshMs: 2000 }));
    expect(page).not.toContain(evil);
    expect(page).toContain("backend-protocol: &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&quot;&#39;");
    // Two script elements would mean a value closed the first.
    expect(page.match(/<script/g)).toHaveLength(1);
    expect(page).toContain('<script nonce="abc">');
    expect(page).toContain('<style nonce="abc">');
    expect(page).toContain("setInterval(refresh, 2000)");
  });
});
