/**
 * Apache httpd's configuration syntax, read well enough for a front end's
 * proxy config: directives, `<Section args>` blocks nested to any depth,
 * `#` comment lines, `\` line continuations and quoted arguments, with the
 * line numbers kept for messages. Pure: text in, a tree or errors out.
 *
 * Read as httpd reads it: a directive's name is case-insensitive (the tree
 * keeps it as written and in lower case); a comment is a whole line starting
 * with `#` (httpd has no comments after a directive); a backslash ending a
 * line, trailing blanks aside, joins the next line to it, comment lines
 * included; an argument in double or single quotes may hold blanks, and a
 * backslash before its own quote character escapes it.
 *
 * @example
 * const r = parseApacheConfig("<Proxy balancer://oxcluster>\n  BalancerMember ajp://ox1:8009 route=OX1\n</Proxy>\n");
 * // r.ok && r.nodes[0].type === "section" && r.nodes[0].children[0].args[0] === "ajp://ox1:8009"
 */

export interface ConfDirective {
  type: "directive";
  /** As written, e.g. "ProxyPass". */
  name: string;
  /** Lower case, for matching: httpd compares directive names case-insensitively. */
  key: string;
  args: string[];
  /** First physical line (1-based). */
  line: number;
  /** Last physical line: more than `line` after continuations. */
  lastLine: number;
}

export interface ConfSection {
  type: "section";
  name: string;
  key: string;
  args: string[];
  /** The line of `<Name …>`. */
  line: number;
  /** The line of `</Name>`. */
  lastLine: number;
  children: ConfNode[];
}

export type ConfNode = ConfDirective | ConfSection;

export interface ConfParseError {
  line: number;
  reason: string;
}

export type ConfParse = { ok: true; nodes: ConfNode[] } | { ok: false; errors: ConfParseError[] };

interface LogicalLine {
  text: string;
  line: number;
  lastLine: number;
}

/** Physical lines joined at continuations; blank and comment lines dropped. */
function logicalLines(text: string): LogicalLine[] {
  const physical = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  const out: LogicalLine[] = [];
  for (let i = 0; i < physical.length; i++) {
    const start = i;
    let joined = physical[i]!.replace(/\s+$/, "");
    while (joined.endsWith("\\") && i + 1 < physical.length) {
      i++;
      joined = joined.slice(0, -1) + physical[i]!.replace(/\s+$/, "");
    }
    // A backslash on the last line of the file continues nothing; httpd drops it too.
    if (joined.endsWith("\\")) joined = joined.slice(0, -1);
    const t = joined.trim();
    if (t === "" || t.startsWith("#")) continue;
    out.push({ text: t, line: start + 1, lastLine: i + 1 });
  }
  return out;
}

export type WordsResult = { ok: true; words: string[] } | { ok: false; reason: string };

/** Split arguments as httpd's ap_getword_conf does: blanks separate, quotes group. */
export function splitWords(s: string): WordsResult {
  const words: string[] = [];
  let i = 0;
  while (i < s.length) {
    while (i < s.length && /\s/.test(s[i]!)) i++;
    if (i >= s.length) break;
    const q = s[i]!;
    if (q === '"' || q === "'") {
      let word = "";
      i++;
      for (;;) {
        if (i >= s.length) return { ok: false, reason: `unterminated ${q === '"' ? "double" : "single"} quote` };
        const c = s[i]!;
        if (c === "\\" && s[i + 1] === q) {
          word += q;
          i += 2;
        } else if (c === q) {
          i++;
          break;
        } else {
          word += c;
          i++;
        }
      }
      words.push(word);
    } else {
      let j = i;
      while (j < s.length && !/\s/.test(s[j]!)) j++;
      words.push(s.slice(i, j));
      i = j;
    }
  }
  return { ok: true, words };
}

/** Parse a whole file. Errors name the line; every error of the file is listed. */
export function parseApacheConfig(text: string): ConfParse {
  const errors: ConfParseError[] = [];
  const root: ConfNode[] = [];
  const stack: ConfSection[] = [];
  const children = () => (stack.length ? stack[stack.length - 1]!.children : root);

  for (const l of logicalLines(text)) {
    if (l.text.startsWith("</")) {
      const m = /^<\/\s*([^\s>]+)\s*>$/.exec(l.text);
      if (!m) {
        errors.push({ line: l.line, reason: `a closing tag is "</Name>" alone on its line, not ${JSON.stringify(l.text)}` });
        continue;
      }
      const key = m[1]!.toLowerCase();
      const at = findOpen(stack, key);
      if (at < 0) {
        errors.push({ line: l.line, reason: `</${m[1]}> closes no open <${m[1]}> section` });
        continue;
      }
      // Sections left open inside the one closed here were never closed.
      for (let k = stack.length - 1; k > at; k--) errors.push({ line: stack[k]!.line, reason: `<${stack[k]!.name}> is not closed before </${m[1]}> on line ${l.line}` });
      stack[at]!.lastLine = l.lastLine;
      stack.length = at;
      continue;
    }
    if (l.text.startsWith("<")) {
      if (!l.text.endsWith(">")) {
        errors.push({ line: l.line, reason: `a section starts with "<Name args>" and ends with ">" on the same line` });
        continue;
      }
      const inner = l.text.slice(1, -1).trim();
      const m = /^([^\s>]+)\s*(.*)$/s.exec(inner);
      if (!m) {
        errors.push({ line: l.line, reason: "a section needs a name: <Name args>" });
        continue;
      }
      const words = splitWords(m[2]!);
      if (!words.ok) {
        errors.push({ line: l.line, reason: words.reason });
        continue;
      }
      const section: ConfSection = { type: "section", name: m[1]!, key: m[1]!.toLowerCase(), args: words.words, line: l.line, lastLine: l.lastLine, children: [] };
      children().push(section);
      stack.push(section);
      continue;
    }
    const m = /^(\S+)\s*(.*)$/s.exec(l.text)!;
    const words = splitWords(m[2]!);
    if (!words.ok) {
      errors.push({ line: l.line, reason: words.reason });
      continue;
    }
    children().push({ type: "directive", name: m[1]!, key: m[1]!.toLowerCase(), args: words.words, line: l.line, lastLine: l.lastLine });
  }
  for (const s of stack) errors.push({ line: s.line, reason: `<${s.name}> is not closed (no </${s.name}> before the end of the file)` });
  errors.sort((a, b) => a.line - b.line);
  return errors.length ? { ok: false, errors } : { ok: true, nodes: root };
}

function findOpen(stack: readonly ConfSection[], key: string): number {
  for (let k = stack.length - 1; k >= 0; k--) if (stack[k]!.key === key) return k;
  return -1;
}

/** "line 7" or "lines 7-9", for messages. */
export function lineRef(first: number, last = first): string {
  return last > first ? `lines ${first}-${last}` : `line ${first}`;
}
