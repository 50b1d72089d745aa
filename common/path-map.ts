/**
 * The path map: which request paths go to the OX cluster, which are rewritten
 * on the way, which are internal (only for listed client addresses), how long
 * a node may take to answer, which accept a WebSocket, and which the edge
 * answers with a redirect. Declared once here; the worker routes, restricts
 * and rewrites with it before it signs, the bridge checks every signed request
 * against the same rules and takes its per-prefix timeouts from them
 * (docs/paths.md).
 *
 * Two kinds of matching, on purpose:
 * - What a path *is* (cluster or static, rewrite, redirect, timeout,
 *   WebSocket): the longest rule prefix wins, whole segments, case as OX
 *   spells it, like Tomcat's mapper and httpd's ProxyPass.
 * - Who may reach it (internal): every internal prefix that is a plain,
 *   case-insensitive string prefix of the path applies, and the client must
 *   be allowed by each, like httpd's <Location> blocks, which all apply. A
 *   longer rule can never lift a restriction, and `/servlet/AXIS2` or
 *   `/servlet/axis2foo` stay restricted (docs/paths.md, Internal paths).
 *
 * Pure: no I/O, no runtime-specific imports (the worker bundles it, the bridge
 * runs it in Node). Address syntax is checked by a validator each side passes
 * in, so each accepts exactly what its own matcher can use.
 */
import * as z from "zod/mini";
import type { ConfigProblem } from "./errors.ts";
import { OX_PREFIXES } from "./prefixes.ts";

/**
 * What Cloudflare waits for an origin's answer before it gives up with 524
 * (documented as about 100 s; Enterprise zones can raise it). A reply timeout
 * beyond it cannot be reached through the edge.
 */
export const EDGE_TIMEOUT_S = 100;

/** Status of the redirect rules: what mod_rewrite's `[R]` answers, as OX's guide uses it for the well-known DAV URIs. */
export const REDIRECT_STATUS = 302;

export const PRESET_NAMES = ["ox6", "appsuite7"] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

/** One rule as written in a config (TOML table, JSON object). Unset fields: see PathRule. */
export interface PathRuleInput {
  prefix: string;
  cluster?: boolean;
  rewrite?: string;
  internal?: boolean;
  allow?: string[];
  timeout?: number;
  deadline?: number;
  websocket?: boolean;
  redirect?: string;
}

/** A rule as the map uses it, every field decided. */
export interface PathRule {
  /** Canonical path prefix, e.g. "/ajax". */
  readonly prefix: string;
  /** Forwarded to the cluster (else: the static GUI, or the redirect). Unset in the input: as the rule it lies under; at top level false. */
  readonly cluster: boolean;
  /** The prefix the node sees instead (`/appsuite/api` → `/ajax`). The rest of the rule is the target's. */
  readonly rewrite: string | undefined;
  /** Answered at the edge with REDIRECT_STATUS to this path; never forwarded. */
  readonly redirect: string | undefined;
  /** Only clients in `allow` may reach paths with this prefix (case-insensitive string prefix). */
  readonly internal: boolean;
  /** IPs / CIDRs for `internal`: the rule's own, or the config's shared list. Empty = nobody. */
  readonly allow: readonly string[];
  /** Reply timeout in seconds instead of the member's; undefined = the member's. Not inherited. */
  readonly timeout: number | undefined;
  /** Seconds for the whole exchange; 0 = none. Not inherited. */
  readonly deadline: number;
  /** The prefix accepts an Upgrade to WebSocket. Unset: as the rule it lies under. */
  readonly websocket: boolean;
  /** Where it was declared, for messages: "paths[3]", "preset appsuite7". */
  readonly source: string;
}

/** The rules of the ox6 preset in the three parts the old settings replace one by one. */
const OX6 = {
  cluster: [...OX_PREFIXES] as string[],
  internal: ["/servlet/axis2"],
  timeouts: [{ prefix: "/Microsoft-Server-ActiveSync", timeout: 900, deadline: 0 }] as TimeoutEntry[],
};

/**
 * OX App Suite 7 as its Apache front ends proxy it. `/servlet/axis2` is the
 * whole Axis2 tree, not only `/services`: Axis2 finds a service anywhere after
 * it (docs/paths.md, Internal paths). ActiveSync and USM share OX's long
 * balancer timeout (1900 s), beyond the edge's limit: see EDGE_TIMEOUT_S.
 */
const APPSUITE7: readonly PathRuleInput[] = [
  { prefix: "/ajax", cluster: true },
  { prefix: "/appsuite/api", rewrite: "/ajax" },
  { prefix: "/drive", cluster: true },
  { prefix: "/infostore", cluster: true },
  { prefix: "/publications", cluster: true },
  { prefix: "/realtime", cluster: true },
  { prefix: "/servlet", cluster: true },
  { prefix: "/usm-json", cluster: true, timeout: 1900 },
  { prefix: "/Microsoft-Server-ActiveSync", cluster: true, timeout: 1900 },
  { prefix: "/socket.io", cluster: true, websocket: true },
  { prefix: "/webservices", cluster: true, internal: true },
  { prefix: "/servlet/axis2", internal: true },
  { prefix: "/preliminary", cluster: true, internal: true },
  { prefix: "/.well-known/caldav", redirect: "/servlet/dav/" },
  { prefix: "/.well-known/carddav", redirect: "/servlet/dav/" },
];

export interface TimeoutEntry {
  prefix: string;
  timeout?: number;
  deadline?: number;
}

/** A preset's rules as inputs. For ox6, `legacy` parts replace the preset's (the old settings' meaning). */
export function presetRules(name: PresetName, legacy: { cluster?: readonly string[]; internal?: readonly string[] } = {}): PathRuleInput[] {
  if (name === "appsuite7") return APPSUITE7.map((r) => ({ ...r }));
  const rules = new Map<string, PathRuleInput>();
  for (const p of legacy.cluster ?? OX6.cluster) rules.set(p, { prefix: p, cluster: true });
  for (const p of legacy.internal ?? OX6.internal) rules.set(p, { ...rules.get(p), prefix: p, internal: true });
  return [...rules.values()];
}

// ---------------------------------------------------------------------------------------------
// Syntax

const SEGMENT = /^[A-Za-z0-9\-._~!$&'()*+,=:@]+$/;

/**
 * Why `p` cannot be a rule prefix, or undefined. A prefix must be a canonical
 * path as the worker forwards it (nothing escaped, no dot segments, no `;`),
 * or it could never match: rules are compared with canonical paths only.
 */
export function prefixProblem(p: string, trailingSlash = false): string | undefined {
  if (!p.startsWith("/")) return "must start with /";
  if (p === "/") return trailingSlash ? undefined : "the root is not a prefix";
  if (p.endsWith("/") && !trailingSlash) return "no trailing /";
  const body = p.slice(1, p.endsWith("/") ? -1 : undefined);
  for (const seg of body.split("/")) {
    if (seg === "") return "empty segment (//)";
    if (seg === "." || seg === "..") return "dot segment";
    if (!SEGMENT.test(seg)) return `segment ${JSON.stringify(seg)} is not canonical (only letters, digits and -._~!$&'()*+,=:@ stay unescaped)`;
  }
  return undefined;
}

const path = (trailingSlash: boolean) =>
  z.string("expected a path like \"/ajax\"").check(
    z.superRefine((v: string, ctx) => {
      const p = prefixProblem(v, trailingSlash);
      if (p) ctx.addIssue({ code: "custom", message: `not a canonical path: ${p}`, input: v });
    }),
  );

const seconds = z.number("expected seconds (a number)").check(z.gt(0, "must be above 0"), z.lte(86_400, "at most 86400"));
const flag = z.boolean("expected true or false");

/** The schema of one rule; `ip` validates an allow-list entry the way the side's matcher will read it. */
export function pathRuleSchema(ip: z.ZodMiniType<string, string>) {
  return z.strictObject(
    {
      prefix: path(false),
      cluster: z.optional(flag),
      rewrite: z.optional(path(false)),
      internal: z.optional(flag),
      allow: z.optional(z.array(ip, "expected a list of addresses or CIDRs")),
      timeout: z.optional(seconds),
      deadline: z.optional(z.number("expected seconds (a number)").check(z.gte(0, "below 0"), z.lte(86_400, "at most 86400"))),
      websocket: z.optional(flag),
      redirect: z.optional(path(true)),
    },
    {
      error: (iss) =>
        iss.code === "unrecognized_keys"
          ? `unknown key ${iss.keys.map((k) => JSON.stringify(k)).join(", ")} (known: prefix, cluster, rewrite, internal, allow, timeout, deadline, websocket, redirect)`
          : iss.code === "invalid_type"
            ? "expected a rule (a table / object with at least prefix)"
            : undefined,
    },
  );
}

// ---------------------------------------------------------------------------------------------
// From config values to a map

/** One older setting that still works, as given: its field name (for messages) and value. */
export interface Given<T> {
  field: string;
  value: T;
}

export interface PathsSource {
  /** Field name of the map setting: "PATH_MAP" (worker), "paths" (bridge). */
  field: string;
  /** Its value: undefined, a preset name, or a list (a preset name first, then rules). JSON text is the caller's to parse. */
  value: unknown;
  /** Validator for allow-list entries. */
  ip: z.ZodMiniType<string, string>;
  /** The shared allow-list of internal rules without their own (PROVISIONING_ALLOW, [provisioning] allow). */
  defaultAllow: readonly string[];
  /** Older settings, only when the operator set them (undefined = not set). */
  cluster?: Given<readonly string[]>;
  internal?: Given<readonly string[]>;
  timeouts?: Given<readonly TimeoutEntry[]>;
}

export type PathsResult = { ok: true; map: PathMap; warnings: string[] } | { ok: false; problems: ConfigProblem[] };

interface Draft {
  rule: PathRuleInput;
  source: string;
  /** Timing set by a [[timeouts]] entry covering this rule (the old lookup, precomputed). */
  fromTimeouts?: boolean;
}

const show = (v: unknown) => (v === undefined ? "(unset)" : JSON.stringify(v));

function isPreset(v: unknown): v is PresetName {
  return typeof v === "string" && (PRESET_NAMES as readonly string[]).includes(v);
}

/**
 * Decide the map from the map setting and the older ones. Precedence
 * (docs/paths.md, Old settings):
 * - unset or the name "ox6": the ox6 preset, where the old cluster list,
 *   internal list and per-prefix timeouts each replace that part of it;
 * - another preset name: that preset; the old lists are refused (they would
 *   contradict it), [[timeouts]] entries override its timeouts per prefix;
 * - a list: an optional preset name first, then rules that add to it or
 *   change its rules of the same prefix field by field; every old setting
 *   except the shared allow-list is refused (say it in the list).
 */
export function resolvePaths(src: PathsSource): PathsResult {
  const problems: ConfigProblem[] = [];
  const v = src.value;
  let preset: PresetName | undefined;
  const listed: Draft[] = [];
  if (v === undefined || typeof v === "string") {
    if (v !== undefined && !isPreset(v)) {
      return fail([{ field: src.field, value: show(v), rule: `unknown preset; known: ${PRESET_NAMES.join(", ")}, or give a list of rules (docs/paths.md)` }]);
    }
    preset = v ?? "ox6";
  } else if (Array.isArray(v)) {
    if (v.length === 0) return fail([{ field: src.field, value: "[]", rule: "an empty map sends nothing to the cluster" }]);
    const schema = pathRuleSchema(src.ip);
    v.forEach((item, i) => {
      const field = `${src.field}[${i}]`;
      if (i === 0 && typeof item === "string") {
        if (isPreset(item)) preset = item;
        else problems.push({ field, value: show(item), rule: `unknown preset; known: ${PRESET_NAMES.join(", ")}` });
        return;
      }
      const r = schema.safeParse(item);
      if (!r.success) {
        for (const iss of r.error.issues) {
          const at = iss.path.reduce<string>((s, k) => (typeof k === "number" ? `${s}[${k}]` : `${s}.${String(k)}`), "");
          problems.push({ field: field + at, value: show(valueAt(item, iss.path)), rule: iss.message });
        }
        return;
      }
      listed.push({ rule: r.data as PathRuleInput, source: field });
    });
  } else {
    return fail([{ field: src.field, value: show(v), rule: `expected a preset name (${PRESET_NAMES.join(", ")}) or a list of rules` }]);
  }
  if (problems.length) return fail(problems);

  // The old settings: whether they may be combined with this map.
  const plainOx6 = preset === "ox6" && !Array.isArray(v);
  const setting = Array.isArray(v) ? `${src.field} as a list` : `${src.field} = ${JSON.stringify(preset)}`;
  for (const [given, what] of [
    [src.cluster, "cluster prefixes"],
    [src.internal, "internal prefixes"],
  ] as const) {
    if (given && !plainOx6) {
      problems.push({ field: given.field, value: show(given.value), rule: `cannot be combined with ${setting}: the map decides the ${what} (only the ox6 preset, by name or unset, takes this old setting); remove it or say it in ${src.field}` });
    }
  }
  if (src.timeouts && Array.isArray(v)) {
    problems.push({ field: src.timeouts.field, value: show(src.timeouts.value), rule: `cannot be combined with ${setting}: give timeout and deadline in the rules of ${src.field}` });
  }
  if (problems.length) return fail(problems);

  const base: Draft[] = preset
    ? presetRules(preset, plainOx6 ? { cluster: src.cluster?.value, internal: src.internal?.value } : {}).map((rule) => ({ rule, source: `preset ${preset}` }))
    : [];
  const drafts = new Map<string, Draft>(base.map((d) => [d.rule.prefix, d]));
  // ox6 keeps its timeouts unless [[timeouts]] replaces them (as before); before the listed rules,
  // so that a list can change them like any other field of the preset.
  if (preset === "ox6" && !src.timeouts) applyTimeouts(drafts, OX6.timeouts, "preset ox6");

  // Listed rules change the preset's rule of the same prefix, or add one.
  const seen = new Map<string, string>();
  for (const d of listed) {
    const twice = seen.get(d.rule.prefix);
    if (twice) {
      problems.push({ field: `${d.source}.prefix`, value: show(d.rule.prefix), rule: `the same prefix as ${twice}; one rule per prefix` });
      continue;
    }
    seen.set(d.rule.prefix, d.source);
    const old = drafts.get(d.rule.prefix);
    drafts.set(d.rule.prefix, { rule: { ...old?.rule, ...d.rule }, source: d.source });
  }
  if (problems.length) return fail(problems);

  if (src.timeouts) applyTimeouts(drafts, src.timeouts.value, src.timeouts.field);
  return build([...drafts.values()], src.defaultAllow);
}

function fail(problems: ConfigProblem[]): PathsResult {
  return { ok: false, problems };
}

function valueAt(input: unknown, p: readonly PropertyKey[]): unknown {
  let v = input;
  for (const k of p) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
}

/** True if `p` is `prefix` or lies below it, whole segments (a `;jsessionid=` may follow the last one). */
export function underPrefix(p: string, prefix: string): boolean {
  if (!p.startsWith(prefix)) return false;
  const next = p.charCodeAt(prefix.length);
  return Number.isNaN(next) || next === 0x2f /* / */ || next === 0x3b /* ; */;
}

/**
 * [[timeouts]] as it always worked: the longest entry covering a path sets its
 * reply timeout and deadline, whatever cluster prefix the path is under. Each
 * entry becomes (or changes) the rule of its prefix, and every rule under an
 * entry that no longer entry names takes that entry's timing.
 */
function applyTimeouts(drafts: Map<string, Draft>, timeouts: readonly TimeoutEntry[], field: string): void {
  if (timeouts.length === 0) return;
  const byLength = [...timeouts].sort((a, b) => b.prefix.length - a.prefix.length);
  timeouts.forEach((t, i) => {
    const old = drafts.get(t.prefix);
    // Messages about the timing name the entry that set it.
    const source = field.startsWith("preset") ? (old?.source ?? field) : `${field}[${i}]`;
    drafts.set(t.prefix, { rule: { ...old?.rule, prefix: t.prefix, timeout: t.timeout, deadline: t.deadline ?? 0 }, source, fromTimeouts: true });
  });
  for (const d of drafts.values()) {
    if (d.fromTimeouts || !routes(d.rule) || d.rule.timeout !== undefined || d.rule.deadline !== undefined) continue;
    const t = byLength.find((e) => underPrefix(d.rule.prefix, e.prefix));
    if (t) d.rule = { ...d.rule, timeout: t.timeout, deadline: t.deadline ?? 0 };
  }
}

/** A rule takes part in deciding what a path is; a rule with only internal/allow only restricts. */
function routes(r: PathRuleInput): boolean {
  return r.cluster !== undefined || r.rewrite !== undefined || r.redirect !== undefined || r.timeout !== undefined || r.deadline !== undefined || r.websocket !== undefined;
}

function build(drafts: Draft[], defaultAllow: readonly string[]): PathsResult {
  const problems: ConfigProblem[] = [];
  const bad = (d: Draft, key: keyof PathRuleInput, rule: string) => problems.push({ field: `${d.source}.${key}`, value: show(d.rule[key]), rule });

  for (const d of drafts) {
    const r = d.rule;
    const keys = Object.keys(r).filter((k) => k !== "prefix" && r[k as keyof PathRuleInput] !== undefined);
    if (keys.length === 0) bad(d, "prefix", "the rule says nothing: set cluster = true, internal, rewrite or redirect");
    if (r.allow !== undefined && r.internal !== true) bad(d, "allow", "an allow-list only applies to an internal rule (internal = true)");
    if (r.rewrite !== undefined) {
      for (const k of ["cluster", "redirect", "timeout", "deadline", "websocket"] as const) {
        if (r[k] !== undefined) bad(d, k, `a rewritten prefix is forwarded as its target ${r.rewrite} and behaves like it; set ${k} on the target's rule`);
      }
      if (r.rewrite === r.prefix || underPrefix(r.rewrite, r.prefix)) bad(d, "rewrite", "the target lies under the rewritten prefix (it would be rewritten again)");
    }
    if (r.redirect !== undefined) {
      for (const k of ["cluster", "timeout", "deadline", "websocket"] as const) {
        if (r[k] !== undefined && !(k === "cluster" && r.cluster === false)) bad(d, k, "a redirect is answered at the edge and never forwarded");
      }
    }
  }
  if (problems.length) return fail(problems);

  // Resolve shortest first, so a rule's parent is decided before it.
  const routing = drafts.filter((d) => routes(d.rule)).sort((a, b) => a.rule.prefix.length - b.rule.prefix.length);
  const resolved = new Map<string, PathRule>();
  const parentOf = (prefix: string): Draft | undefined => {
    let best: Draft | undefined;
    for (const d of routing) if (d.rule.prefix !== prefix && underPrefix(prefix, d.rule.prefix) && (!best || d.rule.prefix.length > best.rule.prefix.length)) best = d;
    return best;
  };
  for (const d of routing) {
    const r = d.rule;
    const parent = parentOf(r.prefix);
    if (parent?.rule.rewrite !== undefined) {
      bad(d, "prefix", `lies under ${parent.rule.prefix}, which is rewritten: its paths would be forwarded unrewritten`);
      continue;
    }
    if (r.rewrite !== undefined) continue; // after the others: it takes its target's rule
    const up = parent ? resolved.get(parent.rule.prefix) : undefined;
    const cluster = r.redirect !== undefined ? false : (r.cluster ?? up?.cluster ?? false);
    const websocket = r.websocket ?? (cluster ? (up?.websocket ?? false) : false);
    if (r.websocket === true && !cluster) bad(d, "websocket", "a WebSocket prefix must go to the cluster (cluster = true)");
    resolved.set(r.prefix, rule(d, { cluster, websocket, timeout: r.timeout, deadline: r.deadline ?? 0 }, defaultAllow));
  }
  const rewritten = new Map<string, PathRule>();
  for (const d of routing) {
    const r = d.rule;
    if (r.rewrite === undefined) continue;
    // Judged among all routing rules: a target under another rewritten prefix would reach the
    // bridge as a path it refuses (the edge rewrites once).
    const target = longestDraft(routing, r.rewrite);
    const targetRule = target && target.rule.rewrite === undefined ? resolved.get(target.rule.prefix) : undefined;
    if (target?.rule.rewrite !== undefined) bad(d, "rewrite", `the target ${r.rewrite} lies under ${target.rule.prefix}, which is rewritten itself`);
    else if (!targetRule?.cluster) bad(d, "rewrite", `the target ${r.rewrite} is not a cluster path of this map`);
    else rewritten.set(r.prefix, rule(d, { cluster: true, websocket: targetRule.websocket, timeout: targetRule.timeout, deadline: targetRule.deadline }, defaultAllow));
  }
  if (problems.length) return fail(problems);

  for (const [k, r] of rewritten) resolved.set(k, r);
  if (!routing.some((d) => resolved.get(d.rule.prefix)?.cluster)) {
    return fail([{ field: drafts[0]?.source ?? "paths", value: "(the whole map)", rule: "no rule sends anything to the cluster" }]);
  }
  const all: PathRule[] = drafts.map((d) => resolved.get(d.rule.prefix) ?? rule(d, { cluster: false, websocket: false, timeout: undefined, deadline: 0 }, defaultAllow));
  const map = new PathMap(all, routing.map((d) => resolved.get(d.rule.prefix)!));
  return { ok: true, map, warnings: edgeWarnings(map) };
}

function rule(d: Draft, decided: Pick<PathRule, "cluster" | "websocket" | "timeout" | "deadline">, defaultAllow: readonly string[]): PathRule {
  const r = d.rule;
  return {
    prefix: r.prefix,
    ...decided,
    rewrite: r.rewrite,
    redirect: r.redirect,
    internal: r.internal === true,
    allow: r.internal === true ? [...(r.allow ?? defaultAllow)] : [],
    source: d.source,
  };
}

function longestDraft(drafts: readonly Draft[], p: string): Draft | undefined {
  let best: Draft | undefined;
  for (const d of drafts) if (underPrefix(p, d.rule.prefix) && (!best || d.rule.prefix.length > best.rule.prefix.length)) best = d;
  return best;
}

/**
 * One line per rule whose reply timeout the edge cannot keep. Warned, not
 * refused: an Enterprise zone may have a longer origin timeout, and a node
 * that answers in time is not affected.
 */
export function edgeWarnings(map: PathMap): string[] {
  return map.rules
    .filter((r) => r.cluster && r.rewrite === undefined && r.timeout !== undefined && r.timeout > EDGE_TIMEOUT_S)
    .map(
      (r) =>
        `${r.prefix}: reply timeout ${r.timeout} s (${r.source}) is longer than the ${EDGE_TIMEOUT_S} s Cloudflare waits for an origin; ` +
        `a request still unanswered then ends in 524 at the edge. For ActiveSync keep com.openexchange.usm.eas.ping.max_heartbeat below it (docs/paths.md, Timeouts at the edge)`,
    );
}

// ---------------------------------------------------------------------------------------------
// The map

const NONE: readonly PathRule[] = [];

export class PathMap {
  /** Every rule, in the order declared. */
  readonly rules: readonly PathRule[];
  /** Rules that decide what a path is, longest prefix first. */
  private readonly routing: readonly PathRule[];
  private readonly restricted: readonly { lower: string; rule: PathRule }[];

  /** `routing`: the rules that decide what a path is (a rule with only internal/allow only restricts). */
  constructor(rules: readonly PathRule[], routing: readonly PathRule[]) {
    this.rules = rules;
    this.routing = [...routing].sort((a, b) => b.prefix.length - a.prefix.length);
    this.restricted = rules.filter((r) => r.internal).map((rule) => ({ lower: rule.prefix.toLowerCase(), rule }));
  }

  /** The rule that decides what `path` is (canonical, decoded or as forwarded), or undefined: static. */
  route(path: string): PathRule | undefined {
    for (const r of this.routing) if (underPrefix(path, r.prefix)) return r;
    return undefined;
  }

  /** Every internal rule whose prefix is a case-insensitive string prefix of `path`; the client must pass each. */
  internal(path: string): readonly PathRule[] {
    if (this.restricted.length === 0) return NONE;
    const lower = path.toLowerCase();
    let out: PathRule[] | undefined;
    for (const { lower: p, rule } of this.restricted) if (lower.startsWith(p)) (out ??= []).push(rule);
    return out ?? NONE;
  }

  /** `path` with the rule's prefix replaced by its rewrite target (the rest, `;jsessionid=` included, stays). */
  rewrite(path: string, rule: PathRule): string {
    return rule.rewrite === undefined ? path : rule.rewrite + path.slice(rule.prefix.length);
  }

  /**
   * The forwarded prefixes that lie under no other forwarded one (rewritten ones included): the
   * old CLUSTER_PREFIXES view. It leaves out static exceptions carved out of a cluster prefix.
   */
  get clusterPrefixes(): string[] {
    const forwarded = this.rules.filter((r) => r.cluster && this.routing.includes(r));
    return forwarded.filter((r) => !forwarded.some((o) => o !== r && underPrefix(r.prefix, o.prefix))).map((r) => r.prefix);
  }

  /** Internal prefixes: the old PROVISIONING_PATH view. */
  get internalPrefixes(): string[] {
    return this.rules.filter((r) => r.internal).map((r) => r.prefix);
  }
}
