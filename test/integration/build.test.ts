/**
 * `npm run build` and how the bins pick what to run (bin/bundle.js): a
 * bundle lists what it was made from, is stale once one of those is newer,
 * and runs on its own, outside the checkout.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, utimesSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BUNDLES, build, choose, distState } from "../../bin/bundle.js";

const dir = mkdtempSync(join(tmpdir(), "oxedge-build-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the build", () => {
  it("writes each bundle with the list of its inputs, and the list decides whether it is current", async () => {
    for (const name of Object.keys(BUNDLES)) {
      expect(distState(name, dir)).toBe("missing");
      const file = await build(name, dir, true);
      const inputs: string[] = JSON.parse(readFileSync(join(dir, `${name}.inputs.json`), "utf8"));
      expect(inputs).toContain(BUNDLES[name]);
      expect(inputs).toContain("package-lock.json");
      expect(inputs.filter((f) => f.includes("node_modules"))).toEqual([]);
      expect(distState(name, dir)).toBe("current");
      // Built before every input was last written: the first input it meets is named.
      utimesSync(file, new Date(0), new Date(0));
      expect(inputs).toContain(distState(name, dir));
    }
  }, 60_000);

  it("a built bundle runs outside the checkout, without node_modules", async () => {
    const file = await build("oxedge-bridge", dir, false);
    const r = spawnSync(process.execPath, [file, "--help"], { cwd: tmpdir(), encoding: "utf8", timeout: 20_000 });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("usage: oxedge-bridge --config FILE");
  }, 60_000);

  it("production runs only a build; a checkout bundles afresh when there is none or it is stale", () => {
    expect(choose("oxedge-bridge", "current", true)).toEqual({ run: "dist" });
    expect(choose("oxedge-bridge", "current", false)).toEqual({ run: "dist" });
    const refused = choose("oxedge-bridge", "missing", true);
    expect(refused.run).toBe("none");
    expect(refused.say).toContain("npm run build");
    const stale = choose("oxedge-bridge", "bridge/cli.ts", true);
    expect(stale.run).toBe("dist");
    expect(stale.say).toContain("bridge/cli.ts changed after dist/oxedge-bridge.mjs was built");
    expect(choose("oxedge-bridge", "missing", false).run).toBe("fresh");
    expect(choose("oxedge-bridge", "bridge/cli.ts", false).run).toBe("fresh");
  });

  it("NODE_ENV=production without a build exits 1 and says to build", () => {
    // A copy of bin/ beside no dist/: the bins find dist/ next to their own directory.
    const copy = mkdtempSync(join(dir, "checkout-"));
    spawnSync("cp", ["-r", join(import.meta.dirname, "../../bin"), copy]);
    const r = spawnSync(process.execPath, [join(copy, "bin/oxedge-bridge.js"), "--help"], { env: { ...process.env, NODE_ENV: "production" }, encoding: "utf8", timeout: 20_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("dist/oxedge-bridge.mjs is missing: run `npm run build`");
  });
});
