/**
 * `oxedge import apache FILE [--out DIR]`: the I/O around importApache().
 * Run through bin/oxedge.js. Exit status: 0 all translated, 3 something was
 * not (the files are still written), 2 unreadable input or a wrong command
 * line, 1 the output could not be written.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { parseArgs } from "node:util";
import { importApache } from "./index.ts";

export const HELP = `usage: oxedge import apache FILE [--out DIR]

Translates the config of an Apache httpd front end (mod_proxy_balancer with AJP
or HTTP members, as OX's proxy_ajp.conf or App Suite's proxy_http.conf) into
oxedge's two configs:
  bridge.toml        the bridge's config: oxedge-bridge --config bridge.toml
  worker-vars.toml   the [vars] block for wrangler.toml
Both begin with a report, also written to stderr: what was not translated and
why (with FILE's line numbers), what to do before the first start, what oxedge
does on its own instead, and where every other directive went.

options:
  --out DIR    write DIR/bridge.toml and DIR/worker-vars.toml (DIR is created,
               files of those names replaced); without it both go to stdout,
               each after a line "==> bridge.toml <==" / "==> worker-vars.toml <=="
  -h, --help   this text

exit status:
  0  everything in FILE was translated
  3  something was not: it is listed under "Not translated" with its line and
     why. The files are written all the same, with everything that could be
     translated; where the list leaves a gap, oxedge's default holds. Read the
     list before using them.
  2  FILE cannot be read, or is not Apache config syntax (a section left open,
     an unterminated quote: each error names its line); or a wrong command line
  1  the output could not be written

What becomes what, and why: docs/import.md.
`;

const FILES = { bridge: "bridge.toml", worker: "worker-vars.toml" } as const;

function main(argv: string[]): number {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { out: { type: "string" }, help: { type: "boolean", short: "h" } } });
  } catch (e) {
    process.stderr.write(`oxedge: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const [command, kind, file, ...extra] = positionals;
  if (command !== "import" || kind !== "apache" || !file || extra.length) {
    process.stderr.write(`oxedge: expected "import apache FILE"${positionals.length ? `, not "${positionals.join(" ")}"` : ""}\n\n${HELP}`);
    return 2;
  }

  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    process.stderr.write(`oxedge: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}\n`);
    return 2;
  }
  if (text.includes("\0")) {
    process.stderr.write(`oxedge: ${file} is not a text file\n`);
    return 2;
  }
  const r = importApache(text, basename(file));
  if (!r.ok) {
    for (const e of r.errors) process.stderr.write(`${file}:${e.line}: ${e.reason}\n`);
    process.stderr.write(`oxedge: ${file} is not Apache config syntax oxedge can read; nothing written\n`);
    return 2;
  }

  if (values.out !== undefined) {
    try {
      mkdirSync(values.out, { recursive: true });
      writeFileSync(join(values.out, FILES.bridge), r.bridgeToml);
      writeFileSync(join(values.out, FILES.worker), r.workerToml);
    } catch (e) {
      process.stderr.write(`oxedge: cannot write to ${values.out}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}\n`);
      return 1;
    }
  } else {
    process.stdout.write(`==> ${FILES.bridge} <==\n${r.bridgeToml}\n==> ${FILES.worker} <==\n${r.workerToml}`);
  }
  process.stderr.write(`${r.report.join("\n")}\n\n`);
  if (values.out !== undefined) process.stderr.write(`oxedge: wrote ${join(values.out, FILES.bridge)} and ${join(values.out, FILES.worker)}\n`);
  if (r.untranslated.length) {
    process.stderr.write(`oxedge: ${r.untranslated.length} thing${r.untranslated.length > 1 ? "s" : ""} in ${file} not translated (see "Not translated"); exit status 3\n`);
    return 3;
  }
  return 0;
}

process.exitCode = main(process.argv.slice(2));
