/**
 * The translation as the two files an operator keeps: `bridge.toml` and
 * `worker-vars.toml` (the `[vars]` block of wrangler.toml), each headed by
 * the report as comments. Written by hand rather than by a TOML library so
 * that the layout is the README's (scalars, then tables, members last) and
 * the output is the same byte for byte on every run. Pure.
 */
import type { PathRuleInput } from "../../common/path-map.ts";
import type { Translation } from "./translate.ts";

const WIDTH = 100;

function key(k: string): string {
  return /^[A-Za-z0-9_-]+$/.test(k) ? k : JSON.stringify(k);
}

/** A TOML value on one line. JSON's string escapes are TOML's basic-string escapes. */
export function tomlValue(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new Error(`not a TOML number: ${v}`);
    return String(v);
  }
  if (typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return `[${v.map(tomlValue).join(", ")}]`;
  if (v && typeof v === "object") {
    const entries = Object.entries(v).filter(([, x]) => x !== undefined);
    return entries.length ? `{ ${entries.map(([k, x]) => `${key(k)} = ${tomlValue(x)}`).join(", ")} }` : "{}";
  }
  throw new Error(`no TOML for ${String(v)}`);
}

/** `name = value`, an array spread over lines when it does not fit one. */
function assign(name: string, v: unknown): string[] {
  const one = `${key(name)} = ${tomlValue(v)}`;
  if (one.length <= WIDTH || !Array.isArray(v)) return [one];
  return [`${key(name)} = [`, ...v.map((x) => `  ${tomlValue(x)},`), "]"];
}

function comments(title: string, report: readonly string[]): string[] {
  return [`# ${title}`, ...report.map((l) => (l === "" ? "#" : `# ${l}`))];
}

function ruleTable(r: PathRuleInput): string[] {
  return ["[[paths]]", ...Object.entries(r).filter(([, v]) => v !== undefined).flatMap(([k, v]) => assign(k, v))];
}

export function bridgeToml(t: Translation, report: readonly string[]): string {
  const b = t.bridge;
  const out = comments("oxedge bridge configuration (bridge.toml).", report);
  out.push("", ...assign("secret_env", b.secret_env));
  if (b.paths !== undefined && b.pathsForm !== "tables") out.push(...assign("paths", b.paths));
  if (b.provisioningAllow) out.push("", "[provisioning]", ...assign("allow", b.provisioningAllow));
  if (b.balancer.length) out.push("", "[balancer]", ...b.balancer.flatMap(([k, v]) => assign(k, v)));
  if (b.paths !== undefined && b.pathsForm === "tables") {
    for (const r of b.paths as PathRuleInput[]) out.push("", ...ruleTable(r));
  }
  for (const m of b.members) out.push("", "[[members]]", ...m.flatMap(([k, v]) => assign(k, v)));
  return `${out.join("\n")}\n`;
}

export function workerToml(t: Translation, report: readonly string[]): string {
  const out = comments("oxedge worker vars: the [vars] block of wrangler.toml.", report);
  out.push("", "[vars]", `# BRIDGE_URLS = "https://bridge.example.net"   (required, see To do)`);
  for (const [k, v] of t.worker) out.push(...assign(k, v));
  return `${out.join("\n")}\n`;
}
