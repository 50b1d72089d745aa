import { BlockList, isIP } from "node:net";
import { resolvePaths, underPrefix, type PathMap, type PathRule } from "../common/path-map.ts";
import * as z from "zod/mini";
import { formatProblem } from "../common/errors.ts";

/**
 * The bridge's own check of what the worker already decided (defence in
 * depth, docs/handoff.md, Why the bridge checks the path again): only
 * canonical paths the path map sends to the cluster pass, and internal paths
 * (the provisioning API and the like) only for allow-listed client addresses.
 * The rules are the worker's (common/path-map.ts); the canonical-path check is
 * written independently of the worker's canonicaliser on purpose: it does not
 * repair anything, it refuses whatever a servlet container could read
 * differently.
 */

/** `%XX` that a canonical path never contains: unreserved characters (decoded at the edge), '/', '\', '.', ';' and NUL. */
const NON_CANONICAL_ESCAPE = /%(?:[46][1-9a-f]|[57][0-9a]|3[0-9]|2[def]|5[cf]|7e|3b|00)/i;

/** A path the bridge forwards, with what its rule says about the exchange. */
export interface PathAccepted {
  ok: true;
  path: string;
  /** The prefix accepts an Upgrade to WebSocket. */
  websocket: boolean;
  /** Reply timeout instead of the member's; undefined = the member's. */
  replyTimeoutMs: number | undefined;
  /** For the whole exchange; 0 = none. */
  deadlineMs: number;
}

export type PathVerdict = PathAccepted | { ok: false; kind: "bad-path" | "not-found" | "forbidden"; reason: string };

export function isCanonicalPath(path: string): string | undefined {
  if (!path.startsWith("/")) return "path must start with /";
  if (path.includes("\\")) return "backslash in path";
  if (/[\x00-\x20\x7f]/.test(path)) return "control character or space in path";
  if (path.includes("//")) return "empty segment";
  if (/\/\.\.?(?:\/|;|$)/.test(path)) return "dot segment";
  if (NON_CANONICAL_ESCAPE.test(path)) return "escaped character that must not be escaped";
  if (/%(?![0-9a-f]{2})/i.test(path)) return "bad percent escape";
  // Escapes that are not UTF-8 (overlong forms like %c0%ae for ".") are read as dot segments or
  // slashes by lenient decoders; no canonical path has them.
  if (path.includes("%") && !decodesAsUtf8(path)) return "percent escapes that are not UTF-8";
  // The only path parameter the edge keeps is the session id on the last segment.
  const semi = path.indexOf(";");
  if (semi >= 0 && !/^;jsessionid=[^;/]*$/.test(path.slice(semi))) return "path parameter";
  return undefined;
}

function decodesAsUtf8(path: string): boolean {
  try {
    decodeURIComponent(path);
    return true;
  } catch {
    return false;
  }
}

export { underPrefix };

/** What a rule says about an accepted exchange, computed once per rule rather than per request. */
interface Accept {
  websocket: boolean;
  replyTimeoutMs: number | undefined;
  deadlineMs: number;
}

export class PathPolicy {
  private readonly map: PathMap;
  private readonly allow = new Map<PathRule, BlockList>();
  private readonly accept = new Map<PathRule, Accept>();

  /**
   * From the bridge config's map, or (the older form, kept for callers that
   * still have it) cluster prefixes, one provisioning path and its allow-list.
   */
  constructor(map: PathMap);
  constructor(prefixes: readonly string[], provisioningPath: string, allow: readonly string[]);
  constructor(mapOrPrefixes: PathMap | readonly string[], provisioningPath?: string, allow: readonly string[] = []) {
    if (Array.isArray(mapOrPrefixes)) {
      const r = resolvePaths({ field: "paths", value: undefined, ip: z.string(), defaultAllow: allow, cluster: { field: "prefixes", value: mapOrPrefixes }, internal: { field: "provisioning.path", value: [provisioningPath ?? "/servlet/axis2"] }, timeouts: { field: "timeouts", value: [] } });
      if (!r.ok) throw new Error(r.problems.map(formatProblem).join("; "));
      this.map = r.map;
    } else {
      this.map = mapOrPrefixes as PathMap;
    }
    for (const rule of this.map.rules) {
      if (rule.internal) this.allow.set(rule, blockList(rule));
      this.accept.set(rule, { websocket: rule.websocket, replyTimeoutMs: rule.timeout === undefined ? undefined : rule.timeout * 1000, deadlineMs: rule.deadline * 1000 });
    }
  }

  judge(path: string, clientIp: string): PathVerdict {
    const bad = isCanonicalPath(path);
    if (bad) return { ok: false, kind: "bad-path", reason: bad };
    const rule = this.map.route(path);
    if (!rule?.cluster) return { ok: false, kind: "not-found", reason: "not a cluster path" };
    // The edge rewrites such a path before it signs it, so a signed one was not rewritten: the
    // worker does not use this map. The node has no such prefix either; forwarding it as it is
    // would only reach whatever the node maps there.
    if (rule.rewrite !== undefined) return { ok: false, kind: "not-found", reason: `${rule.prefix} is rewritten to ${rule.rewrite} at the edge, never forwarded as it is` };
    // Plain, case-insensitive prefixes like httpd's <Location>: stricter than segment matching, and
    // Axis2 finds its service anywhere after the prefix (".../x/services/Name"), so the whole
    // /servlet/axis2 tree is the API. Every internal prefix the path lies under must allow the client.
    for (const r of this.map.internal(path)) {
      if (!this.allowed(r, clientIp)) return { ok: false, kind: "forbidden", reason: `internal path ${r.prefix} from ${clientIp}` };
    }
    return { ok: true, path, ...this.accept.get(rule)! };
  }

  private allowed(rule: PathRule, ip: string): boolean {
    const v = isIP(ip);
    if (!v) return false;
    return this.allow.get(rule)!.check(ip, v === 6 ? "ipv6" : "ipv4");
  }
}

function blockList(rule: PathRule): BlockList {
  const list = new BlockList();
  for (const entry of rule.allow) {
    const [addr, bits] = entry.split("/");
    const family = isIP(addr) === 6 ? "ipv6" : "ipv4";
    if (!isIP(addr)) throw new Error(`${rule.source}.allow: "${entry}" is not an IP address or CIDR`);
    if (bits === undefined) list.addAddress(addr, family);
    else list.addSubnet(addr, Number(bits), family);
  }
  return list;
}
