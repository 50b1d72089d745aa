/**
 * The repository stands alone: every document a file names is in docs/,
 * every "docs/x.md, Heading" names a heading that exists, and nothing
 * points at a path outside the checkout.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const files = execFileSync("git", ["ls-files", "-co", "--exclude-standard"], { cwd: root, encoding: "utf8" })
  .split("\n")
  .filter((f) => f && !f.endsWith("package-lock.json") && /\.(ts|js|mjs|java|md|toml|json|sh|xml|conf)$|^\.ci\//.test(f));
const text = (f: string) => {
  try {
    return readFileSync(path.join(root, f), "utf8");
  } catch {
    return "";
  }
};

function headings(doc: string): string[] {
  return text(doc)
    .split("\n")
    .filter((l) => /^#{1,4} /.test(l))
    .map((l) => l.replace(/^#+ /, "").trim());
}

describe("docs references", () => {
  it("every docs/*.md named in the tree exists, and every heading named after it too", () => {
    const bad: string[] = [];
    for (const f of files) {
      if (f === "test/repo/docs-references.test.ts") continue;
      // Inside docs/, links are relative: [x.md](x.md#heading).
      if (f.startsWith("docs/")) {
        for (const m of text(f).matchAll(/\]\(([a-z0-9-]+\.md)(?:#[^)]*)?\)/g)) if (headings(`docs/${m[1]}`).length === 0) bad.push(`${f}: link to missing ${m[1]}`);
      }
      for (const m of text(f).matchAll(/docs\/([a-z0-9-]+\.md)(?:, ([A-Z][^,.;:)"`\n]*))?/g)) {
        const doc = `docs/${m[1]}`;
        const hs = headings(doc);
        if (hs.length === 0) bad.push(`${f}: ${doc} does not exist`);
        else if (m[2] && !hs.some((h) => m[2].startsWith(h) || h.startsWith(m[2].trim()))) bad.push(`${f}: ${doc} has no heading "${m[2]}"`);
      }
    }
    expect(bad).toEqual([]);
  });

  it("no reference to a document or path outside the repository", () => {
    const bad: string[] = [];
    // The reference notes the code was written from, by name, and absolute paths of this workplace.
    const outside = /(?<![\w/])(?:ajp13|balancer|design|real-peers|appsuite|toolchain|style)\.md|\.\.\/shared\/|\/work\/|§(?!\d+(?:\.\d+)* ?)/;
    for (const f of files) {
      if (f === "test/repo/docs-references.test.ts") continue;
      const inDocs = f.startsWith("docs/");
      text(f)
        .split("\n")
        .forEach((line, i) => {
          let cleaned = line.replace(/docs\/[a-z0-9-]+\.md/g, "").replace(/RFC \d+ §[\d.]+/g, "");
          if (inDocs) cleaned = cleaned.replace(/\[[a-z0-9-]+\.md\]\([a-z0-9-]+\.md(?:#[^)]*)?\)/g, "");
          if (outside.test(cleaned) || /§/.test(cleaned)) bad.push(`${f}:${i + 1}: ${line.trim().slice(0, 120)}`);
        });
    }
    expect(bad).toEqual([]);
  });
});
