import { BlockList, isIP } from "node:net";

/**
 * The bridge's own check of what the worker already decided (defence in
 * depth, docs/handoff.md, Why the bridge checks the path again): only
 * canonical paths under a cluster prefix pass, and the
 * provisioning API only for allow-listed client addresses. It is written
 * independently of the worker's canonicaliser on purpose: it does not repair
 * anything, it refuses whatever a servlet container could read differently.
 */

/** `%XX` that a canonical path never contains: unreserved characters (decoded at the edge), '/', '\', '.', ';' and NUL. */
const NON_CANONICAL_ESCAPE = /%(?:[46][1-9a-f]|[57][0-9a]|3[0-9]|2[def]|5[cf]|7e|3b|00)/i;

export type PathVerdict = { ok: true; path: string } | { ok: false; kind: "bad-path" | "not-found" | "forbidden"; reason: string };

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

export function underPrefix(path: string, prefix: string): boolean {
  if (!path.startsWith(prefix)) return false;
  const next = path.charCodeAt(prefix.length);
  // Whole segments only: "/ajaxfoo" is not under "/ajax".
  return Number.isNaN(next) || next === 0x2f /* / */ || next === 0x3b /* ; */;
}

export class PathPolicy {
  private readonly allow = new BlockList();
  private readonly provisioningPrefix: string;

  constructor(
    private readonly prefixes: readonly string[],
    provisioningPath: string,
    allow: readonly string[],
  ) {
    this.provisioningPrefix = provisioningPath.toLowerCase();
    for (const entry of allow) {
      const [addr, bits] = entry.split("/");
      const family = isIP(addr) === 6 ? "ipv6" : "ipv4";
      if (!isIP(addr)) throw new Error(`provisioning.allow: "${entry}" is not an IP address or CIDR`);
      if (bits === undefined) this.allow.addAddress(addr, family);
      else this.allow.addSubnet(addr, Number(bits), family);
    }
  }

  judge(path: string, clientIp: string): PathVerdict {
    const bad = isCanonicalPath(path);
    if (bad) return { ok: false, kind: "bad-path", reason: bad };
    if (!this.prefixes.some((p) => underPrefix(path, p))) return { ok: false, kind: "not-found", reason: "not a cluster path" };
    // Plain, case-insensitive prefix like httpd's <Location>: stricter than segment matching, and
    // Axis2 finds its service anywhere after the prefix (".../x/services/Name"), so the whole
    // /servlet/axis2 tree is the API.
    if (path.toLowerCase().startsWith(this.provisioningPrefix) && !this.allowed(clientIp)) {
      return { ok: false, kind: "forbidden", reason: `provisioning API from ${clientIp}` };
    }
    return { ok: true, path };
  }

  private allowed(ip: string): boolean {
    const v = isIP(ip);
    if (!v) return false;
    return this.allow.check(ip, v === 6 ? "ipv6" : "ipv4");
  }
}
