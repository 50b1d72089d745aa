/**
 * packaging/oxedge-bridge.service: systemd accepts it without a warning, and
 * it says what the bridge relies on (docs/install.md, The systemd unit).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { SYSTEMD_ANALYZE } from "../../peers/prereqs.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const text = readFileSync(join(root, "packaging/oxedge-bridge.service"), "utf8");
const dir = mkdtempSync(join(tmpdir(), "oxedge-unit-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Section → key → every value given (a key may repeat). */
function parseUnit(unit: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const line of unit.split("\n")) {
    const header = /^\[(\w+)\]$/.exec(line);
    if (header) sections.set(header[1], (current = new Map()));
    const kv = /^(\w+)=(.*)$/.exec(line);
    if (kv && current) current.set(kv[1], [...(current.get(kv[1]) ?? []), kv[2]]);
  }
  return sections;
}

describe("the systemd unit", () => {
  const service = parseUnit(text).get("Service")!;
  const one = (key: string) => {
    const v = service.get(key);
    expect(v, key).toHaveLength(1);
    return v![0];
  };

  it("reloads with SIGHUP, stops with SIGTERM after the grace, and runs the built bridge as oxedge", () => {
    expect(one("ExecReload")).toBe("/bin/kill -HUP $MAINPID");
    expect(one("KillSignal")).toBe("SIGTERM");
    // [lifecycle] grace defaults to 30 s: systemd must not SIGKILL a bridge still draining.
    expect(Number(one("TimeoutStopSec"))).toBeGreaterThan(30);
    expect(one("ExecStart")).toBe("/usr/bin/node /opt/oxedge/bin/oxedge-bridge.js --config /etc/oxedge/bridge.toml");
    expect(one("ExecStartPre")).toBe("/usr/bin/node /opt/oxedge/bin/oxedge-bridge.js --check /etc/oxedge/bridge.toml");
    expect(one("Environment")).toBe("NODE_ENV=production");
    expect(one("EnvironmentFile")).toBe("/etc/oxedge/bridge.env");
    expect(one("StateDirectory")).toBe("oxedge");
    expect([one("User"), one("Group"), one("Type"), one("Restart"), one("LimitNOFILE")]).toEqual(["oxedge", "oxedge", "simple", "on-failure", "65536"]);
  });

  it("is hardened, with W+X memory left to V8 and no capabilities", () => {
    for (const key of ["NoNewPrivileges", "ProtectHome", "PrivateTmp", "PrivateDevices", "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups", "RestrictNamespaces", "LockPersonality"]) {
      expect(one(key), key).toBe("yes");
    }
    expect(one("ProtectSystem")).toBe("strict");
    expect(one("RestrictAddressFamilies")).toBe("AF_INET AF_INET6 AF_UNIX");
    expect(one("MemoryDenyWriteExecute")).toBe("no");
    expect(one("SystemCallArchitectures")).toBe("native");
    expect(one("CapabilityBoundingSet")).toBe("");
    expect(service.has("AmbientCapabilities")).toBe(false);
  });

  // The banner of test/support/global-setup.ts names systemd-analyze when it is missing (CI installs it).
  it.runIf(existsSync(SYSTEMD_ANALYZE))("passes systemd-analyze verify without a warning", () => {
    // verify wants the executables to exist: this checkout's node and bin, as root (no oxedge user here).
    const local = text
      .replaceAll("/usr/bin/node", process.execPath)
      .replaceAll("/opt/oxedge", root.replace(/\/$/, ""))
      .replace(/^User=oxedge$/m, "User=root")
      .replace(/^Group=oxedge$/m, "Group=root");
    const file = join(dir, "oxedge-bridge.service");
    writeFileSync(file, local);
    const r = spawnSync(SYSTEMD_ANALYZE, ["verify", file], { encoding: "utf8", timeout: 30_000 });
    expect(r.stdout + r.stderr).toBe("");
    expect(r.status).toBe(0);
    // The check itself sees mistakes: a misspelt setting is a warning.
    writeFileSync(file, local.replace("KillMode=mixed", "KillMode=softly"));
    expect(spawnSync(SYSTEMD_ANALYZE, ["verify", file], { encoding: "utf8", timeout: 30_000 }).stderr).toContain("kill mode");
  });
});
