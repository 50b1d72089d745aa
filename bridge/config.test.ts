import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { freePort } from "../peers/ports.ts";
import { until } from "../test/support/wait.ts";
import { buildConfig, ConfigError, loadConfigFile } from "./config.ts";

const env = { OXEDGE_BRIDGE_SECRET: "0123456789abcdef0123456789abcdef", OX1_SECRET: "s1" };
const member = { route: "OX1", address: "10.20.30.213:8009" };
/** App Suite presets push over WebSockets, which need an HTTP member. */
const httpMember = { ...member, address: "http://10.20.30.213:8009" };

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
  it("takes log_level from the four pino levels, info by default", () => {
    expect(buildConfig({ members: [member] }, env).logLevel).toBe("info");
    expect(buildConfig({ log_level: "debug", members: [member] }, env).logLevel).toBe("debug");
    expect(errorOf({ log_level: "trace", members: [member] })).toMatch(/log_level = "trace": .*"debug".*"info".*"warn".*"error"/);
  });

  it("admin_state_file: an absolute path, only with admin_listen", () => {
    const c = buildConfig({ members: [member], admin_listen: "127.0.0.1:8010", admin_state_file: "/var/lib/oxedge/state.json" }, env);
    expect(c.admin).toEqual({ host: "127.0.0.1", port: 8010, token: undefined, stateFile: "/var/lib/oxedge/state.json" });
    expect(errorOf({ members: [member], admin_state_file: "/var/lib/oxedge/state.json" })).toMatch(/admin_state_file = "\/var\/lib\/oxedge\/state.json": needs admin_listen/);
    for (const bad of ["state.json", "/var/lib/oxedge/", ""]) {
      expect(errorOf({ members: [member], admin_listen: "127.0.0.1:8010", admin_state_file: bad })).toMatch(/admin_state_file = .*expected an absolute file path/);
    }
  });

  it("fills Apache-like defaults and converts seconds", () => {
    const c = buildConfig({ members: [{ ...member, secret_env: "OX1_SECRET" }] }, env);
    expect(c.listenPort).toBe(8009);
    // The ox6 preset: the six prefixes, the provisioning path, ActiveSync's 900 s.
    expect(c.paths.clusterPrefixes).toEqual(["/ajax", "/servlet", "/infostore", "/publications", "/Microsoft-Server-ActiveSync", "/usm-json"]);
    expect(c.paths.internal("/servlet/axis2/x")).toMatchObject([{ prefix: "/servlet/axis2", allow: [] }]);
    expect(c.paths.rules.filter((r) => r.timeout !== undefined || r.deadline > 0)).toMatchObject([{ prefix: "/Microsoft-Server-ActiveSync", timeout: 900, deadline: 0 }]);
    expect(c.warnings).toEqual([expect.stringContaining("/Microsoft-Server-ActiveSync: reply timeout 900 s")]);
    expect(c.balancer).toMatchObject({ retryMs: 60_000, nofailover: false, forceRecovery: true, fails: 5 });
    expect(c.limits).toEqual({ headerTimeoutMs: 20_000, keepAliveTimeoutMs: 65_000, bodyTimeoutMs: 20_000, bodyMinRate: 500, maxConnections: 4096, websocketIdleMs: 60_000, websocketPingMs: 25_000 });
    expect(c.members[0]).toMatchObject({ route: "OX1", host: "10.20.30.213", port: 8009, secret: "s1", timeoutMs: 100_000, packetSize: 8192 });
    expect(c.members[0].pool).toEqual({ host: "10.20.30.213", port: 8009, packetSize: 8192, max: 64, smax: 0, ttlMs: 60_000, connectTimeoutMs: 5000, pingMs: 0, acquireMs: 5000, queue: 256 });
    expect(c.members[0].spec).toEqual({ route: "OX1", loadfactor: 1, lbset: 0, status: {}, redirect: undefined });
  });

  it("per-prefix timeouts: the longest prefix first, a deadline alone keeps the member's reply timeout", () => {
    const c = buildConfig({ members: [member], timeouts: [{ prefix: "/ajax", deadline: 30 }, { prefix: "/ajax/long", timeout: 300, deadline: 600 }] }, env);
    expect(c.paths.route("/ajax/long/x")).toMatchObject({ timeout: 300, deadline: 600 });
    expect(c.paths.route("/ajax/x")).toMatchObject({ timeout: undefined, deadline: 30 });
    expect(c.paths.route("/Microsoft-Server-ActiveSync")).toMatchObject({ timeout: undefined, deadline: 0 });
    expect(errorOf({ members: [member], limits: { header_timeout: 0 } })).toContain("limits.header_timeout = 0");
    expect(errorOf({ members: [member], limits: { max_connections: 0 } })).toContain("limits.max_connections = 0");
    expect(errorOf({ members: [member], balancer: { fails: -1 } })).toContain("balancer.fails = -1");
  });

  it("provisioning.allow takes addresses and CIDR blocks of both families, nothing else", () => {
    const c = buildConfig({ members: [member], provisioning: { allow: ["127.0.0.1", "10.0.0.0/8", "::1", "2001:db8::/32"] } }, env);
    expect(c.paths.internal("/servlet/axis2")[0].allow).toHaveLength(4);
    for (const bad of ["10.0.0.0/33", "2001:db8::/129", "10.1", "localhost", "10.0.0.0/8/1", "10.0.0.0/"]) {
      expect(errorOf({ members: [member], provisioning: { allow: [bad] } })).toContain(`provisioning.allow[0] = ${JSON.stringify(bad)}: expected an IP address or a CIDR block`);
    }
  });

  it("paths names a preset; [provisioning] allow is its internal paths' allow-list", () => {
    const c = buildConfig({ members: [httpMember], paths: "appsuite7", provisioning: { allow: ["10.0.0.0/8"] } }, env);
    expect(c.paths.route("/socket.io/x")).toMatchObject({ websocket: true, cluster: true });
    expect(c.paths.internal("/webservices/x")).toMatchObject([{ prefix: "/webservices", allow: ["10.0.0.0/8"] }]);
    expect(c.warnings).toHaveLength(2);
    // [[timeouts]] entries change the preset's timeouts, prefix by prefix.
    const lowered = buildConfig({ members: [httpMember], paths: "appsuite7", timeouts: [{ prefix: "/Microsoft-Server-ActiveSync", timeout: 90 }, { prefix: "/usm-json", timeout: 90 }] }, env);
    expect(lowered.paths.route("/Microsoft-Server-ActiveSync")).toMatchObject({ timeout: 90, cluster: true });
    expect(lowered.warnings).toEqual([]);
  });

  it("reads [[paths]] tables and a preset-first list from TOML", () => {
    const dir = mkdtempSync(join(tmpdir(), "oxedge-config-"));
    const members = `[[members]]\nroute = "OX1"\naddress = "http://127.0.0.1:8009"\n`;
    writeFileSync(
      join(dir, "tables.toml"),
      `[[paths]]\nprefix = "/ajax"\ncluster = true\n\n[[paths]]\nprefix = "/appsuite/api"\nrewrite = "/ajax"\n\n[[paths]]\nprefix = "/soap"\ncluster = true\ninternal = true\nallow = ["192.0.2.0/24"]\n\n${members}`,
    );
    const t = loadConfigFile(join(dir, "tables.toml"), env);
    expect(t.paths.clusterPrefixes).toEqual(["/ajax", "/appsuite/api", "/soap"]);
    expect(t.paths.internal("/SOAP/x")[0].allow).toEqual(["192.0.2.0/24"]);
    writeFileSync(join(dir, "list.toml"), `paths = ["appsuite7", { prefix = "/Microsoft-Server-ActiveSync", timeout = 90 }]\n${members}`);
    expect(loadConfigFile(join(dir, "list.toml"), env).paths.route("/Microsoft-Server-ActiveSync")).toMatchObject({ timeout: 90 });
  });

  it.each([
    [{ paths: "appsuite7", prefixes: ["/ajax"] }, 'prefixes = ["/ajax"]: cannot be combined with paths = "appsuite7"'],
    [{ paths: "appsuite7", provisioning: { path: "/servlet/axis2" } }, 'provisioning.path = ["/servlet/axis2"]: cannot be combined with paths = "appsuite7"'],
    [{ paths: [{ prefix: "/ajax", cluster: true }], timeouts: [{ prefix: "/ajax", timeout: 5 }] }, "cannot be combined with paths as a list: give timeout and deadline in the rules of paths"],
    [{ paths: [{ prefix: "/ajax", cluster: true }], prefixes: ["/ajax"] }, "cannot be combined with paths as a list"],
    [{ paths: "appsuite8" }, 'paths = "appsuite8": unknown preset'],
    [{ paths: [{ prefix: "/ajax", cluster: true }, { prefix: "/x", rewrite: "/y" }] }, 'paths[1].rewrite = "/y": the target /y is not a cluster path'],
    [{ paths: [{ prefix: "/ajax", cluster: true, internal: true, allow: ["10.1"] }] }, 'paths[0].allow[0] = "10.1": expected an IP address or a CIDR block'],
  ])("refuses contradictory or bad paths %j", (extra, needle) => {
    expect(errorOf({ members: [member], ...extra })).toContain(needle);
  });

  it("the old keys keep working with ox6, by name or unset", () => {
    for (const paths of [undefined, "ox6"]) {
      const c = buildConfig({ members: [member], paths, prefixes: ["/ajax"], provisioning: { path: "/ajax/admin", allow: ["10.0.0.1"] }, timeouts: [] }, env);
      expect(c.paths.clusterPrefixes).toEqual(["/ajax"]);
      expect(c.paths.internal("/ajax/ADMIN")).toMatchObject([{ prefix: "/ajax/admin", allow: ["10.0.0.1"] }]);
      expect(c.warnings).toEqual([]);
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
    expect(errorOf({ members: [member] }, { OXEDGE_BRIDGE_SECRET: "short" })).toContain("the secret is 5 characters; it must be at least 32 characters");
    expect(errorOf({ members: [member] }, { OXEDGE_BRIDGE_SECRET: "x".repeat(40) })).toContain("only 1 different characters");
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
    writeFileSync(file, `paths = "appsuite7"\nprefixes = ["/ajax"]\n[[members]]\nroute = "OX1"\naddress = "127.0.0.1:8009"\n`);
    const mixed = spawnSync(process.execPath, ["bin/oxedge-bridge.js", "--config", file], { env: { ...process.env, ...env }, encoding: "utf8", timeout: 20_000 });
    expect(mixed.status).toBe(2);
    expect(mixed.stderr).toContain('prefixes = ["/ajax"]: cannot be combined with paths = "appsuite7"');
    const usage = spawnSync(process.execPath, ["bin/oxedge-bridge.js"], { encoding: "utf8", timeout: 20_000 });
    expect(usage.status).toBe(2);
    expect(usage.stderr).toContain("usage: oxedge-bridge --config FILE");
  });

  it("the CLI starts with a timeout beyond the edge's limit, and says so", async () => {
    const dir = mkdtempSync(join(tmpdir(), "oxedge-config-"));
    const file = join(dir, "b.toml");
    writeFileSync(file, `listen = "127.0.0.1:0"\npaths = "appsuite7"\n[balancer]\nhealthcheck = 0\n[[members]]\nroute = "OX1"\naddress = "http://127.0.0.1:${await freePort()}"\n`);
    const child = spawn(process.execPath, ["bin/oxedge-bridge.js", "--config", file], { env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
    try {
      // Production logs are JSON lines (bridge/log.ts): every line parses, the warnings are records.
      // The launcher's own notice (no built bundle in a checkout, bin/bundle.js) comes before them.
      const records = () => stderr.split("\n").filter((l) => l !== "" && !l.startsWith("oxedge: ")).map((l) => JSON.parse(l) as Record<string, unknown>);
      await until(() => records().filter((r) => r.kind === "edge-timeout").length === 2 || child.exitCode !== null, 20_000);
      expect(child.exitCode).toBeNull();
      expect(records().some((r) => r.msg === "bridge listening" && r.level === "info")).toBe(true);
      const lines = records().filter((r) => r.kind === "edge-timeout");
      expect(lines[0]).toMatchObject({ level: "warn" });
      expect(lines[0].msg).toMatch(/^\/usm-json: reply timeout 1900 s \(preset appsuite7\) is longer than the 100 s Cloudflare waits for an origin/);
      expect(lines[1].msg).toContain("/Microsoft-Server-ActiveSync: reply timeout 1900 s");
    } finally {
      child.kill("SIGTERM");
      await new Promise((resolve) => (child.exitCode !== null ? resolve(undefined) : child.once("exit", resolve)));
    }
  });
});
