/**
 * The import's account of the Apache file: every directive it read ends up in
 * one of three lists, so nothing is dropped without a word. The same text
 * heads both output files and goes to stderr.
 */
import { lineRef, type ConfDirective, type ConfSection } from "./apache-config.ts";

/**
 * translated: said in the bridge's config or the worker's vars;
 * instead: oxedge does it on its own, or it has no meaning behind the edge;
 * untranslated: oxedge cannot express it (the import exits with 3).
 */
export type Outcome = "translated" | "instead" | "untranslated";

export interface ReportItem {
  outcome: Outcome;
  /** Lines in the Apache file; 0 for a note about the whole map. */
  first: number;
  last: number;
  /** The directive as written (secrets shown as …), or a short name for the thing. */
  what: string;
  /** Where it went, or why not. */
  text: string;
}

export class Report {
  readonly items: ReportItem[] = [];
  readonly todos: string[] = [];

  add(outcome: Outcome, at: { line: number; lastLine?: number } | undefined, what: string, text: string): void {
    this.items.push({ outcome, first: at?.line ?? 0, last: at?.lastLine ?? at?.line ?? 0, what, text });
  }

  todo(text: string): void {
    if (!this.todos.includes(text)) this.todos.push(text);
  }

  get untranslated(): ReportItem[] {
    return this.items.filter((i) => i.outcome === "untranslated");
  }
}

const MAX_SHOWN = 60;
/** Parameters whose value is a secret: never repeated, not even in the report. */
const SECRET_PARAM = /^(secret)=/i;

/** A directive as the report quotes it: its words, secrets left out, cut after a few words when long. */
export function showDirective(d: ConfDirective | ConfSection): string {
  const words = [d.name, ...d.args.map((a) => (SECRET_PARAM.test(a) ? a.replace(/=.*/, "=…") : /\s/.test(a) || a === "" ? JSON.stringify(a) : a))];
  let s = words[0]!;
  for (const w of words.slice(1)) {
    if (s.length + 1 + w.length > MAX_SHOWN && s !== words[0]) {
      s += " …";
      break;
    }
    s += ` ${w}`;
  }
  return d.type === "section" ? `<${s}>` : s;
}

const WIDTH = 100;

function wrap(text: string, indent: string, hanging: string): string[] {
  const out: string[] = [];
  let line = indent;
  let empty = true;
  for (const word of text.split(" ")) {
    if (!empty && line.length + 1 + word.length > WIDTH) {
      out.push(line);
      line = hanging + word;
    } else line = empty ? line + word : `${line} ${word}`;
    empty = false;
  }
  out.push(line);
  return out;
}

interface Group {
  item: ReportItem;
  spans: [number, number][];
}

/** Items that say the same about the same thing are one entry with every line they came from. */
function grouped(items: readonly ReportItem[]): Group[] {
  const groups = new Map<string, Group>();
  for (const i of items) {
    const k = `${i.what}\u0000${i.text}`;
    const g = groups.get(k);
    if (g) g.spans.push([i.first, i.last]);
    else groups.set(k, { item: i, spans: [[i.first, i.last]] });
  }
  for (const g of groups.values()) g.spans.sort((a, b) => a[0] - b[0]);
  // By line; notes about the whole map (line 0) after the lines.
  const at = (g: Group) => (g.spans[0]![0] === 0 ? Number.MAX_SAFE_INTEGER : g.spans[0]![0]);
  return [...groups.values()].sort((a, b) => at(a) - at(b));
}

function groupLine(g: Group): string {
  const spans = g.spans.filter(([f]) => f > 0);
  const where = spans.length === 0 ? "" : spans.length === 1 ? `${lineRef(spans[0]![0], spans[0]![1])}: ` : `lines ${spans.map(([f, l]) => (l > f ? `${f}-${l}` : `${f}`)).join(", ")}: `;
  return `${where}${g.item.what}: ${g.item.text}`;
}

/** The report as plain lines (no comment marks), in a fixed order: what needs a look first. */
export function reportLines(report: Report, source: string): string[] {
  const out: string[] = [];
  const section = (title: string, items: ReportItem[], none: string) => {
    out.push("");
    out.push(items.length ? `${title}:` : `${title}: ${none}`);
    for (const g of grouped(items)) out.push(...wrap(groupLine(g), "  ", "      "));
  };
  out.push(`Imported from ${source} by \`oxedge import apache\`; what becomes what: docs/import.md.`);
  section("Not translated", report.untranslated, "nothing.");
  out.push("");
  out.push(`To do${report.todos.length ? ":" : ": nothing."}`);
  for (const t of report.todos) out.push(...wrap(`- ${t}`, "  ", "    "));
  section("Done by oxedge instead, or not needed behind the edge", report.items.filter((i) => i.outcome === "instead"), "nothing.");
  section("Translated", report.items.filter((i) => i.outcome === "translated"), "nothing.");
  return out;
}
