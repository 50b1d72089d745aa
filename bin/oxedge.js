#!/usr/bin/env node
// `oxedge COMMAND …`: picks the TypeScript entry of a command and runs it, as
// oxedge-bridge does: bundled by esbuild in a short-lived child process into
// one plain ES module (a cold start of a second or less, no loader kept), or
// through tsx when esbuild is not installed. The entry gets the whole command
// line and sets the exit status.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const COMMANDS = { import: "../bridge/import/cli.ts" };

const [command] = process.argv.slice(2);
// One command so far: its help is the tool's help, and it names what is wrong with a bad command line.
const entry = fileURLToPath(new URL(COMMANDS[command] ?? COMMANDS.import, import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "oxedge-"));
const outfile = join(dir, "oxedge.mjs");

const build = `
  import("esbuild").then((esbuild) => esbuild.build({
    entryPoints: [${JSON.stringify(entry)}], outfile: ${JSON.stringify(outfile)},
    bundle: true, platform: "node", format: "esm", target: "node20", logLevel: "error",
    banner: { js: 'import { createRequire as oxedgeCreateRequire } from "node:module"; const require = oxedgeCreateRequire(import.meta.url);' },
  })).then(() => process.exit(0), (e) => { console.error(e.message); process.exit(e.code === "ERR_MODULE_NOT_FOUND" ? 3 : 1); });
`;
const r = spawnSync(process.execPath, ["--input-type=module", "-e", build], { cwd: fileURLToPath(new URL("..", import.meta.url)), stdio: ["ignore", "inherit", "inherit"] });
const cleanup = () => rmSync(dir, { recursive: true, force: true });
process.once("exit", cleanup);
if (r.status === 0) {
  await import(pathToFileURL(outfile).href);
} else {
  cleanup();
  if (r.status !== 3) process.exit(1);
  const { register } = await import("tsx/esm/api");
  register();
  await import(pathToFileURL(entry).href);
}
