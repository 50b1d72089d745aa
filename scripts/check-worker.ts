/**
 * `npm run check:worker [-- --deploy] [--env NAME]`: the worker's vars from
 * wrangler.toml (the shell's environment overrides them), judged by the
 * worker's own schema before anything is uploaded, since a deployed worker
 * can only answer 500 bad-config. `--deploy` (what deploy:worker runs) also
 * refuses bridges the edge cannot reach. Exit 0 when good, 2 when not.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseToml } from "smol-toml";
import { checkWorkerVars } from "./worker-deploy-rules.ts";
import { formatProblem } from "../common/errors.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

const USAGE = "usage: npm run check:worker -- [--deploy] [--env NAME] [--config wrangler.toml]";

function main(argv: string[]): number {
  let deploy = false;
  let envName: string | undefined;
  let file = path.join(root, "wrangler.toml");
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--deploy") deploy = true;
    else if ((a === "--env" || a === "-e" || a === "--config" || a === "-c") && argv[i + 1] !== undefined) {
      if (a === "--env" || a === "-e") envName = argv[++i];
      else file = path.resolve(argv[++i]);
    } else if (a === "--help" || a === "-h") {
      console.log(USAGE);
      return 0;
    } else {
      console.error(`check:worker: unknown argument ${JSON.stringify(a)}\n${USAGE}`);
      return 2;
    }
  }
  let toml: Record<string, unknown>;
  try {
    toml = parseToml(readFileSync(file, "utf8")) as Record<string, unknown>;
  } catch (e) {
    console.error(`check:worker: cannot read ${file}: ${(e as Error).message}`);
    return 2;
  }
  const r = checkWorkerVars({ toml, envName, env: process.env, deploy });
  const where = `${path.relative(process.cwd(), file) || file}${envName ? ` [env.${envName}]` : ""}`;
  for (const n of r.notes) console.log(`note: ${n}`);
  if (!r.ok) {
    console.error(`check:worker: ${where} is not ready${deploy ? " to deploy" : ""}:`);
    for (const p of r.problems) console.error(`  ${formatProblem(p)}`);
    return 2;
  }
  const c = r.config!;
  const total = c.bridges.reduce((s, b) => s + b.weight, 0);
  console.log(`check:worker: ${where} is good${deploy ? " to deploy" : ""}`);
  for (const b of c.bridges) console.log(`  bridge ${b.url} weight ${b.weight}${b.weight === 0 ? " (standby)" : ` (${Math.round((100 * b.weight) / total)} % of requests)`}`);
  console.log(`  cloudflare access token: ${c.access ? "set" : "not set"}; path map: ${c.clusterPrefixes.join(" ")}`);
  return 0;
}

process.exitCode = main(process.argv.slice(2));
