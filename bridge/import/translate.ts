/**
 * From the facts of an Apache front end (apache-facts.ts) to oxedge's two
 * configs: the bridge's (keys as bridge/config.ts names them) and the
 * worker's vars (worker/config.ts). Pure: the result is data, which emit.ts
 * writes as TOML; what could not be said is in the report.
 *
 * The shape of the translation (docs/import.md):
 * - every balancer a ProxyPass uses contributes its member lines, and the
 *   lines that name the same node (by route, else by host:port) are one
 *   member; its settings are those of the balancer with the most prefixes;
 * - another balancer's timeout becomes the reply timeout of its prefixes,
 *   its ws:// members make its prefixes WebSocket prefixes;
 * - the path map is written as a preset (with changes) when that says
 *   exactly what the tables would, else as tables;
 * - the result is checked with the bridge's own config schema and the
 *   shared path-map resolver before it is handed out.
 */
import * as z from "zod/mini";
import { ConfigError, formatProblem } from "../../common/errors.ts";
import { EDGE_TIMEOUT_S, PRESET_NAMES, prefixProblem, resolvePaths, underPrefix, type PathMap, type PathRule, type PathRuleInput, type PresetName } from "../../common/path-map.ts";
import { routeProblem } from "../../common/route.ts";
import { buildConfig } from "../config.ts";
import { parseStatus } from "../member-rules.ts";
import { MAX_PACKET_SIZE, MIN_PACKET_SIZE } from "../ajp/codes.ts";
import { lineRef, type ConfDirective } from "./apache-config.ts";
import { parseDuration, type BalancerFacts, type Facts, type MemberLine, type PassFact, type SettingLine } from "./apache-facts.ts";
import type { Access } from "./host-access.ts";
import { showDirective, type Report } from "./report.ts";

export type PathsValue = string | (string | PathRuleInput)[];

export interface BridgeOut {
  secret_env: string;
  /** Undefined: the bridge's default map (nothing to forward could be translated). */
  paths?: PathsValue;
  /** "tables": write `paths` as [[paths]] tables. */
  pathsForm: "preset" | "list" | "tables";
  provisioningAllow?: string[];
  balancer: [string, number | boolean][];
  members: [string, string | number][][];
}

export interface Translation {
  bridge: BridgeOut;
  /** The worker's [vars], in the order written. */
  worker: [string, string | unknown[]][];
  report: Report;
}

export const BRIDGE_SECRET_ENV = "OXEDGE_BRIDGE_SECRET";
/** Apache's Timeout when the file sets none: what a member without timeout= waited. */
const HTTPD_DEFAULT_TIMEOUT = 60;
/** The internal prefix both presets restrict: Axis2 finds a service anywhere below it (docs/paths.md, Internal paths). */
const AXIS2 = "/servlet/axis2";
/** Changes to a preset beyond this and the map is written as tables: a reader should see the map, not a diff. */
const MAX_PRESET_CHANGES = 3;
/** A preset this close is named in the report, with what it has beyond the file: it may be what the hoster wants. */
const MAX_PRESET_MISSING_SHOWN = 5;

type Kind = "ajp" | "http";

interface Node {
  route: string;
  /** The route was made up (the Apache lines named none). */
  madeUp: boolean;
  lines: MemberLine[];
  primary: MemberLine;
  kind: Kind;
  address: string;
  /** The env var named for its AJP secret, if it has one. */
  secretEnv?: string;
}

const anyAddress = z.string();

export function translate(facts: Facts, report: Report): Translation {
  const passes = usablePasses(facts, report);
  const used = new Map<string, BalancerFacts>();
  for (const p of passes) if (p.target !== "exclude") used.set(p.target.balancer, facts.balancers.get(p.target.balancer)!);
  for (const b of facts.balancers.values()) {
    if (used.has(b.name)) continue;
    for (const m of b.members) report.add("untranslated", m.d, showDirective(m.d), `no ProxyPass sends requests to ${label(b.name)}`);
    for (const s of uniqueLines(b.settings)) report.add("untranslated", s, showDirective(s), `no ProxyPass sends requests to ${label(b.name)}`);
  }
  const prefixesOf = (b: string) => passes.filter((p) => p.target !== "exclude" && p.target.balancer === b).map((p) => p.prefix);
  // The balancer with the most prefixes is the cluster; the others only change their prefixes' timing.
  const ordered = [...used.values()].sort((a, b) => prefixesOf(b.name).length - prefixesOf(a.name).length || a.at.line - b.at.line);
  const primary = ordered[0];

  const defaultTimeout = facts.proxyTimeout?.seconds ?? facts.timeout?.seconds ?? HTTPD_DEFAULT_TIMEOUT;
  const timeoutSource = facts.proxyTimeout?.d ?? facts.timeout?.d;
  const nodes = primary ? buildNodes(ordered, primary, report) : [];
  const lineTimeout = (l: MemberLine) => {
    const t = l.params.find((p) => p.key === "timeout");
    return t ? parseDuration(t.value, "s") : defaultTimeout;
  };

  // ---- members
  const members: [string, string | number][][] = [];
  const retries: { line: MemberLine; seconds: number }[] = [];
  const secretEnvs = new Set<string>();
  for (const node of nodes) {
    const out = memberOut(node, facts, defaultTimeout, report, secretEnvs);
    members.push(out.entries);
    for (const l of node.lines) {
      const r = l.params.find((p) => p.key === "retry");
      if (r) {
        const s = parseDuration(r.value, "s");
        if (s === undefined || s < 0 || s > 86_400) report.add("untranslated", l.d, showDirective(l.d), `retry=${r.value}: expected seconds, 0 to 86400`);
        else retries.push({ line: l, seconds: s });
      }
    }
  }
  if (timeoutSource) {
    const users = nodes.filter((n) => !n.primary.params.some((p) => p.key === "timeout")).map((n) => n.route);
    report.add("translated", timeoutSource, showDirective(timeoutSource), users.length ? `the reply timeout (timeout) of members without timeout=: ${users.join(", ")}` : "the reply timeout of members without timeout= (every member sets its own)");
  }
  if (facts.ioBufferSize) {
    const d = facts.ioBufferSize.d;
    report.add("translated", d, showDirective(d), "packet_size of the AJP members without iobuffersize= (must equal the connectors' packetSize)");
  }

  // ---- [balancer]
  const balancerOut: [string, number | boolean][] = [];
  if (retries.length) {
    const common = mostCommon(retries.map((r) => r.seconds));
    balancerOut.push(["retry", common]);
    for (const r of retries) {
      if (r.seconds === common) report.add("translated", r.line.d, `retry=${common}`, `[balancer] retry = ${common} (one value for the cluster)`);
      else report.add("untranslated", r.line.d, `retry=${r.seconds}`, `the bridge has one retry for the whole cluster: ${common} s, the most common`);
    }
  }
  const cluster = balancerSettings(ordered, primary, report);
  balancerOut.push(...cluster.entries);

  // ---- timeouts and WebSockets of the prefixes
  const memberTimeouts = nodes.map((n) => lineTimeout(n.primary) ?? defaultTimeout);
  const uniform = memberTimeouts.length && memberTimeouts.every((t) => t === memberTimeouts[0]) ? memberTimeouts[0] : undefined;
  const balancerTimeout = new Map<string, number | undefined>();
  const websocketBalancer = new Set<string>();
  for (const b of ordered) {
    const ts = b.members.map((l) => ({ l, t: lineTimeout(l) })).filter((x): x is { l: MemberLine; t: number } => x.t !== undefined);
    if (b === primary) balancerTimeout.set(b.name, undefined);
    else if (ts.length) {
      const t = mostCommon(ts.map((x) => x.t));
      balancerTimeout.set(b.name, t === uniform ? undefined : t);
      for (const x of ts.filter((x) => x.t !== t)) {
        report.add("untranslated", x.l.d, `timeout=${x.t}`, `a prefix has one reply timeout: ${label(b.name)}'s prefixes get ${t} s, its most common`);
      }
    }
    if (b.members.some((l) => l.url.scheme === "ws")) websocketBalancer.add(b.name);
  }
  const hasHttp = nodes.some((n) => n.kind === "http");

  // ---- the path map
  const drafts = new Map<string, Draft>();
  const draft = (prefix: string, line: number): Draft => {
    let d = drafts.get(prefix);
    if (!d) drafts.set(prefix, (d = { rule: { prefix }, line }));
    return d;
  };
  const clusterPasses = passes.filter((p): p is PassFact & { target: { balancer: string; path: string } } => p.target !== "exclude");
  const forwarded = (path: string) => clusterPasses.find((p) => p.target.path === p.prefix && (path === p.prefix || underPrefix(path, p.prefix)));
  for (const p of passes) {
    const what = showDirective(p.d);
    if (p.target === "exclude") {
      if (clusterPasses.some((c) => underPrefix(p.prefix, c.prefix) && c.prefix !== p.prefix)) {
        draft(p.prefix, p.d.line).rule.cluster = false;
        report.add("translated", p.d, what, `paths: ${p.prefix} with cluster = false (the static GUI)`);
      } else report.add("instead", p.d, what, `${p.prefix} is not forwarded anyway`);
      continue;
    }
    const b = p.target.balancer;
    const ws = websocketBalancer.has(b) || p.upgrade;
    const timeout = balancerTimeout.get(b);
    if (p.target.path === p.prefix) {
      const r = draft(p.prefix, p.d.line).rule;
      r.cluster = true;
      const notes: string[] = [];
      if (timeout !== undefined) {
        r.timeout = timeout;
        notes.push(`timeout = ${timeout} (${label(b)}'s members)`);
      }
      if (ws) {
        if (hasHttp) {
          r.websocket = true;
          notes.push(p.upgrade ? "websocket = true (upgrade=websocket)" : `websocket = true (${label(b)} has ws:// members)`);
        } else report.add("untranslated", p.d, what, "a WebSocket prefix needs an HTTP member, and every member here is AJP: socket.io falls back to long polling");
      }
      report.add("translated", p.d, what, `paths: ${p.prefix} to the cluster${notes.length ? `, ${notes.join(", ")}` : ""}`);
      continue;
    }
    // A target path other than the prefix: the edge rewrites it, and the rewritten prefix then
    // behaves as its target, so it must be a path the map forwards unchanged.
    const target = forwarded(p.target.path);
    if (!target) {
      report.add("untranslated", p.d, what, `oxedge rewrites a prefix only to a path it also forwards as it is, and no ProxyPass forwards ${p.target.path} so`);
      continue;
    }
    const tb = target.target.balancer;
    const differs: string[] = [];
    if (balancerTimeout.get(tb) !== timeout) differs.push(`its reply timeout is ${target.prefix}'s`);
    if ((websocketBalancer.has(tb) || target.upgrade) !== ws) differs.push(`it is ${ws ? "no" : "a"} WebSocket prefix, as ${target.prefix}`);
    draft(p.prefix, p.d.line).rule.rewrite = p.target.path;
    report.add("translated", p.d, what, `paths: ${p.prefix} with rewrite = "${p.target.path}" (the worker rewrites before it signs)`);
    if (differs.length) report.add("untranslated", p.d, what, `a rewritten prefix behaves as its target: ${differs.join("; ")}`);
  }

  // Redirects
  for (const r of facts.redirects) {
    const what = showDirective(r.d);
    const prefix = normPrefix(r.prefix);
    const bad = prefixProblem(prefix) ?? prefixProblem(r.to, true);
    if (bad) {
      report.add("untranslated", r.d, what, `not a path oxedge can redirect: ${bad}`);
      continue;
    }
    if (drafts.has(prefix) && drafts.get(prefix)!.rule.cluster) {
      report.add("untranslated", r.d, what, `${prefix} is also forwarded (ProxyPass): a redirect is answered at the edge instead`);
      continue;
    }
    draft(prefix, r.d.line).rule.redirect = r.to;
    const notes = [r.status === 302 ? "" : `oxedge answers 302, httpd ${r.status}`, r.note ?? ""].filter(Boolean);
    report.add("translated", r.d, what, `paths: ${prefix} with redirect = "${r.to}"${notes.length ? ` (${notes.join("; ")})` : ""}`);
  }

  // Internal prefixes: every restriction of a location, and of a balancer on each of its prefixes.
  const restricted = new Map<string, { access: Access; line: number; what: string }>();
  const restrict = (prefix: string, access: Access, at: { line: number; lastLine: number }, what: string) => {
    const old = restricted.get(prefix);
    if (!old) return void restricted.set(prefix, { access, line: at.line, what });
    const merged = intersectAccess(old.access, access);
    if (merged === undefined) {
      report.add("untranslated", at, what, `${prefix} is restricted twice (also ${lineRef(old.line)}) to different clients; both must allow, so it is refused to everyone`);
      old.access = { kind: "none" };
    } else old.access = merged;
  };
  for (const r of facts.restrictions) {
    let prefix = normPrefix(r.prefix);
    if (r.result.access.kind === "all") {
      report.add("instead", r.at, r.what, "everyone may reach it: nothing to restrict");
      continue;
    }
    const bad = prefix === "/" ? "the root: oxedge restricts prefixes below it" : prefixProblem(prefix);
    if (bad) {
      report.add("untranslated", r.at, r.what, `not a prefix oxedge can restrict: ${bad}`);
      continue;
    }
    let widened = "";
    if (prefix !== AXIS2 && prefix.startsWith(AXIS2)) {
      widened = ` (widened from ${prefix} to the whole Axis2 tree: Axis2 finds a service anywhere below it, docs/paths.md, Internal paths)`;
      prefix = AXIS2;
    }
    restrict(prefix, r.result.access, r.at, r.what);
    report.add("translated", r.at, r.what, `paths: ${prefix} internal${widened}, allowed: ${showAccess(r.result.access)}`);
  }
  for (const r of facts.balancerAccess) {
    if (!used.has(r.balancer)) continue;
    if (r.result.access.kind === "all") {
      const ls = r.result.used.map((d) => d.line);
      const at = ls.length ? { line: Math.min(...ls), lastLine: Math.max(...ls) } : r.at;
      report.add("instead", at, `${accessLines(r.result.used)} (in ${r.what})`, "only the bridge reaches the members, and it answers only requests the worker signed");
      continue;
    }
    const ps = prefixesOf(r.balancer);
    for (const p of ps) restrict(p, r.result.access, r.at, r.what);
    report.add("translated", r.at, r.what, `paths: ${ps.join(", ")} internal (who may use ${label(r.balancer)}), allowed: ${showAccess(r.result.access)}`);
  }
  const lists = [...restricted.values()].map((r) => (r.access.kind === "list" ? r.access.cidrs : []));
  const shared = lists.length ? mostCommonList(lists) : [];
  for (const [prefix, r] of restricted) {
    const d = draft(prefix, r.line);
    d.rule.internal = true;
    const cidrs = r.access.kind === "list" ? r.access.cidrs : [];
    if (!sameList(cidrs, shared)) d.rule.allow = cidrs;
  }

  // Forwarded prefixes first, as the ProxyPass lines came; then exceptions and internal-only rules; redirects last.
  const group = (r: PathRuleInput) => (r.redirect !== undefined ? 2 : r.cluster === true || r.rewrite !== undefined ? 0 : 1);
  const tables = [...drafts.values()].sort((a, b) => group(a.rule) - group(b.rule) || a.line - b.line).map((d) => d.rule);
  const valid = validTables(tables, shared, report);
  const memberTimeout = uniform;
  let paths: PathsValue | undefined;
  let pathsForm: BridgeOut["pathsForm"] = "tables";
  let tablesMap: PathMap | undefined;
  if (valid.length) {
    const r = resolvePaths({ field: "paths", value: valid, ip: anyAddress, defaultAllow: shared });
    if (r.ok) tablesMap = r.map;
  }
  if (tablesMap) {
    paths = valid;
    const { best, closest } = bestPreset(valid, tablesMap, shared, memberTimeout);
    if (best) {
      paths = best.changes.length ? [best.name, ...best.changes] : best.name;
      pathsForm = best.changes.length ? "list" : "preset";
      report.add(
        "translated",
        undefined,
        "the path map",
        best.changes.length
          ? `the ${best.name} preset with ${best.changes.length} change${best.changes.length > 1 ? "s" : ""}: ${best.changes.map((c) => describeChange(c, best.name, best.base, memberTimeout)).join("; ")}`
          : `exactly the ${best.name} preset`,
      );
    } else {
      const near = closest && closest.missing.length <= MAX_PRESET_MISSING_SHOWN ? `; the closest preset, ${closest.name}, also has ${closest.missing.join(", ")}` : "";
      report.add("translated", undefined, "the path map", `as [[paths]] tables: no preset says the same with at most ${MAX_PRESET_CHANGES} changes${near}`);
    }
  } else {
    report.add("untranslated", undefined, "the path map", "no ProxyPass forwards anything that oxedge can forward; the bridge's default map (ox6) stays");
  }

  // ---- worker vars and the rest of the report
  const sticky = stickyVars(ordered, report);
  const worker: [string, string | unknown[]][] = [];
  if (paths !== undefined) worker.push(["PATH_MAP", paths]);
  worker.push(["PROVISIONING_ALLOW", shared.join(",")]);
  worker.push(["STICKY_COOKIES", sticky.cookies.join(",")], ["STICKY_PATH_PARAM", sticky.pathParam], ["STICKY_QUERY_PARAM", sticky.pathParam]);
  if (facts.hsts) {
    worker.push(["HSTS_MAX_AGE", String(facts.hsts.maxAge)], ["HSTS_INCLUDE_SUBDOMAINS", String(facts.hsts.includeSubdomains)]);
    report.add("translated", facts.hsts.d, showDirective(facts.hsts.d), `worker HSTS_MAX_AGE = "${facts.hsts.maxAge}", HSTS_INCLUDE_SUBDOMAINS = "${facts.hsts.includeSubdomains}"`);
  }

  const bridge: BridgeOut = { secret_env: BRIDGE_SECRET_ENV, paths, pathsForm, provisioningAllow: restricted.size ? shared : undefined, balancer: balancerOut, members };
  todos(report, { nodes, secretEnvs, shared, restricted: [...restricted.keys()], map: tablesMap, hasHttp });
  checkWithBridge(bridge, secretEnvs, report);
  return { bridge, worker, report };
}

interface Draft {
  rule: PathRuleInput;
  line: number;
}

/** How a balancer is named in the report; a ProxyPass straight to a node makes one named by the node's URL. */
function label(name: string): string {
  return name.includes("://") ? `${name} (a ProxyPass to that node)` : `balancer://${name}`;
}

function sectionLabel(name: string): string {
  return name.includes("://") ? label(name) : `<Proxy balancer://${name}>`;
}

function normPrefix(p: string): string {
  return p.length > 1 ? p.replace(/\/+$/, "") : p;
}

/** Each setting line once (a ProxySet line holds several keys). */
function uniqueLines(settings: readonly SettingLine[]): ConfDirective[] {
  return [...new Set(settings.map((s) => s.d))];
}

/**
 * The ProxyPass lines that can be mapped: a canonical prefix, a balancer
 * with members, and not hidden behind an earlier top-level ProxyPass (httpd
 * takes the first that matches; oxedge the longest prefix).
 */
function usablePasses(facts: Facts, report: Report): PassFact[] {
  const out: PassFact[] = [];
  for (const p of facts.passes) {
    const what = showDirective(p.d);
    const prefix = normPrefix(p.prefix);
    if (prefix === "/") {
      report.add("untranslated", p.d, what, "the root: oxedge forwards prefixes, and serves everything else as the static GUI");
      continue;
    }
    const bad = prefixProblem(prefix);
    if (bad) {
      report.add("untranslated", p.d, what, `${prefix} is not a prefix oxedge can forward: ${bad}`);
      continue;
    }
    if (p.target !== "exclude") {
      const b = p.target.balancer;
      if (!facts.balancers.get(b)?.members.length) {
        report.add("untranslated", p.d, what, `${label(b)} has no BalancerMember`);
        continue;
      }
      const path = normPrefix(p.target.path);
      if (path === "" || path === "/") {
        report.add("untranslated", p.d, what, "maps the prefix to the node's root: oxedge forwards a prefix as it is or rewrites it to another forwarded prefix");
        continue;
      }
      const badTarget = prefixProblem(path);
      if (badTarget) {
        report.add("untranslated", p.d, what, `${path} is not a path oxedge can rewrite to: ${badTarget}`);
        continue;
      }
    }
    const earlier = out.find((o) => o.prefix === prefix || (!p.inSection && !o.inSection && underPrefix(prefix, o.prefix)));
    if (earlier) {
      report.add("untranslated", p.d, what, earlier.prefix === prefix ? `${prefix} is mapped already on ${lineRef(earlier.d.line)}` : `never used by httpd: the ProxyPass ${earlier.prefix} on ${lineRef(earlier.d.line)} comes first and matches these paths`);
      continue;
    }
    out.push({ ...p, prefix, target: p.target === "exclude" ? p.target : { ...p.target, path: normPrefix(p.target.path) } });
  }
  return out;
}

function paramOf(l: MemberLine, key: string): string | undefined {
  return l.params.find((p) => p.key === key)?.value;
}

/** The lines of every used balancer grouped into nodes: by route, else by host:port. */
function buildNodes(ordered: readonly BalancerFacts[], primary: BalancerFacts, report: Report): Node[] {
  const nodes: Node[] = [];
  const byRoute = new Map<string, Node>();
  let made = 0;
  for (const b of ordered) {
    for (const l of b.members) {
      let route = paramOf(l, "route");
      if (route !== undefined && routeProblem(route)) {
        report.add("untranslated", l.d, `route=${route}`, `${routeProblem(route)}; a route was made up instead`);
        route = undefined;
      }
      const hostPort = l.url.hostPort;
      let node = route ? byRoute.get(route) : nodes.find((n) => n.lines.some((x) => x.url.hostPort === hostPort));
      const twin = node?.lines.find((x) => x.balancer === b.name);
      if (twin) {
        const why =
          twin.url.hostPort === hostPort
            ? `the same node as ${lineRef(twin.d.line)} in the same balancer`
            : `route ${route} again (${lineRef(twin.d.line)} has it for ${twin.url.hostPort}): a route names one node; a default install leaves every node at OX0 (com.openexchange.server.backendRoute)`;
        report.add("untranslated", l.d, showDirective(l.d), why);
        continue;
      }
      if (!node) {
        const madeUp = route === undefined;
        if (madeUp) {
          do route = `NODE${++made}`;
          while (byRoute.has(route));
        }
        const kind: Kind = l.url.scheme === "ajp" ? "ajp" : "http";
        node = { route: route!, madeUp, lines: [], primary: l, kind, address: `${kind}://${l.url.hostPort}` };
        nodes.push(node);
        byRoute.set(node.route, node);
      }
      node.lines.push(l);
    }
  }
  for (const n of nodes) {
    if (n.primary.balancer !== primary.name) {
      report.add("untranslated", n.primary.d, showDirective(n.primary.d), `this node is only in ${label(n.primary.balancer)} in Apache; oxedge has one member list for every prefix, so it serves all of them`);
    }
  }
  for (const b of ordered) {
    for (const n of nodes) {
      if (!n.lines.some((l) => l.balancer === b.name)) {
        report.add("untranslated", b.at, sectionLabel(b.name), `has no member for ${n.route} (${lineRef(n.primary.d.line)}); oxedge has one member list, so ${n.route} serves ${label(b.name)}'s prefixes too`);
      }
    }
  }
  return nodes;
}

/** Keys compared between the lines of one node: the member has one value of each. */
const COMPARED = ["loadfactor", "lbset", "status", "redirect", "connectiontimeout", "ttl", "smax", "max", "acquire", "ping", "secret", "iobuffersize"];

interface ParamResult {
  key?: string;
  value?: string | number;
  instead?: string;
  untranslated?: string;
}

/** One BalancerMember parameter as the bridge's member key, or why not. */
function memberParam(key: string, raw: string, kind: Kind): ParamResult {
  const num = (v: number | undefined, lo: number, hi: number, unit: string, k = key): ParamResult =>
    v !== undefined && v >= lo && v <= hi ? { key: k, value: v } : { untranslated: `the bridge takes ${unit} from ${lo} to ${hi}` };
  const int = (v: string) => (/^\d+$/.test(v) ? Number(v) : undefined);
  switch (key) {
    case "loadfactor":
      return num(/^\d+(\.\d+)?$/.test(raw) ? Number(raw) : undefined, 1, 100, "a weight");
    case "lbset":
      return num(int(raw), 0, 99, "a set");
    case "status": {
      const s = parseStatus(raw);
      return s.ok ? { key, value: raw } : { untranslated: `${s.reason} (E and C are states the bridge keeps itself)` };
    }
    case "redirect":
      return routeProblem(raw) ? { untranslated: routeProblem(raw)! } : { key, value: raw };
    case "timeout":
      return num(parseDuration(raw, "s"), 1, 86_400, "seconds");
    case "connectiontimeout":
      return num(parseDuration(raw, "s"), 0.001, 600, "seconds");
    case "ttl":
      return num(parseDuration(raw, "s"), 0, 86_400, "seconds");
    case "max":
      return num(int(raw), 1, 10_000, "connections");
    case "acquire":
      // httpd's acquire is in milliseconds unless it names a unit; the bridge's in seconds.
      return num(parseDuration(raw, "ms"), 0, 600, "seconds");
    case "smax":
      if (kind === "http") return int(raw) === 0 ? { instead: "an HTTP member keeps idle connections for ttl alone, as smax=0 asks" } : { untranslated: "HTTP members keep idle connections for ttl alone (smax is AJP only)" };
      return num(int(raw), 0, 10_000, "connections");
    case "ping":
      if (kind === "http") return { untranslated: `the bridge probes HTTP members with a health request (probe), not with a 100-continue` };
      return num(parseDuration(raw, "s"), 0, 60, "seconds");
    case "secret":
      return kind === "ajp" ? { key: "secret_env" } : { untranslated: "only AJP connectors have a secret" };
    case "iobuffersize":
      if (kind === "http") return { instead: "HTTP members have no packet size" };
      return num(int(raw), MIN_PACKET_SIZE, MAX_PACKET_SIZE, "bytes (the AJP packet size, equal to the connector's packetSize)", "packet_size");
    case "keepalive":
      return /^on$/i.test(raw)
        ? { untranslated: "no equivalent: the bridge sets no TCP keep-alive probes on node connections; it drops idle ones after ttl and pings WebSockets both ways (limits.websocket_ping)" }
        : { instead: "the bridge sets no TCP keep-alive probes" };
    case "flushpackets":
    case "flushwait":
      return { instead: "the bridge passes each piece of a node's body on as it arrives" };
    case "enablereuse":
      return /^on$/i.test(raw) ? { instead: "the bridge reuses node connections" } : { untranslated: "the bridge always reuses node connections (ttl, max)" };
    case "disablereuse":
      return /^off$/i.test(raw) ? { instead: "the bridge reuses node connections" } : { untranslated: "the bridge always reuses node connections (ttl, max)" };
    case "min":
      return { instead: "the bridge opens node connections when they are needed" };
  }
  if (key.startsWith("hc")) return { untranslated: `the bridge's own health check is [balancer] healthcheck (CPing for AJP, probe for HTTP members), every member alike` };
  return { untranslated: "a member parameter the bridge does not have" };
}

const MEMBER_KEY_ORDER = ["route", "address", "secret_env", "loadfactor", "lbset", "status", "redirect", "timeout", "connectiontimeout", "ttl", "smax", "max", "acquire", "ping", "packet_size"];

function secretEnvName(route: string, taken: Set<string>): string {
  let base = `${route.toUpperCase().replace(/[^A-Z0-9]/g, "_")}_AJP_SECRET`;
  if (/^\d/.test(base)) base = `OX_${base}`;
  let name = base;
  for (let i = 2; taken.has(name); i++) name = `${base}_${i}`;
  taken.add(name);
  return name;
}

function memberOut(node: Node, facts: Facts, defaultTimeout: number, report: Report, secretEnvs: Set<string>): { entries: [string, string | number][] } {
  const values = new Map<string, string | number>([
    ["route", node.route],
    ["address", node.address],
  ]);
  const p = node.primary;
  const said: string[] = [];
  for (const { key, value } of p.params) {
    if (key === "route" || key === "retry") continue;
    const r = memberParam(key, value, node.kind);
    const shown = key === "secret" ? "secret=…" : `${key}=${value}`;
    if (r.untranslated) report.add("untranslated", p.d, shown, r.untranslated);
    else if (r.instead) report.add("instead", p.d, shown, r.instead);
    else if (r.key === "secret_env") {
      const env = secretEnvName(node.route, secretEnvs);
      node.secretEnv = env;
      values.set("secret_env", env);
      said.push(`secret_env = "${env}"`);
    } else if (r.key) {
      values.set(r.key, r.value!);
      said.push(`${r.key} ${r.value}`);
    }
  }
  if (!values.has("timeout")) {
    values.set("timeout", defaultTimeout);
    said.push(`timeout ${defaultTimeout} (${facts.proxyTimeout ? "ProxyTimeout" : facts.timeout ? "Timeout" : "httpd's default Timeout"})`);
  }
  if (node.kind === "ajp" && !values.has("packet_size") && facts.ioBufferSize) {
    const n = facts.ioBufferSize.bytes;
    if (n >= MIN_PACKET_SIZE && n <= MAX_PACKET_SIZE) values.set("packet_size", n);
    else report.add("untranslated", facts.ioBufferSize.d, showDirective(facts.ioBufferSize.d), `the AJP packet size is ${MIN_PACKET_SIZE} to ${MAX_PACKET_SIZE} bytes`);
  }
  const made = node.madeUp ? ` (no route= in Apache: made up, see To do)` : "";
  report.add("translated", p.d, showDirective(p.d), `[[members]] ${node.route}${made}: address "${node.address}"${said.length ? `, ${said.join(", ")}` : ""}`);

  // The node's lines in the other balancers: one member, so their settings must agree.
  for (const l of node.lines) {
    if (l === p) continue;
    const diffs: string[] = [];
    for (const key of COMPARED) {
      const a = paramOf(p, key);
      const b = paramOf(l, key);
      if ((a ?? "").toLowerCase() !== (b ?? "").toLowerCase()) diffs.push(key === "secret" ? "secret" : `${key}=${b ?? "(unset)"} (line ${p.d.line}: ${a ?? "unset"})`);
    }
    for (const { key, value } of l.params) {
      if (["route", "retry", "timeout", ...COMPARED].includes(key)) continue;
      const r = memberParam(key, value, node.kind);
      if (r.untranslated) report.add("untranslated", l.d, `${key}=${value}`, r.untranslated);
      else if (r.instead) report.add("instead", l.d, `${key}=${value}`, r.instead);
    }
    const notes: string[] = [];
    if (l.url.scheme === "ws") {
      if (node.kind === "ajp") report.add("untranslated", l.d, showDirective(l.d), `${node.route} is an AJP member (line ${p.d.line}) and AJP carries no WebSocket; its WebSockets cannot be reached through it`);
      else notes.push(`its ws:// makes ${label(l.balancer)}'s prefixes WebSocket prefixes, carried over the member's HTTP address`);
    } else if ((l.url.scheme === "ajp") !== (node.kind === "ajp")) {
      report.add("untranslated", l.d, showDirective(l.d), `${node.route} is an ${node.kind.toUpperCase()} member (line ${p.d.line}); a member has one protocol`);
    }
    if (l.url.port !== p.url.port) {
      report.add("untranslated", l.d, showDirective(l.d), `port ${l.url.port} here, ${p.url.port} on line ${p.d.line}: one member has one address, line ${p.d.line}'s`);
    } else if (l.url.host !== p.url.host) notes.push(`the host ${l.url.host} names the same node (same route) as line ${p.d.line}'s ${p.url.host}`);
    if (paramOf(l, "timeout") !== paramOf(p, "timeout")) notes.push(`its timeout is ${label(l.balancer)}'s prefix timeout`);
    report.add("translated", l.d, showDirective(l.d), `the member ${node.route} of line ${p.d.line}${notes.length ? `: ${notes.join("; ")}` : ""}`);
    if (diffs.length) report.add("untranslated", l.d, showDirective(l.d), `one member per node, with line ${p.d.line}'s settings; this line differs: ${diffs.join(", ")}`);
  }
  const entries = MEMBER_KEY_ORDER.filter((k) => values.has(k)).map((k) => [k, values.get(k)!] as [string, string | number]);
  return { entries };
}

const onOff = (v: string): boolean | undefined => (/^on$/i.test(v) ? true : /^off$/i.test(v) ? false : undefined);

/** [balancer] from the cluster balancer's ProxySet; the other balancers' keys must agree. */
function balancerSettings(ordered: readonly BalancerFacts[], primary: BalancerFacts | undefined, report: Report): { entries: [string, number | boolean][] } {
  const entries: [string, number | boolean][] = [];
  const clusterKeys: Record<string, (v: string) => number | boolean | undefined> = {
    nofailover: onOff,
    forcerecovery: onOff,
    maxattempts: (v) => (/^\d+$/.test(v) && Number(v) <= 99 ? Number(v) : undefined),
  };
  const chosen = new Map<string, { value: number | boolean; d: ConfDirective }>();
  if (primary) {
    for (const s of primary.settings) {
      const parse = clusterKeys[s.key];
      if (!parse) continue;
      const v = parse(s.value);
      if (v === undefined) report.add("untranslated", s.d, `${s.key}=${s.value}`, s.key === "maxattempts" ? "expected 0 to 99" : "expected On or Off");
      else chosen.set(s.key, { value: v, d: s.d });
    }
  }
  for (const [k, c] of chosen) entries.push([k, c.value]);
  for (const b of ordered) {
    for (const s of b.settings) {
      const what = `${s.key}=${s.value}`;
      if (clusterKeys[s.key]) {
        if (b === primary) {
          const c = chosen.get(s.key);
          if (c) report.add("translated", s.d, what, `[balancer] ${s.key} = ${c.value}`);
        } else {
          const v = clusterKeys[s.key]!(s.value);
          const c = chosen.get(s.key)?.value;
          if (v !== undefined && v === (c ?? defaultOf(s.key))) report.add("translated", s.d, what, `[balancer] ${s.key}: the same as ${label(primary!.name)}'s`);
          else report.add("untranslated", s.d, what, `the bridge has one ${s.key} for the cluster: ${label(primary!.name)}'s (${c ?? `default ${defaultOf(s.key) ?? "members - 1"}`})`);
        }
        continue;
      }
      switch (s.key) {
        case "stickysession":
          continue; // said with the worker's sticky vars
        case "stickysessionsep":
          if (s.value === ".") report.add("translated", s.d, what, "the route is the text after the first '.' of the session id, always");
          else report.add("untranslated", s.d, what, "the route is the text after the first '.' of the session id: no other separator");
          continue;
        case "scolonpathdelim":
          if (onOff(s.value)) report.add("translated", s.d, what, "built in: the worker ends a ;jsessionid= value at the next ';' (path parameters are split before the route is read)");
          else report.add("instead", s.d, what, "the worker ends a ;jsessionid= value at the next ';' anyway");
          continue;
        case "lbmethod":
          if (/^byrequests$/i.test(s.value)) report.add("translated", s.d, what, "the bridge's only method: byrequests, sticky hits counted");
          else report.add("untranslated", s.d, what, "the bridge balances by requests (byrequests) only");
          continue;
        case "timeout":
          report.add("untranslated", s.d, what, "a balancer timeout waits for a usable member; the bridge answers 503 at once when none is usable");
          continue;
        case "failonstatus":
          report.add("untranslated", s.d, what, "a node's answer never puts it in error, whatever its status; [balancer] fails counts node-side failures (protocol errors, aborts, timeouts)");
          continue;
        case "failontimeout":
          if (onOff(s.value)) report.add("untranslated", s.d, what, "one timeout does not put a node in error: timeouts count toward [balancer] fails (failures in a row)");
          else report.add("instead", s.d, what, "one timeout does not put a node in error");
          continue;
        case "growth":
          report.add("instead", s.d, what, "members are the config's; the admin API changes them, it adds none");
          continue;
        case "nonce":
          report.add("instead", s.d, what, "the admin API takes a bearer token (admin_token_env)");
          continue;
      }
      report.add("untranslated", s.d, what, "a balancer parameter the bridge does not have");
    }
  }
  return { entries };
}

function defaultOf(key: string): number | boolean | undefined {
  return key === "nofailover" ? false : key === "forcerecovery" ? true : undefined;
}

/**
 * STICKY_* from stickysession: `COOKIE|PARAM` names the cookie and the URL
 * parameter; a bare `JSESSIONID` is the cookie, and OX writes the path
 * parameter in lower case (`;jsessionid=`), which httpd never matched and the
 * worker does (README, From the Apache configuration).
 */
function stickyVars(ordered: readonly BalancerFacts[], report: Report): { cookies: string[]; pathParam: string } {
  const cookies: string[] = [];
  let pathParam: string | undefined;
  const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
  const PARAM = /^[A-Za-z0-9._~-]+$/;
  for (const b of ordered) {
    const sets = b.settings.filter((s) => s.key === "stickysession");
    // A ProxyPass straight to one node has nothing to balance, so nothing to stick to.
    if (sets.length === 0 && b.implicit) continue;
    if (sets.length === 0) {
      report.add("untranslated", b.at, sectionLabel(b.name), "no stickysession: httpd balanced each request of its prefixes on its own; oxedge keeps every session on its node");
      continue;
    }
    for (const s of sets) {
      const [cookie = "", url] = s.value.split("|");
      const param = url ?? (cookie.toLowerCase() === "jsessionid" ? "jsessionid" : cookie);
      const what = `stickysession=${s.value}`;
      if (!TOKEN.test(cookie) || !PARAM.test(param)) {
        report.add("untranslated", s.d, what, "not a cookie name and a URL parameter name the worker can read");
        continue;
      }
      if (!cookies.includes(cookie)) cookies.push(cookie);
      if (pathParam !== undefined && pathParam !== param) {
        report.add("untranslated", s.d, what, `the worker reads one session parameter: ${pathParam}`);
        continue;
      }
      pathParam = param;
      const note = url === undefined && param !== cookie ? `; httpd looked for ${cookie}= in the URL, which OX never writes` : "";
      report.add("translated", s.d, what, `worker STICKY_COOKIES = "${cookies.join(",")}", STICKY_PATH_PARAM and STICKY_QUERY_PARAM = "${param}"${note}`);
    }
  }
  return { cookies: cookies.length ? cookies : ["JSESSIONID"], pathParam: pathParam ?? "jsessionid" };
}

function mostCommon<T>(xs: readonly T[]): T {
  const counts = new Map<T, number>();
  for (const x of xs) counts.set(x, (counts.get(x) ?? 0) + 1);
  let best = xs[0] as T;
  for (const [x, n] of counts) if (n > counts.get(best)!) best = x;
  return best;
}

function mostCommonList(lists: readonly string[][]): string[] {
  const key = mostCommon(lists.map((l) => JSON.stringify(l)));
  return JSON.parse(key) as string[];
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function intersectAccess(a: Access, b: Access): Access | undefined {
  if (a.kind === "none" || b.kind === "none") return { kind: "none" };
  if (a.kind === "all") return b;
  if (b.kind === "all") return a;
  return [...a.cidrs].sort().join() === [...b.cidrs].sort().join() ? a : undefined;
}

function showAccess(a: Access): string {
  return a.kind === "all" ? "everyone" : a.kind === "none" ? "nobody" : a.cidrs.join(", ");
}

function accessLines(ds: readonly ConfDirective[]): string {
  return ds.map((d) => [d.name, ...d.args].join(" ")).join("; ");
}

/** The tables the shared resolver accepts: a rule it refuses is reported and left out. */
function validTables(tables: PathRuleInput[], shared: string[], report: Report): PathRuleInput[] {
  let rules = [...tables];
  for (let round = 0; round < tables.length && rules.length; round++) {
    const r = resolvePaths({ field: "paths", value: rules, ip: anyAddress, defaultAllow: shared });
    if (r.ok) return rules;
    const bad = new Set<number>();
    for (const p of r.problems) {
      const m = /^paths\[(\d+)\]/.exec(p.field);
      if (m) {
        bad.add(Number(m[1]));
        report.add("untranslated", undefined, `the path rule for ${rules[Number(m[1])]!.prefix}`, `oxedge refuses it: ${p.field.replace(/^paths\[\d+\]\.?/, "") || "rule"} = ${p.value}: ${p.rule}`);
      }
    }
    if (bad.size === 0) {
      for (const p of r.problems) report.add("untranslated", undefined, "the path map", formatProblem(p));
      return [];
    }
    rules = rules.filter((_, i) => !bad.has(i));
  }
  return rules;
}

/**
 * The preset that says what the tables say with the fewest changes, if any
 * says it with few; else the closest one and what it has that the Apache
 * file does not. A preset is taken only when the file has every rule of it
 * (a change may alter a rule, never take one away) and when the result is
 * the same by behaviour, not only by text: both maps must decide every
 * prefix of either the same way and restrict it to the same clients.
 */
function bestPreset(
  tables: PathRuleInput[],
  tablesMap: PathMap,
  shared: string[],
  memberTimeout: number | undefined,
): { best?: { name: PresetName; changes: PathRuleInput[]; base: PathMap }; closest?: { name: PresetName; missing: string[] } } {
  let best: { name: PresetName; changes: PathRuleInput[]; base: PathMap } | undefined;
  let closest: { name: PresetName; missing: string[] } | undefined;
  for (const name of PRESET_NAMES) {
    const base = resolvePaths({ field: "paths", value: name, ip: anyAddress, defaultAllow: shared });
    if (!base.ok) continue;
    const missing = base.map.rules.filter((r) => !tablesMap.rules.some((m) => m.prefix === r.prefix)).map((r) => r.prefix);
    if (missing.length) {
      if (!closest || missing.length < closest.missing.length) closest = { name, missing };
      continue;
    }
    const changes = presetChanges(tables, tablesMap, base.map, memberTimeout);
    if (!changes) continue;
    const value = changes.length ? [name, ...changes] : name;
    const r = resolvePaths({ field: "paths", value, ip: anyAddress, defaultAllow: shared });
    if (!r.ok || !sameBehaviour(r.map, tablesMap, memberTimeout)) continue;
    if (changes.length <= MAX_PRESET_CHANGES && (!best || changes.length < best.changes.length)) best = { name, changes, base: base.map };
  }
  return { best, closest };
}

const DECIDED = ["cluster", "rewrite", "redirect", "internal", "timeout", "deadline", "websocket"] as const;

/** The rules to list after the preset's name, or undefined when a difference cannot be said as a change. */
function presetChanges(tables: PathRuleInput[], tablesMap: PathMap, preset: PathMap, memberTimeout: number | undefined): PathRuleInput[] | undefined {
  const changes: PathRuleInput[] = [];
  const input = new Map(tables.map((r) => [r.prefix, r]));
  for (const t of tablesMap.rules) {
    const p = preset.rules.find((r) => r.prefix === t.prefix);
    const given = input.get(t.prefix)!;
    if (!p) {
      changes.push(given);
      continue;
    }
    const c: PathRuleInput = { prefix: t.prefix };
    for (const k of DECIDED) {
      const a = k === "timeout" ? (t.timeout ?? memberTimeout) : t[k];
      const b = k === "timeout" ? (p.timeout ?? memberTimeout) : p[k];
      if (a === b) continue;
      if (a === undefined) return undefined; // a preset's rewrite, redirect or timeout cannot be unset
      (c as unknown as Record<string, unknown>)[k] = a;
    }
    if (given.allow !== undefined && !sameList(given.allow, p.allow)) c.allow = given.allow;
    if (Object.keys(c).length > 1) changes.push(c);
  }
  return changes;
}

/** Same decision for every path: probed at every prefix of both maps and just below each. */
function sameBehaviour(a: PathMap, b: PathMap, memberTimeout: number | undefined): boolean {
  const probes = new Set<string>();
  for (const r of [...a.rules, ...b.rules]) probes.add(r.prefix).add(`${r.prefix}/x`).add(`${r.prefix}x`);
  const decided = (r: PathRule | undefined) =>
    JSON.stringify(r ? [r.cluster, r.rewrite, r.redirect, r.timeout ?? memberTimeout, r.deadline, r.websocket] : [false, undefined, undefined, memberTimeout, 0, false]);
  const who = (m: PathMap, p: string) => JSON.stringify(m.internal(p).map((r) => [...r.allow].sort().join()).sort());
  for (const p of probes) {
    if (decided(a.route(p)) !== decided(b.route(p))) return false;
    if (who(a, p) !== who(b, p)) return false;
  }
  return true;
}

function describeChange(c: PathRuleInput, preset: PresetName, base: PathMap, memberTimeout: number | undefined): string {
  const keys = Object.entries(c).filter(([k]) => k !== "prefix");
  const said = keys.map(([k, v]) => `${k} = ${JSON.stringify(v)}`).join(", ");
  const own = base.rules.find((r) => r.prefix === c.prefix)?.timeout;
  const why = c.timeout !== undefined && c.timeout === memberTimeout && own !== undefined ? ` (${preset} gives it ${own} s; Apache gave it the members' ${memberTimeout} s)` : "";
  return `${c.prefix}: ${said}${why}`;
}

function todos(report: Report, o: { nodes: Node[]; secretEnvs: Set<string>; shared: string[]; restricted: string[]; map: PathMap | undefined; hasHttp: boolean }): void {
  report.todo(`Give the bridge ${BRIDGE_SECRET_ENV} and the worker the same value: \`npx wrangler secret put BRIDGE_SECRET\` (at least 32 characters).`);
  report.todo("Set BRIDGE_URLS in the worker's [vars] to the bridge's origin (a Cloudflare Tunnel or TLS terminator in front of it): the Apache file cannot say it.");
  for (const n of o.nodes) {
    if (n.secretEnv) {
      report.todo(`Set ${n.secretEnv} in the bridge's environment to the secret= of ${lineRef(n.primary.d.line)} (the node's AJP connector secret); the import never writes its value.`);
    }
    if (n.madeUp) report.todo(`${lineRef(n.primary.d.line)} names no route=: set that node's jvmRoute (Tomcat) or com.openexchange.server.backendRoute (OX) to ${n.route}, the member's made-up route, or its sessions do not stick.`);
  }
  const open = o.nodes.filter((n) => n.kind === "ajp" && !n.secretEnv).map((n) => n.route);
  if (open.length) {
    report.todo(`${open.length === o.nodes.filter((n) => n.kind === "ajp").length ? `The AJP member${open.length > 1 ? "s have" : " has"}` : `The AJP member${open.length > 1 ? "s" : ""} ${open.join(", ")} ${open.length > 1 ? "have" : "has"}`} no secret: firewall ${open.length > 1 ? "their" : "its"} AJP port${open.length > 1 ? "s" : ""} so that only the bridge reaches ${open.length > 1 ? "them" : "it"}.`);
  }
  const loopback = o.shared.length > 0 && o.shared.every((a) => a === "127.0.0.1" || a === "::1" || a.startsWith("127."));
  if (loopback) {
    report.todo(
      `The allow-list ${o.shared.join(", ")} was the Apache host itself; behind the edge no client has that address, so ${o.restricted.join(", ")} ${o.restricted.length > 1 ? "are" : "is"} refused to every client through the edge. Add the addresses of your provisioning clients to PROVISIONING_ALLOW and [provisioning] allow, or call the API on a node directly.`,
    );
  }
  if (o.hasHttp) report.todo("HTTP members: set com.openexchange.server.considerXForwards=true on the nodes and list the bridges in com.openexchange.server.knownProxies (the bridge sends the client's address in X-Forwarded-For).");
  const long = o.map?.rules.filter((r) => r.cluster && r.rewrite === undefined && r.timeout !== undefined && r.timeout > EDGE_TIMEOUT_S) ?? [];
  if (long.length) {
    report.todo(
      `${long.map((r) => `${r.prefix} (${r.timeout} s)`).join(", ")}: a reply timeout above the ${EDGE_TIMEOUT_S} s Cloudflare waits ends in 524 at the edge; for ActiveSync see docs/paths.md, Timeouts at the edge (max_heartbeat 90, timeout 95).`,
    );
  }
}

/** The bridge's own schema has the last word: a refusal here is a gap of the importer, said as such. */
function checkWithBridge(b: BridgeOut, secretEnvs: Set<string>, report: Report): void {
  // A stand-in that passes the secret rule (common/secret.ts): only the file is judged here.
  const env: NodeJS.ProcessEnv = { [BRIDGE_SECRET_ENV]: "0123456789abcdef".repeat(2) };
  for (const e of secretEnvs) env[e] = "x";
  const input = {
    secret_env: b.secret_env,
    ...(b.paths === undefined ? {} : { paths: b.paths }),
    ...(b.provisioningAllow ? { provisioning: { allow: b.provisioningAllow } } : {}),
    balancer: Object.fromEntries(b.balancer),
    members: b.members.map((m) => Object.fromEntries(m)),
  };
  try {
    buildConfig(input, env);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    for (const p of e.problems) report.add("untranslated", undefined, "the bridge config", `the bridge refuses ${formatProblem(p)}`);
  }
}
