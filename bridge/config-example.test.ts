/**
 * bridge.example.toml is a config the bridge loads, and it says every key the
 * schema knows (set, or commented out as `#key = value`), so a new key
 * without its line there fails here.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import * as z from "zod/mini";
import { pathRuleSchema } from "../common/path-map.ts";
import { configSchema, loadConfigFile } from "./config.ts";

const file = fileURLToPath(new URL("../bridge.example.toml", import.meta.url));

type Def = { type: string; shape?: Record<string, { _zod: { def: Def } }>; innerType?: { _zod: { def: Def } }; in?: { _zod: { def: Def } }; element?: { _zod: { def: Def } } };

/** Dotted key names of a zod/mini schema: tables and arrays of tables are walked into. */
function keysOf(def: Def, prefix = ""): string[] {
  if (def.innerType) return keysOf(def.innerType._zod.def, prefix);
  if (def.type === "pipe" && def.in) return keysOf(def.in._zod.def, prefix);
  if (def.type === "array" && def.element && prefix) {
    const inner = keysOf(def.element._zod.def, prefix);
    return inner.length ? inner : [prefix.slice(0, -1)];
  }
  if (def.type !== "object" || !def.shape) return prefix ? [prefix.slice(0, -1)] : [];
  return Object.entries(def.shape).flatMap(([k, v]) => keysOf(v._zod.def, `${prefix}${k}.`));
}

/** `paths` is checked by common/path-map.ts, not the bridge's schema: a table form's keys are its rule's. */
function schemaKeys(): string[] {
  const rule = keysOf(pathRuleSchema(z.string())._zod.def as Def, "paths.");
  return [...keysOf(configSchema._zod.def as unknown as Def), ...rule].sort();
}

/** Keys the file sets or shows commented out, under the table each stands in (headers commented out or not). */
function fileKeys(text: string): string[] {
  const keys = new Set<string>();
  let table = "";
  for (const line of text.split("\n")) {
    const header = /^#?\[\[?([a-z_]+)\]\]?\s*$/.exec(line);
    if (header) table = `${header[1]}.`;
    const key = /^#?([a-z_]+) = /.exec(line);
    if (key) keys.add(table + key[1]);
  }
  return [...keys].sort();
}

describe("bridge.example.toml", () => {
  it("loads, with the secrets it names in the environment", () => {
    const env = { OXEDGE_BRIDGE_SECRET: "an-example-secret-0123456789abcdef", OXEDGE_ADMIN_TOKEN: "an-example-token-0123456789" };
    const c = loadConfigFile(file, env);
    expect(c.members.map((m) => `${m.route} ${m.host}:${m.port} ${m.spec.loadfactor}`)).toEqual(["OX1 10.20.30.213:8009 50", "OX2 10.20.30.215:8009 50"]);
    expect(c.admin).toMatchObject({ host: "127.0.0.1", port: 8010, token: env.OXEDGE_ADMIN_TOKEN });
    expect(c.paths.route("/Microsoft-Server-ActiveSync")).toMatchObject({ cluster: true, timeout: 100 });
    expect(c.paths.rules.find((r) => r.prefix === "/servlet/axis2")).toMatchObject({ internal: true, allow: ["127.0.0.1"] });
  });

  it("without the secret it names, says which variable is missing", () => {
    expect(() => loadConfigFile(file, {})).toThrow(/secret_env/);
  });

  it("says every key the schema knows, and no other", () => {
    const known = schemaKeys();
    const said = fileKeys(readFileSync(file, "utf8"));
    expect(known.length).toBeGreaterThan(40);
    expect(known.filter((k) => !said.includes(k))).toEqual([]);
    expect(said.filter((k) => !known.includes(k))).toEqual([]);
  });
});
