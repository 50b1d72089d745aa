/**
 * oxedge-bridge's own commands, run as the installed bin is: --check
 * validates a file without starting anything (0, or 2 with every bad
 * field), --version and --help answer and exit.
 */
import { afterAll, describe, expect, it } from "vitest";
import pkg from "../../package.json" with { type: "json" };
import { configDir, runBridgeCli } from "../support/bridge-process.ts";

const files = configDir();
afterAll(() => files.remove());
const env = { ...process.env, OXEDGE_BRIDGE_SECRET: "cli-test-secret-0123456789abcdefgh" };

describe("oxedge-bridge --check", () => {
  it("a valid file: exit 0 and a summary of members, paths, listeners and the edge-timeout warnings", () => {
    const file = files.write(
      "good.toml",
      `listen = "127.0.0.1:18009"\nadmin_listen = "127.0.0.1:18010"\npaths = "appsuite7"\n[lifecycle]\ngrace = 12\n` +
        `[[members]]\nroute = "OX1"\naddress = "10.0.0.1:8009"\n[[members]]\nroute = "OX2"\naddress = "http://10.0.0.2:8080"\nstatus = "+H"\n`,
    );
    const r = runBridgeCli(["--check", file], env);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`${file}: ok`);
    expect(r.stdout).toMatch(/listen\s+127\.0\.0\.1:18009/);
    expect(r.stdout).toMatch(/admin\s+127\.0\.0\.1:18010 \(read-only/);
    expect(r.stdout).toMatch(/OX1\s+ajp 10\.0\.0\.1:8009/);
    expect(r.stdout).toMatch(/OX2\s+http 10\.0\.0\.2:8080 .*hotStandby/);
    expect(r.stdout).toContain("/socket.io (websocket)");
    expect(r.stdout).toMatch(/grace\s+12 s/);
    expect(r.stdout).toMatch(/warning: \/Microsoft-Server-ActiveSync: reply timeout 1900 s/);
  });

  it("--check --config FILE is the same check", () => {
    const file = files.write("same.json", { members: [{ route: "OX1", address: "10.0.0.1:8009" }] });
    const r = runBridgeCli(["--check", "--config", file], env);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`${file}: ok`);
  });

  it("a bad file: exit 2 and every bad field with its value and rule", () => {
    const file = files.write("bad.toml", `listen = "nowhere"\n[lifecycle]\ngrace = -1\n[[members]]\nroute = "OX 1"\naddress = "10.0.0.1:8009"\nloadfactor = 500\n`);
    const r = runBridgeCli(["--check", file], env);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("invalid bridge config");
    for (const field of ["listen = \"nowhere\"", "lifecycle.grace = -1", "members[0].route = \"OX 1\"", "members[0].loadfactor = 500"]) expect(r.stderr).toContain(field);
  });

  it("a missing secret is a bad file too (the check reads the environment the bridge will run with)", () => {
    const file = files.write("nosecret.json", { members: [{ route: "OX1", address: "10.0.0.1:8009" }] });
    const r = runBridgeCli(["--check", file], { ...process.env, OXEDGE_BRIDGE_SECRET: "" });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("secret_env");
  });

  it("no file, or a file that is not there: exit 2", () => {
    expect(runBridgeCli(["--check"], env).status).toBe(2);
    const r = runBridgeCli(["--check", `${files.dir}/absent.toml`], env);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("cannot read it");
  });
});

describe("oxedge-bridge --version, --help", () => {
  it("--version prints the package's version", () => {
    const r = runBridgeCli(["--version"], env);
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe(`oxedge-bridge ${pkg.version}`);
  });

  it("--help lists the options, the signals and the exit statuses", () => {
    const r = runBridgeCli(["--help"], env);
    expect(r.status).toBe(0);
    for (const s of ["--config FILE", "--check", "--version", "TERM, INT", "HUP", "exit status", "docs/lifecycle.md"]) expect(r.stdout).toContain(s);
  });

  it("an unknown option: exit 2 with the usage", () => {
    const r = runBridgeCli(["--frobnicate"], env);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("usage: oxedge-bridge");
  });
});
