/**
 * `oxedge import apache`: an Apache front end's config (proxy_ajp.conf,
 * App Suite's proxy_http.conf) to the bridge's config and the worker's vars.
 * Parse → facts → translation → text, each step pure; the CLI (cli.ts) reads
 * and writes the files. What becomes what: docs/import.md.
 *
 * @example
 * const r = importApache(readFileSync("proxy_ajp.conf", "utf8"), "proxy_ajp.conf");
 * if (r.ok) writeFileSync("bridge.toml", r.bridgeToml);
 */
import { parseApacheConfig, type ConfParseError } from "./apache-config.ts";
import { collectFacts } from "./apache-facts.ts";
import { bridgeToml, workerToml } from "./emit.ts";
import { Report, reportLines, type ReportItem } from "./report.ts";
import { translate, type Translation } from "./translate.ts";

export type ImportResult =
  | {
      ok: true;
      bridgeToml: string;
      workerToml: string;
      /** The report as plain lines (as both files carry it in comments). */
      report: string[];
      /** What could not be translated; empty = everything was. */
      untranslated: ReportItem[];
      translation: Translation;
    }
  | { ok: false; kind: "syntax"; errors: ConfParseError[] };

/** `source` names the file in the report (its base name: the report goes into files kept elsewhere). */
export function importApache(text: string, source: string): ImportResult {
  const parsed = parseApacheConfig(text);
  if (!parsed.ok) return { ok: false, kind: "syntax", errors: parsed.errors };
  const report = new Report();
  const facts = collectFacts(parsed.nodes, report);
  const translation = translate(facts, report);
  const lines = reportLines(report, source);
  return {
    ok: true,
    bridgeToml: bridgeToml(translation, lines),
    workerToml: workerToml(translation, lines),
    report: lines,
    untranslated: report.untranslated,
    translation,
  };
}
