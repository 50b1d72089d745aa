import { describe, expect, it } from "vitest";
import { buildConfig } from "./config.ts";
import { planReload } from "./reload-plan.ts";

const env = { OXEDGE_BRIDGE_SECRET: "0123456789abcdef0123456789abcdef", OTHER_SECRET: "fedcba9876543210fedcba9876543210", OX1_SECRET: "s1", OX1_NEW: "s2" };
const ox = (n: number, more: Record<string, unknown> = {}) => ({ route: `OX${n}`, address: `10.0.0.${n}:8009`, ...more });
const config = (members: unknown[], more: Record<string, unknown> = {}) => buildConfig({ listen: "127.0.0.1:8009", members, ...more }, env);

describe("planReload", () => {
  it("the same file changes nothing: every member kept", () => {
    const c = config([ox(1), ox(2)]);
    expect(planReload(c, config([ox(1), ox(2)]))).toEqual({ changes: [], kept: ["OX1", "OX2"], retire: [] });
  });

  it("members by route: added, removed, and a new address is a changed member (old one retired)", () => {
    const p = planReload(config([ox(1), ox(2), ox(3)]), config([ox(1), ox(2, { address: "10.0.0.9:8009" }), ox(4)]));
    expect(p.changes).toEqual([
      { member: "OX2", change: "changed" },
      { member: "OX4", change: "added" },
      { member: "OX3", change: "removed" },
    ]);
    expect(p.kept).toEqual(["OX1"]);
    expect(p.retire).toEqual(["OX2", "OX3"]);
  });

  it("any transport option (timeout, pool, secret, kind) changes the member; balancer fields only update it", () => {
    const old = config([ox(1, { secret_env: "OX1_SECRET" })]);
    for (const m of [ox(1, { secret_env: "OX1_NEW" }), ox(1, { secret_env: "OX1_SECRET", timeout: 5 }), ox(1, { secret_env: "OX1_SECRET", max: 3 }), { route: "OX1", address: "http://10.0.0.1:8009" }]) {
      expect(planReload(old, config([m])).changes).toEqual([{ member: "OX1", change: "changed" }]);
    }
    for (const more of [{ loadfactor: 7 }, { lbset: 1 }, { status: "+N" }]) {
      const p = planReload(old, config([ox(1, { secret_env: "OX1_SECRET", ...more })]));
      expect(p.changes).toEqual([{ member: "OX1", change: "updated" }]);
      expect(p.retire).toEqual([]);
    }
  });

  it("listener addresses need a restart; other settings apply", () => {
    const p = planReload(
      config([ox(1)]),
      config([ox(1)], { listen: "127.0.0.1:9009", admin_listen: "127.0.0.1:9010", secret_env: "OTHER_SECRET", access_log: true, paths: "appsuite7", members: [{ ...ox(1), address: "http://10.0.0.1:8009" }], limits: { body_timeout: 5 }, balancer: { retry: 3 }, lifecycle: { grace: 1 } }),
    );
    expect(p.changes).toEqual([
      { member: "OX1", change: "changed" },
      { setting: "listen", change: "needs-restart" },
      { setting: "admin_listen", change: "needs-restart" },
      { setting: "secret_env", change: "applied" },
      { setting: "access_log", change: "applied" },
      { setting: "paths", change: "applied" },
      { setting: "limits", change: "applied" },
      { setting: "balancer", change: "applied" },
      { setting: "lifecycle", change: "applied" },
    ]);
  });

  it("a member with a larger AJP packet needs a restart for the request head size", () => {
    const p = planReload(config([ox(1)]), config([ox(1), ox(2, { packet_size: 65536 })]));
    expect(p.changes).toContainEqual({ setting: "members.packet_size (request head size)", change: "needs-restart" });
  });
});
