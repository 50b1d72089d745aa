/**
 * The AJP codec and pool (bridge/ajp/) depend only on themselves, common/ and
 * node's own modules: the rest of the bridge uses them, never the other way
 * round, so they can be read, tested and reused on their own.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const AJP = fileURLToPath(new URL("../../bridge/ajp/", import.meta.url));

/** Every module specifier a file imports or re-exports, static or dynamic. */
function specifiers(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s+["']([^"']+)["']|\bimport\(\s*["']([^"']+)["']\s*\)|(?:^|\n)\s*import\s+["']([^"']+)["']/g)) out.push(m[1] ?? m[2] ?? m[3]);
  return out;
}

describe("layers", () => {
  const files = readdirSync(AJP).filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"));

  it("finds the AJP modules and their imports", () => {
    expect(files.length).toBeGreaterThan(5);
    expect(specifiers(readFileSync(join(AJP, "pool.ts"), "utf8"))).toContain("./connection.ts");
  });

  it.each(files)("bridge/ajp/%s imports only bridge/ajp/, common/ and node:", (f) => {
    const outside = specifiers(readFileSync(join(AJP, f), "utf8")).filter((s) => !s.startsWith("node:") && !/^\.\/[^/]+$/.test(s) && !s.startsWith("../../common/"));
    expect(outside).toEqual([]);
  });
});
