// `npm run build`: every bundle of bin/bundle.js into dist/, once (docs/install.md, The build).
import { statSync } from "node:fs";
import { relative } from "node:path";
import { BUNDLES, ROOT, build } from "../bin/bundle.js";

for (const name of Object.keys(BUNDLES)) {
  const file = await build(name);
  console.log(`${relative(ROOT, file)}  ${(statSync(file).size / 1024).toFixed(0)} KiB  (from ${BUNDLES[name]})`);
}
