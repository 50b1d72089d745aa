/**
 * `wrangler deploy --dry-run` builds exactly what `wrangler deploy` would
 * upload; CI proves it builds and prints its size.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { readFileSync } from "node:fs";
import { expect, it } from "vitest";

it("wrangler deploy --dry-run bundles the worker", () => {
  const out = mkdtempSync(join(tmpdir(), "oxedge-dist-"));
  const r = spawnSync(process.execPath, ["node_modules/wrangler/bin/wrangler.js", "deploy", "--dry-run", "--outdir", out], {
    encoding: "utf8",
    timeout: 120_000,
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true" },
  });
  expect(r.status, r.stderr + r.stdout).toBe(0);
  expect(r.stdout).toContain("--dry-run: exiting now.");
  const bundle = readdirSync(out).find((f) => f.endsWith(".js"))!;
  const bytes = statSync(join(out, bundle)).size;
  const gz = gzipSync(readFileSync(join(out, bundle))).length;
  console.log(`worker bundle ${bundle}: ${(bytes / 1024).toFixed(1)} KiB, ${(gz / 1024).toFixed(1)} KiB gzipped`);
  // The Workers free plan limit is 3 MiB gzipped; stay far below it.
  expect(gz).toBeLessThan(1024 * 1024);
});
