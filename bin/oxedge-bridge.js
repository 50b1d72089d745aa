#!/usr/bin/env node
// The bridge is TypeScript. A short-lived child process bundles it with
// esbuild into one plain ES module, which this process then runs: neither a
// loader thread (tsx costs about 40 MiB of RSS for the bridge's whole life)
// nor esbuild itself stays in the bridge. tsx is the fallback when esbuild
// is not installed.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const entry = fileURLToPath(new URL("../bridge/cli.ts", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "oxedge-bridge-"));
const outfile = join(dir, "bridge.mjs");

// No source map: node keeps a module's whole source text in memory, and an
// inline map made the bridge's idle RSS about 10 MiB larger (measured, 66 → 56
// MiB); names are not minified, so stack traces and profiles stay readable.
const build = `
  import("esbuild").then((esbuild) => esbuild.build({
    entryPoints: [${JSON.stringify(entry)}], outfile: ${JSON.stringify(outfile)},
    bundle: true, platform: "node", format: "esm", target: "node20", logLevel: "error",
    // Bundled CommonJS packages (undici) require node's own modules; an ES module has no require.
    banner: { js: 'import { createRequire as oxedgeCreateRequire } from "node:module"; const require = oxedgeCreateRequire(import.meta.url);' },
  })).then(() => process.exit(0), (e) => { console.error(e.message); process.exit(e.code === "ERR_MODULE_NOT_FOUND" ? 3 : 1); });
`;
const r = spawnSync(process.execPath, ["--input-type=module", "-e", build], { cwd: fileURLToPath(new URL("..", import.meta.url)), stdio: ["ignore", "inherit", "inherit"] });

// The bundle is per run (no stale one can be picked up) and is gone once loaded,
// or at exit, whichever comes first (a config error exits while loading).
const cleanup = () => rmSync(dir, { recursive: true, force: true });
if (r.status === 0) {
  process.once("exit", cleanup);
  try {
    await import(pathToFileURL(outfile).href);
  } finally {
    cleanup();
  }
} else {
  cleanup();
  if (r.status !== 3) process.exit(1);
  const { register } = await import("tsx/esm/api");
  register();
  await import(pathToFileURL(entry).href);
}
