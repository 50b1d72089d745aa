/**
 * Who may reach a `<Location>`, as httpd decides it from the 2.2 directives
 * (`Order`, `Allow from`, `Deny from`, mod_access_compat) or the 2.4 ones
 * (`Require ip|host|local|all`, mod_authz_host and mod_authz_core), turned into
 * what oxedge can express: an allow-list of addresses and CIDR blocks.
 *
 * oxedge judges the client address only, so what httpd decided by name
 * (`Allow from example.com`, `Require host`) or environment (`Allow from env=`)
 * is reported and left out: the result is then stricter than httpd, never
 * looser. Pure.
 */
import { isIP } from "node:net";
import type { ConfDirective } from "./apache-config.ts";

export type HostEntry = { ok: true; cidr: string } | { ok: false; reason: string };

const OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/**
 * One host argument of `Allow from`, `Deny from` or `Require ip` as an
 * address or CIDR block. httpd's partial form names the leading octets of an
 * IPv4 network: `192.168` is 192.168.0.0/16, `10` is 10.0.0.0/8. A netmask
 * (`10.1.0.0/255.255.0.0`) becomes its prefix length.
 */
export function hostToCidr(word: string): HostEntry {
  const w = word.replace(/^\[(.*)\]$/, "$1");
  const [addr, bits, extra] = w.split("/");
  if (extra !== undefined || addr === undefined) return { ok: false, reason: `${JSON.stringify(word)} is not an address` };
  if (bits === undefined) {
    if (isIP(addr)) return { ok: true, cidr: addr };
    const parts = addr.replace(/\.$/, "").split(".");
    if (parts.length >= 1 && parts.length <= 3 && parts.every((p) => OCTET.test(p))) {
      return { ok: true, cidr: `${[...parts, "0", "0", "0"].slice(0, 4).join(".")}/${parts.length * 8}` };
    }
    return notAnAddress(word);
  }
  const family = isIP(addr);
  if (!family) return notAnAddress(word);
  let prefix: number;
  if (/^\d{1,3}$/.test(bits)) prefix = Number(bits);
  else if (family === 4 && isIP(bits) === 4) {
    const mask = toInt(bits);
    prefix = 32 - Math.log2((~mask >>> 0) + 1);
    if (!Number.isInteger(prefix)) return { ok: false, reason: `${JSON.stringify(word)}: the netmask is not contiguous` };
  } else return { ok: false, reason: `${JSON.stringify(word)}: "${bits}" is neither a prefix length nor a netmask` };
  if (prefix > (family === 4 ? 32 : 128)) return { ok: false, reason: `${JSON.stringify(word)}: prefix length above ${family === 4 ? 32 : 128}` };
  if (family === 6) return { ok: true, cidr: `${addr}/${prefix}` };
  // httpd masks the host bits off; so do we, so the block reads as the network it is.
  const net = prefix === 0 ? 0 : (toInt(addr) & (~0 << (32 - prefix))) >>> 0;
  return { ok: true, cidr: `${fromInt(net)}/${prefix}` };
}

function notAnAddress(word: string): HostEntry {
  if (/^env=/i.test(word)) return { ok: false, reason: `${word}: access by environment variable; oxedge judges the client address only` };
  if (/^[A-Za-z0-9.-]+$/.test(word) && /[A-Za-z]/.test(word)) {
    return { ok: false, reason: `${word} is a host name: httpd looked the client's address up in DNS, oxedge judges the address only` };
  }
  return { ok: false, reason: `${JSON.stringify(word)} is not an address, a partial address or a CIDR block` };
}

function toInt(v4: string): number {
  return v4.split(".").reduce((n, o) => ((n << 8) | Number(o)) >>> 0, 0);
}

function fromInt(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join(".");
}

/** Everyone, nobody, or the clients in a list. */
export type Access = { kind: "all" } | { kind: "none" } | { kind: "list"; cidrs: string[] };

/** A piece of the directives that oxedge cannot express, with the line it came from. */
export interface AccessProblem {
  line: number;
  text: string;
  reason: string;
}

export interface AccessResult {
  access: Access;
  /** Directives that took part and were understood. */
  used: ConfDirective[];
  problems: AccessProblem[];
}

const ACCESS_KEYS = new Set(["order", "allow", "deny", "require", "satisfy"]);

export function isAccessDirective(d: ConfDirective): boolean {
  return ACCESS_KEYS.has(d.key);
}

const LOOPBACK = ["127.0.0.1", "::1"];

function show(d: ConfDirective): string {
  return [d.name, ...d.args].join(" ");
}

/** A list of host words as CIDRs, the untranslatable ones reported. */
function hostsOf(d: ConfDirective, words: readonly string[], problems: AccessProblem[]): { all: boolean; cidrs: string[] } {
  const cidrs: string[] = [];
  let all = false;
  for (const w of words) {
    if (w.toLowerCase() === "all") {
      all = true;
      continue;
    }
    const h = hostToCidr(w);
    if (h.ok) cidrs.push(h.cidr);
    else problems.push({ line: d.line, text: show(d), reason: h.reason });
  }
  return { all, cidrs };
}

/**
 * The access that one container's (a `<Location>`'s, a `<Proxy>`'s) access
 * directives grant. The 2.2 and the 2.4 directives each decide on their own;
 * httpd 2.4 with mod_access_compat lets a request through only when both let
 * it, so when both are present the result is what both allow.
 */
export function evaluateAccess(directives: readonly ConfDirective[]): AccessResult {
  const problems: AccessProblem[] = [];
  const used: ConfDirective[] = [];
  let order: "deny,allow" | "allow,deny" | undefined;
  const allow = { all: false, cidrs: [] as string[], any: false };
  const deny = { all: false, cidrs: [] as string[], any: false };
  const required: Access[] = [];
  for (const d of directives) {
    if (d.key === "order") {
      const v = d.args.join("").toLowerCase();
      if (v === "deny,allow" || v === "allow,deny") {
        order = v;
        used.push(d);
      } else problems.push({ line: d.line, text: show(d), reason: `Order ${d.args.join(" ")}: only Deny,Allow and Allow,Deny are translated` });
    } else if (d.key === "allow" || d.key === "deny") {
      if (d.args[0]?.toLowerCase() !== "from" || d.args.length < 2) {
        problems.push({ line: d.line, text: show(d), reason: `expected "${d.name} from HOST…"` });
        continue;
      }
      const h = hostsOf(d, d.args.slice(1), problems);
      const into = d.key === "allow" ? allow : deny;
      into.any = true;
      into.all ||= h.all;
      into.cidrs.push(...h.cidrs);
      used.push(d);
    } else if (d.key === "require") {
      const r = requireAccess(d, problems);
      if (r) {
        required.push(r);
        used.push(d);
      }
    } else if (d.key === "satisfy") {
      problems.push({ line: d.line, text: show(d), reason: "Satisfy combines host access with authentication, which oxedge does not do" });
    }
  }

  let compat: Access | undefined;
  if (allow.any || deny.any || order) {
    // httpd 2.2's default order is Deny,Allow.
    const o = order ?? "deny,allow";
    if (o === "deny,allow") {
      // Allowed unless denied, and allowed again if Allow matches.
      if (!deny.any) compat = { kind: "all" };
      else if (allow.all) compat = { kind: "all" };
      else if (deny.all) compat = list(allow.cidrs);
      else {
        problems.push(...deny2(directives, "a deny-list (Deny from some, everyone else allowed) cannot be expressed: oxedge keeps allow-lists; the path is refused to everyone not allowed"));
        compat = list(allow.cidrs);
      }
    } else {
      // Denied unless allowed, and denied again if Deny matches.
      if (deny.all) compat = { kind: "none" };
      else if (!deny.any) compat = allow.all ? { kind: "all" } : list(allow.cidrs);
      else {
        problems.push(
          ...deny2(
            directives,
            allow.all
              ? "a deny-list (everyone but these) cannot be expressed: oxedge keeps allow-lists; the path is refused to everyone"
              : "Deny from inside an allow-list cannot be expressed: oxedge keeps allow-lists; the path is refused to everyone",
          ),
        );
        compat = { kind: "none" };
      }
    }
  }
  // Several Require lines in one section: any of them grants (httpd's implicit RequireAny).
  let authz: Access | undefined;
  if (required.length) authz = required.reduce(union);
  let access: Access;
  if (compat && authz) access = intersect(compat, authz, directives, problems);
  else access = compat ?? authz ?? { kind: "all" };
  return { access, used, problems };
}

function deny2(directives: readonly ConfDirective[], reason: string): AccessProblem[] {
  return directives.filter((d) => d.key === "deny").map((d) => ({ line: d.line, text: show(d), reason }));
}

function list(cidrs: string[]): Access {
  return cidrs.length ? { kind: "list", cidrs: dedupe(cidrs) } : { kind: "none" };
}

function dedupe(xs: string[]): string[] {
  return [...new Set(xs)];
}

function requireAccess(d: ConfDirective, problems: AccessProblem[]): Access | undefined {
  const [what, ...rest] = d.args.map((a) => a);
  const w = what?.toLowerCase();
  if (w === "all" && rest.length === 1 && /^(granted|denied)$/i.test(rest[0]!)) return rest[0]!.toLowerCase() === "granted" ? { kind: "all" } : { kind: "none" };
  if (w === "local" && rest.length === 0) return { kind: "list", cidrs: [...LOOPBACK] };
  if (w === "ip" && rest.length) return list(hostsOf(d, rest, problems).cidrs);
  if (w === "host") {
    problems.push({ line: d.line, text: show(d), reason: "httpd looked the client's address up in DNS, oxedge judges the address only; those clients are refused" });
    return { kind: "none" };
  }
  if (w === "not") {
    problems.push({ line: d.line, text: show(d), reason: "a deny-list cannot be expressed (oxedge keeps allow-lists); the path is refused to everyone" });
    return { kind: "none" };
  }
  problems.push({ line: d.line, text: show(d), reason: `oxedge has no user or group authentication; only Require ip, local and all are translated` });
  return { kind: "none" };
}

function union(a: Access, b: Access): Access {
  if (a.kind === "all" || b.kind === "all") return { kind: "all" };
  if (a.kind === "none") return b;
  if (b.kind === "none") return a;
  return { kind: "list", cidrs: dedupe([...a.cidrs, ...b.cidrs]) };
}

/** Both must allow. Two different lists would need their intersection, which is kept only when they are the same list. */
function intersect(a: Access, b: Access, directives: readonly ConfDirective[], problems: AccessProblem[]): Access {
  if (a.kind === "all") return b;
  if (b.kind === "all") return a;
  if (a.kind === "none" || b.kind === "none") return { kind: "none" };
  const sa = [...a.cidrs].sort().join(",");
  const sb = [...b.cidrs].sort().join(",");
  if (sa === sb) return a;
  const first = directives.find((d) => d.key === "require") ?? directives[0]!;
  problems.push({ line: first.line, text: show(first), reason: "the 2.2 (Allow/Deny) and 2.4 (Require) directives allow different clients and httpd wants both; the path is refused to everyone" });
  return { kind: "none" };
}
