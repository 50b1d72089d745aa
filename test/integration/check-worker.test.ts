/**
 * `npm run check:worker`: the worker's schema applied to wrangler.toml before
 * a deployment, run as the operator runs it (a child process, exit status and
 * messages), plus its deploy rule as a pure function.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildConfig, ConfigError } from "../../bridge/config.ts";
import { deployProblem } from "../../scripts/worker-deploy-rules.ts";
import { WORKER_VARS } from "../../worker/config.ts";

const GOOD_SECRET = "5f0c3e1a9b7d4c2e8f6a1b3d5c7e9f0a";
const SHORT_SECRET = "hunter2hunter2";

function check(args: string[], env: Record<string, string> = {}) {
  const clean: NodeJS.ProcessEnv = { ...process.env };
  for (const name of WORKER_VARS) delete clean[name];
  const r = spawnSync(process.execPath, ["--import", "tsx", "scripts/check-worker.ts", ...args], { encoding: "utf8", timeout: 60_000, env: { ...clean, ...env } });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

describe("npm run check:worker", () => {
  it("takes the shipped wrangler.toml for development, says the secret lives in Cloudflare", () => {
    const r = check([]);
    expect(r.status, r.err).toBe(0);
    expect(r.out).toContain("wrangler secret put BRIDGE_SECRET");
    expect(r.out).toContain("bridge http://127.0.0.1:8081 weight 1");
  });

  it("--deploy refuses the shipped loopback default, naming BRIDGE_URLS (exit 2)", () => {
    const r = check(["--deploy"]);
    expect(r.status).toBe(2);
    expect(r.err).toContain('BRIDGE_URLS = "http://127.0.0.1:8081": http://127.0.0.1:8081 is not https');
  });

  it("--deploy accepts a good https set with weights and a good secret from the environment", () => {
    const r = check(["--deploy"], { BRIDGE_URLS: "https://b1.example.com 3, https://b2.example.com 1, https://b3.example.com 0", BRIDGE_SECRET: GOOD_SECRET });
    expect(r.status, r.err).toBe(0);
    expect(r.out).toContain("is good to deploy");
    expect(r.out).toContain("bridge https://b1.example.com weight 3 (75 % of requests)");
    expect(r.out).toContain("bridge https://b3.example.com weight 0 (standby)");
    expect(r.out).not.toContain(GOOD_SECRET);
  });

  it("refuses a short secret, and the bridge refuses the same secret in the same words", () => {
    const r = check([], { BRIDGE_SECRET: SHORT_SECRET });
    expect(r.status).toBe(2);
    const words = "the secret is 14 characters; it must be at least 32 characters, at least 8 of them different";
    expect(r.err).toContain(`BRIDGE_SECRET = (secret, 14 chars): ${words}`);
    expect(r.err).not.toContain(SHORT_SECRET);
    let bridgeMessage = "";
    try {
      buildConfig({ members: [{ route: "OX1", address: "127.0.0.1:8009" }] }, { OXEDGE_BRIDGE_SECRET: SHORT_SECRET });
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      bridgeMessage = (e as Error).message;
    }
    expect(bridgeMessage).toContain(`secret_env = "OXEDGE_BRIDGE_SECRET": ${words}`);
  });

  it("reads [env.NAME] vars, refuses a secret written into wrangler.toml and an unknown environment", () => {
    const dir = mkdtempSync(join(tmpdir(), "oxedge-check-"));
    const file = join(dir, "wrangler.toml");
    writeFileSync(
      file,
      ['name = "x"', "[vars]", 'BRIDGE_URLS = "http://127.0.0.1:8081"', "[env.prod.vars]", 'BRIDGE_URLS = "https://bridge.example.com"', 'HSTS_MAX_AGE = "soon"', `BRIDGE_SECRET = "${GOOD_SECRET}"`].join("\n"),
    );
    const r = check(["--deploy", "--env", "prod", "--config", file]);
    expect(r.status).toBe(2);
    expect(r.err).toContain("BRIDGE_SECRET = (in wrangler.toml): a secret does not belong in wrangler.toml");
    expect(r.err).toContain('HSTS_MAX_AGE = "soon"');
    expect(r.err).not.toContain("BRIDGE_URLS");
    expect(r.err).not.toContain(GOOD_SECRET);
    const missing = check(["--env", "staging", "--config", file]);
    expect(missing.status).toBe(2);
    expect(missing.err).toContain("wrangler.toml has no [env.staging]");
  });
});

describe("deployProblem", () => {
  it.each([
    "http://bridge.example.com",
    "https://127.0.0.1:8081",
    "https://10.1.2.3",
    "https://172.20.0.1",
    "https://192.168.1.10",
    "https://100.64.0.1",
    "https://169.254.1.1",
    "https://[::1]:8009",
    "https://[fd00::5]",
    "https://[::ffff:10.0.0.1]",
    "https://localhost:8009",
    "https://bridge.local",
    "https://bridge.internal",
    "https://bridge",
  ])("refuses %s", (origin) => {
    expect(deployProblem(new URL(origin).origin)).toBeDefined();
  });

  it.each(["https://bridge.example.com", "https://bridge1.ox.example.net:8443", "https://8.8.8.8", "https://[2606:4700::1111]"])("accepts %s", (origin) => {
    expect(deployProblem(new URL(origin).origin)).toBeUndefined();
  });
});
