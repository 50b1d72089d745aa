// Which code the bins run (docs/install.md, The build). Plain JavaScript, so
// it runs before anything TypeScript is set up.
//
// A bundle is one plain ES module made by esbuild: neither a loader thread
// (tsx costs about 40 MiB of RSS for the bridge's whole life) nor esbuild
// itself stays in the process. `npm run build` writes them to dist/ once;
// the bins run that one while no source it was made from has changed since.
// Otherwise, in a checkout (a fresh clone, an edit after the build), they
// bundle for this run, in a short-lived child process, into a temporary
// directory; with NODE_ENV=production (the systemd unit) they run only
// dist/, so a service never runs code nobody built.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));
export const DIST = join(ROOT, "dist");

/** Each bundle and its TypeScript entry. */
export const BUNDLES = {
  "oxedge-bridge": "bridge/cli.ts",
  "oxedge-import": "bridge/import/cli.ts",
};

/** Besides the sources: a dependency upgrade (npm ci after a pull) also makes a bundle stale. */
const ALSO_INPUTS = ["package-lock.json"];

const bundleFile = (name, dir = DIST) => join(dir, `${name}.mjs`);
const inputsFile = (name, dir = DIST) => join(dir, `${name}.inputs.json`);

/**
 * Bundle `name` into `dir`; for a build that stays (`listInputs`), also the
 * list of files it was made from, which distState compares with the tree.
 * No source map: node keeps a module's whole source text in memory, and an
 * inline map made the bridge's idle RSS about 10 MiB larger (measured, 66 →
 * 56 MiB); names are not minified, so stack traces and profiles stay readable.
 */
export async function build(name, dir = DIST, listInputs = dir === DIST) {
  const esbuild = await import("esbuild");
  const r = await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: [BUNDLES[name]],
    // A build that stays is written beside and renamed into place: a bin starting meanwhile reads the old one or the new one, whole.
    outfile: listInputs ? join(dir, `.${name}.building.mjs`) : bundleFile(name, dir),
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    logLevel: "error",
    metafile: listInputs,
    // Bundled CommonJS packages (undici) require node's own modules; an ES module has no require.
    banner: { js: 'import { createRequire as oxedgeCreateRequire } from "node:module"; const require = oxedgeCreateRequire(import.meta.url);' },
  });
  if (listInputs) {
    // Our own sources only: node_modules changes only through package-lock.json.
    const sources = Object.keys(r.metafile.inputs).filter((f) => !f.includes("node_modules/"));
    writeFileSync(inputsFile(name, dir), JSON.stringify([...sources, ...ALSO_INPUTS], null, 1) + "\n");
    renameSync(join(dir, `.${name}.building.mjs`), bundleFile(name, dir));
  }
  return bundleFile(name, dir);
}

/** "current", "missing", or the first input changed after dist/NAME.mjs was built. */
export function distState(name, dir = DIST) {
  let built;
  try {
    built = statSync(bundleFile(name, dir)).mtimeMs;
  } catch {
    return "missing";
  }
  let inputs;
  try {
    inputs = JSON.parse(readFileSync(inputsFile(name, dir), "utf8"));
  } catch {
    return "missing";
  }
  for (const f of inputs) {
    let mtime;
    try {
      mtime = statSync(join(ROOT, f)).mtimeMs;
    } catch {
      // Gone since the build: the bundle no longer matches the tree.
      return f;
    }
    if (mtime > built) return f;
  }
  return "current";
}

/**
 * What to run for a distState: the built bundle, a fresh one, or nothing
 * (production without a build), and the line that says so.
 */
export function choose(name, state, production) {
  if (state === "current") return { run: "dist" };
  const why = state === "missing" ? `dist/${name}.mjs is missing` : `${state} changed after dist/${name}.mjs was built`;
  if (production && state === "missing") return { run: "none", say: `oxedge: ${why}: run \`npm run build\` in ${ROOT} (NODE_ENV=production runs only a built bundle)` };
  // What was built is what runs; the journal says the tree moved on.
  if (production) return { run: "dist", say: `oxedge: warning: ${why}; running the built bundle anyway (NODE_ENV=production): run \`npm run build\`` };
  return { run: "fresh", say: `oxedge: ${why}; bundling from the sources for this run (\`npm run build\` makes it once)` };
}

/** Run bundle `name` (its entry reads process.argv and sets the exit status). */
export async function run(name) {
  const c = choose(name, distState(name), process.env.NODE_ENV === "production");
  if (c.say) console.error(c.say);
  if (c.run === "none") process.exit(1);
  if (c.run === "dist") return import(pathToFileURL(bundleFile(name)).href);
  return runFresh(name);
}

/** Bundle in a child process, so esbuild's memory is not ours; tsx when esbuild is not installed. */
async function runFresh(name) {
  const dir = mkdtempSync(join(tmpdir(), `${name}-`));
  const script = `import(${JSON.stringify(pathToFileURL(fileURLToPath(import.meta.url)).href)}).then((b) => b.build(${JSON.stringify(name)}, ${JSON.stringify(dir)}, false))
    .then(() => process.exit(0), (e) => { console.error(e.message); process.exit(e.code === "ERR_MODULE_NOT_FOUND" ? 3 : 1); });`;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { cwd: ROOT, stdio: ["ignore", "inherit", "inherit"] });
  // The bundle is per run and gone once loaded, or at exit, whichever comes
  // first (a config error exits while loading).
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  if (r.status === 0) {
    process.once("exit", cleanup);
    try {
      return await import(pathToFileURL(bundleFile(name, dir)).href);
    } finally {
      cleanup();
    }
  }
  cleanup();
  if (r.status !== 3) process.exit(1);
  const { register } = await import("tsx/esm/api");
  register();
  return import(pathToFileURL(join(ROOT, BUNDLES[name])).href);
}
