import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildConfig, ConfigError, loadConfigFile } from "./config.ts";

const env = { OXEDGE_BRIDGE_SECRET: "0123456789abcdef0123", OX1_SECRET: "s1" };
const member = { route: "OX1", address: "10.20.30.213:8009" };

function errorOf(input: unknown, e: NodeJS.ProcessEnv = env): string {
  try {
    buildConfig(input, e);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error("config was accepted");
}

describe("bridge config", () => {
  it("fills Apache-like defaults and converts seconds", () => {
    const c = buildConfig({ members: [{ ...member, secret_env: "OX1_SECRET" }] }, env);
    expect(c.listenPort).toBe(8009);
    expect(c.prefixes).toContain("/Microsoft-Server-ActiveSync");
    expect(c.provisioning).toEqual({ path: "/servlet/axis2", allow: [] });
    expect(c.timeouts).toEqual([{ prefix: "/Microsoft-Server-ActiveSync", timeoutMs: 900_000, deadlineMs: 0 }]);
    expect(c.balancer).toMatchObject({ retryMs: 60_000, nofailover: false, forceRecovery: true, fails: 5 });
    expect(c.limits).toEqual({ headerTimeoutMs: 20_000, keepAliveTimeoutMs: 65_000, bodyTimeoutMs: 20_000, bodyMinRate: 500, maxConnections: 4096, websocketIdleMs: 60_000, websocketPingMs: 25_000 });
    expect(c.websocketPrefixes).toEqual(["/socket.io"]);
    expect(c.members[0]).toMatchObject({ route: "OX1", host: "10.20.30.213", port: 8009, secret: "s1", timeoutMs: 100_000, packetSize: 8192 });
    expect(c.members[0].pool).toEqual({ host: "10.20.30.213", port: 8009, packetSize: 8192, max: 64, smax: 0, ttlMs: 60_000, connectTimeoutMs: 5000, pingMs: 0, acquireMs: 5000, queue: 256 });
    expect(c.members[0].spec).toEqual({ route: "OX1", loadfactor: 1, lbset: 0, status: {}, redirect: undefined });
  });

  it("per-prefix timeouts: the longest prefix first, a deadline alone keeps the member's reply timeout", () => {
    const c = buildConfig({ members: [member], timeouts: [{ prefix: "/ajax", deadline: 30 }, { prefix: "/ajax/long", timeout: 300, deadline: 600 }] }, env);
    expect(c.timeouts).toEqual([
      { prefix: "/ajax/long", timeoutMs: 300_000, deadlineMs: 600_000 },
      { prefix: "/ajax", timeoutMs: undefined, deadlineMs: 30_000 },
    ]);
    expect(errorOf({ members: [member], limits: { header_timeout: 0 } })).toContain("limits.header_timeout = 0");
    expect(errorOf({ members: [member], limits: { max_connections: 0 } })).toContain("limits.max_connections = 0");
    expect(errorOf({ members: [member], balancer: { fails: -1 } })).toContain("balancer.fails = -1");
  });

  it("provisioning.allow takes addresses and CIDR blocks of both families, nothing else", () => {
    const c = buildConfig({ members: [member], provisioning: { allow: ["127.0.0.1", "10.0.0.0/8", "::1", "2001:db8::/32"] } }, env);
    expect(c.provisioning.allow).toHaveLength(4);
    for (const bad of ["10.0.0.0/33", "2001:db8::/129", "10.1", "localhost", "10.0.0.0/8/1", "10.0.0.0/"]) {
      expect(errorOf({ members: [member], provisioning: { allow: [bad] } })).toContain(`provisioning.allow[0] = ${JSON.stringify(bad)}: expected an IP address or a CIDR block`);
    }
  });

  it("names the field, the value and the rule", () => {
    const msg = errorOf({ members: [{ ...member, loadfactor: 150 }, { route: "O.X2", address: "nohost" }] });
    expect(msg).toContain("members[0].loadfactor = 150");
    expect(msg).toContain("loadfactor must be a number from 1 to 100");
    expect(msg).toContain('members[1].route = "O.X2"');
    expect(msg).toContain("(no '.': it is the text after the first '.' of the session id)");
    expect(msg).toContain('members[1].address = "nohost"');
    expect(msg).toContain("host:port");
  });

  it.each([
    [{ members: [member, member] }, "routes must be unique"],
    [{ members: [{ ...member, status: "+Q" }] }, 'unknown flag "Q"'],
    [{ members: [{ ...member, redirect: "OX9" }] }, "names no member"],
    [{ members: [{ ...member, secret_env: "MISSING_SECRET" }] }, 'members[0].secret_env = "MISSING_SECRET"'],
    [{ members: [{ ...member, packet_size: 4096 }] }, "members[0].packet_size = 4096"],
    [{ members: [{ ...member, unknown_key: 1 }] }, "unknown_key"],
    [{ members: [] }, "members = []"],
    [{}, "members = (missing)"],
  ])("refuses %j", (input, needle) => {
    expect(errorOf(input)).toContain(needle);
  });

  it("refuses a missing or short bridge secret", () => {
    expect(errorOf({ members: [member] }, {})).toContain('secret_env = "OXEDGE_BRIDGE_SECRET"');
    expect(errorOf({ members: [member] }, { OXEDGE_BRIDGE_SECRET: "short" })).toContain("at least 16");
  });

  it("reads TOML and JSON files", () => {
    const dir = mkdtempSync(join(tmpdir(), "oxedge-config-"));
    writeFileSync(join(dir, "b.toml"), `listen = "127.0.0.1:9000"\n[balancer]\nretry = 5\n[[members]]\nroute = "OX1"\naddress = "127.0.0.1:8009"\nloadfactor = 50\n`);
    writeFileSync(join(dir, "b.json"), JSON.stringify({ members: [member] }));
    expect(loadConfigFile(join(dir, "b.toml"), env)).toMatchObject({ listenPort: 9000, balancer: { retryMs: 5000 } });
    expect(loadConfigFile(join(dir, "b.json"), env).members[0].route).toBe("OX1");
    writeFileSync(join(dir, "bad.toml"), "members = [");
    expect(() => loadConfigFile(join(dir, "bad.toml"), env)).toThrow(/not valid TOML/);
  });

  it("the CLI exits 2 with the message for a bad file", () => {
    const dir = mkdtempSync(join(tmpdir(), "oxedge-config-"));
    const file = join(dir, "b.toml");
    writeFileSync(file, `[[members]]\nroute = "OX1"\naddress = "127.0.0.1:8009"\nttl = -1\n`);
    const r = spawnSync(process.execPath, ["bin/oxedge-bridge.js", "--config", file], { env: { ...process.env, ...env }, encoding: "utf8", timeout: 20_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("members[0].ttl = -1");
    writeFileSync(file, `[[members]]\nroute = "OX1"\naddress = "127.0.0.1:8009"\n[provisioning]\nallow = ["10.0.0.0/8", "192.168.1"]\n`);
    const allow = spawnSync(process.execPath, ["bin/oxedge-bridge.js", "--config", file], { env: { ...process.env, ...env }, encoding: "utf8", timeout: 20_000 });
    expect(allow.status).toBe(2);
    expect(allow.stderr).toContain('provisioning.allow[1] = "192.168.1": expected an IP address or a CIDR block');
    const usage = spawnSync(process.execPath, ["bin/oxedge-bridge.js"], { encoding: "utf8", timeout: 20_000 });
    expect(usage.status).toBe(2);
    expect(usage.stderr).toContain("usage: oxedge-bridge --config FILE");
  });
});
