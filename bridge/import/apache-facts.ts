/**
 * From the parsed Apache file to the facts a front end's config states:
 * balancers and their member lines, ProxyPass mappings, who may reach which
 * location, redirects, HSTS. Directives that oxedge does on its own or cannot
 * express are put in the report here, where their meaning is known; what the
 * facts become in oxedge's config is translate.ts's business. Pure.
 *
 * The file is read as httpd 2.4 reads it with the modules it names loaded:
 * `<IfModule mod_x>` blocks apply, `<IfModule !mod_x>` and `<IfVersion < 2.4>`
 * blocks do not, except the access directives in them that belong to a
 * `<Location>` or `<Proxy>` around the block, which still count (the usual
 * 2.2/2.4 pair of branches says the same twice; if the branches differ, the
 * stricter one holds: an import may refuse more than httpd did, never less).
 */
import { lineRef, type ConfDirective, type ConfNode, type ConfSection } from "./apache-config.ts";
import { evaluateAccess, isAccessDirective, type AccessResult } from "./host-access.ts";
import { showDirective, type Report } from "./report.ts";

export interface MemberUrl {
  scheme: string;
  host: string;
  port: number;
  /** host:port as the bridge writes it (IPv6 in brackets). */
  hostPort: string;
}

export interface Param {
  key: string;
  value: string;
}

export interface MemberLine {
  d: ConfDirective;
  balancer: string;
  url: MemberUrl;
  params: Param[];
}

export interface SettingLine {
  d: ConfDirective;
  key: string;
  value: string;
}

export interface BalancerFacts {
  name: string;
  /** The `<Proxy balancer://…>` section, or the first line naming the balancer. */
  at: { line: number; lastLine: number };
  members: MemberLine[];
  settings: SettingLine[];
  /** Made from a ProxyPass straight to a node (`ProxyPass /ajax ajp://ox1:8009/ajax`). */
  implicit: boolean;
}

export interface PassFact {
  d: ConfDirective;
  prefix: string;
  /** `!`: not proxied (an exception under a proxied prefix). */
  target: { balancer: string; path: string } | "exclude";
  /** `upgrade=websocket` (httpd ≥ 2.4.47: mod_proxy_http tunnels the upgrade itself). */
  upgrade: boolean;
  /** Inside `<Location>` or `<Proxy /prefix>`: order against top-level ProxyPass lines is httpd's per-directory merge, not file order. */
  inSection: boolean;
}

export interface RestrictionFact {
  /** The prefix as the section named it. */
  prefix: string;
  at: { line: number; lastLine: number };
  what: string;
  result: AccessResult;
}

export interface BalancerAccessFact {
  balancer: string;
  at: { line: number; lastLine: number };
  what: string;
  result: AccessResult;
}

export interface RedirectFact {
  prefix: string;
  to: string;
  status: number;
  d: ConfDirective;
  note?: string;
}

export interface Facts {
  balancers: Map<string, BalancerFacts>;
  passes: PassFact[];
  restrictions: RestrictionFact[];
  balancerAccess: BalancerAccessFact[];
  redirects: RedirectFact[];
  hsts?: { maxAge: number; includeSubdomains: boolean; d: ConfDirective };
  /** ProxyTimeout, else Timeout: the reply timeout of members without `timeout=`. */
  proxyTimeout?: { seconds: number; d: ConfDirective };
  timeout?: { seconds: number; d: ConfDirective };
  /** ProxyIOBufferSize: the AJP packet size of members without `iobuffersize=`. */
  ioBufferSize?: { bytes: number; d: ConfDirective };
}

interface Container {
  kind: "location" | "proxy-path" | "balancer" | "other";
  prefix?: string;
  balancer?: string;
  section: ConfSection;
  access: ConfDirective[];
  handler?: ConfDirective;
}

interface Ctx {
  container?: Container;
  /** Set inside a block httpd 2.4 skips: why. */
  inactive?: string;
}

const DEFAULT_PORT: Record<string, number> = { ajp: 8009, http: 80, ws: 80, https: 443, wss: 443 };

/** A member or ProxyPass URL: `scheme://host[:port][/path]`. */
export function parseUrl(s: string): { url: MemberUrl; path: string } | undefined {
  const m = /^([a-z][a-z0-9+.-]*):\/\/(\[[0-9a-fA-F:.]+\]|[^/:[\]]+)(?::(\d{1,5}))?(\/.*)?$/i.exec(s);
  if (!m) return undefined;
  const scheme = m[1]!.toLowerCase();
  const host = m[2]!.replace(/^\[(.*)\]$/, "$1");
  const port = m[3] ? Number(m[3]) : DEFAULT_PORT[scheme];
  if (port === undefined || port < 1 || port > 65535) return undefined;
  return { url: { scheme, host, port, hostPort: `${host.includes(":") ? `[${host}]` : host}:${port}` }, path: m[4] ?? "" };
}

function keyValues(words: readonly string[]): { params: Param[]; bad: string[] } {
  const params: Param[] = [];
  const bad: string[] = [];
  for (const w of words) {
    const i = w.indexOf("=");
    if (i <= 0) bad.push(w);
    else params.push({ key: w.slice(0, i).toLowerCase(), value: w.slice(i + 1) });
  }
  return { params, bad };
}

/** Directives oxedge does on its own or that mean nothing behind the edge, with what oxedge does instead. */
const INSTEAD: Record<string, string> = {
  proxystatus: "the bridge's admin API shows every member's state (GET /status on admin_listen)",
  rewriteengine: "its rules are listed one by one",
  rewritebase: "its rules are listed one by one",
  rewriteoptions: "its rules are listed one by one",
  servername: "the host the worker serves: its route or custom domain in wrangler.toml (routes = [{ pattern = \"host/*\", … }])",
  serveralias: "the host the worker serves: its route or custom domain in wrangler.toml",
  serveradmin: "no error pages with an address: oxedge's error answers are short and name a request id",
  documentroot: "the static GUI is the worker's assets (public/), served with its own expiry headers",
  directoryindex: "the static GUI is the worker's assets (public/)",
  options: "the static GUI is the worker's assets (public/)",
  allowoverride: "the static GUI is the worker's assets (public/)",
  addtype: "the static GUI is the worker's assets (public/); Cloudflare sets the types",
  addcharset: "the static GUI is the worker's assets (public/)",
  adddefaultcharset: "the static GUI is the worker's assets (public/)",
  errorlog: "the bridge logs to stderr, one line per error; the worker to Cloudflare's logs",
  customlog: "the bridge logs one line per request with access_log = true",
  transferlog: "the bridge logs one line per request with access_log = true",
  logformat: "the bridge's log lines have their own format",
  loglevel: "the bridge always logs errors",
  loadmodule: "nothing to load",
  loadfile: "nothing to load",
  listen: "the worker takes the public traffic; the bridge listens on its own address (listen)",
  namevirtualhost: "the worker takes the public traffic",
  keepalive: "browsers keep their connections to Cloudflare; the bridge keeps the worker's with limits.keepalive_timeout",
  keepalivetimeout: "browsers keep their connections to Cloudflare; the bridge keeps the worker's with limits.keepalive_timeout",
  maxkeepaliverequests: "browsers keep their connections to Cloudflare",
  expiresactive: "the worker sets the static GUI's expiry: HTML no-cache, fingerprinted files a year, others STATIC_MAX_AGE",
  expiresbytype: "the worker sets the static GUI's expiry: HTML no-cache, fingerprinted files a year, others STATIC_MAX_AGE",
  expiresdefault: "the worker sets the static GUI's expiry: HTML no-cache, fingerprinted files a year, others STATIC_MAX_AGE",
  addoutputfilterbytype: "Cloudflare compresses at the edge",
  addoutputfilter: "Cloudflare compresses at the edge",
  setoutputfilter: "Cloudflare compresses at the edge",
  deflatecompressionlevel: "Cloudflare compresses at the edge",
  browsermatch: "Cloudflare compresses at the edge",
  balancerpersist: "admin API changes live in memory; the config file is the truth after a restart",
  proxyvia: "the bridge adds no Via header",
  proxyaddheaders: "the bridge sets X-Forwarded-For, -Proto, -Host and -Port on every request, replacing what the request carried",
};

/** Directives known and not expressible, with why. */
const UNTRANSLATED: Record<string, string> = {
  include: "included files are not read: import each of them, and merge",
  includeoptional: "included files are not read: import each of them, and merge",
  proxypassmatch: "oxedge forwards by path prefix; a regular expression cannot be a prefix rule",
  proxyerroroverride: "the nodes' error pages reach the client as they are",
  proxybadheader: "the bridge refuses a node's malformed headers (502)",
  proxymaxforwards: "the bridge does not count Max-Forwards",
  proxyremote: "the bridge reaches the nodes directly",
  proxyremotematch: "the bridge reaches the nodes directly",
  balancergrowth: "members are the config's; the admin API changes them, it does not add new ones",
  balancerinherit: "one bridge config, nothing to inherit",
  proxypassinherit: "one bridge config, nothing to inherit",
  alias: "the static GUI is the worker's assets (public/), by path as they lie",
  aliasmatch: "the static GUI is the worker's assets (public/), by path as they lie",
  scriptalias: "the edge runs no CGI",
  authtype: "oxedge has no user authentication in front of the nodes",
  authname: "oxedge has no user authentication in front of the nodes",
  authuserfile: "oxedge has no user authentication in front of the nodes",
};

export function collectFacts(nodes: readonly ConfNode[], report: Report): Facts {
  const facts: Facts = { balancers: new Map(), passes: [], restrictions: [], balancerAccess: [], redirects: [] };

  const balancer = (name: string, at: { line: number; lastLine: number }, implicit = false): BalancerFacts => {
    let b = facts.balancers.get(name);
    if (!b) facts.balancers.set(name, (b = { name, at, members: [], settings: [], implicit }));
    return b;
  };

  function walk(list: readonly ConfNode[], ctx: Ctx): void {
    let conds: ConfDirective[] = [];
    for (const n of list) {
      if (n.type === "section") section(n, ctx);
      else if (n.key === "rewritecond") {
        if (ctx.inactive) report.add("instead", n, showDirective(n), ctx.inactive);
        else conds.push(n);
      } else if (n.key === "rewriterule" && !ctx.inactive) {
        rewriteRule(n, conds);
        conds = [];
      } else directive(n, ctx);
    }
    for (const c of conds) report.add("untranslated", c, showDirective(c), "no RewriteRule follows it");
  }

  function section(s: ConfSection, ctx: Ctx): void {
    const what = showDirective(s);
    const arg = s.args[0] ?? "";
    switch (s.key) {
      case "ifmodule":
        if (arg.startsWith("!")) return walk(s.children, { ...ctx, inactive: ctx.inactive ?? `inside ${what}, which httpd 2.4 with ${arg.slice(1)} loaded skips` });
        return walk(s.children, ctx);
      case "ifversion":
        if (!versionApplies(s.args)) return walk(s.children, { ...ctx, inactive: ctx.inactive ?? `inside ${what}, which httpd 2.4 skips` });
        return walk(s.children, ctx);
      case "ifdefine":
      case "virtualhost":
        return walk(s.children, ctx);
      case "proxy": {
        if (ctx.inactive) return inactiveSection(s, ctx);
        if (/^balancer:\/\//i.test(arg)) {
          const name = balancerName(arg);
          balancer(name, { line: s.line, lastLine: s.lastLine }).at = { line: s.line, lastLine: s.lastLine };
          return container(s, { kind: "balancer", balancer: name, section: s, access: [] });
        }
        if (arg.startsWith("/")) return container(s, { kind: "proxy-path", prefix: arg, section: s, access: [] });
        if (arg === "*") {
          report.add("instead", s, what, "oxedge is never a forward proxy: who may use one does not arise");
          return;
        }
        report.add("untranslated", s, what, "settings for a single node URL: give them on the BalancerMember line");
        return;
      }
      case "location":
      case "locationmatch": {
        if (ctx.inactive) return inactiveSection(s, ctx);
        const regex = s.key === "locationmatch" || arg === "~";
        const pattern = s.key === "location" && arg === "~" ? (s.args[1] ?? "") : arg;
        const prefix = regex ? literalPrefix(pattern) : pattern;
        if (prefix === undefined) {
          report.add("untranslated", s, what, "a regular expression that is not a plain path prefix: oxedge restricts and forwards by prefix");
          return;
        }
        return container(s, { kind: "location", prefix, section: s, access: [] });
      }
      case "directory":
      case "directorymatch":
      case "files":
      case "filesmatch":
        report.add("instead", s, what, "the static GUI is the worker's assets (public/), served with its own expiry headers");
        return;
      case "requireall":
      case "requireany":
      case "requirenone":
        if (ctx.container) {
          report.add("untranslated", s, what, `a ${s.name} block cannot be expressed: oxedge keeps one allow-list per path; the path is refused to everyone not allowed by the other lines`);
          // Counted as denying everyone it would have let in: never looser than httpd.
          ctx.container.access.push({ type: "directive", name: "Require", key: "require", args: ["all", "denied"], line: s.line, lastLine: s.lastLine });
        } else report.add("untranslated", s, what, "outside a <Location>: not translated");
        return;
      default:
        report.add("untranslated", s, what, "a section the importer does not know");
    }
  }

  function inactiveSection(s: ConfSection, ctx: Ctx): void {
    report.add("instead", s, showDirective(s), ctx.inactive!);
  }

  function container(s: ConfSection, c: Container): void {
    walk(s.children, { container: c });
    const what = showDirective(s);
    if (c.handler && /^balancer-manager$/i.test(c.handler.args[0] ?? "")) {
      report.add("instead", s, what, "the bridge's admin API on a listener of its own (admin_listen, admin_token_env: README, Admin API); left unset, as it needs an address");
      return;
    }
    if (c.access.length === 0) return;
    const result = evaluateAccess(c.access);
    for (const p of result.problems) report.add("untranslated", { line: p.line }, p.text, p.reason);
    if (c.kind === "balancer") facts.balancerAccess.push({ balancer: c.balancer!, at: { line: s.line, lastLine: s.lastLine }, what, result });
    else facts.restrictions.push({ prefix: c.prefix!, at: { line: s.line, lastLine: s.lastLine }, what, result });
  }

  function directive(d: ConfDirective, ctx: Ctx): void {
    const what = showDirective(d);
    if (isAccessDirective(d)) {
      if (ctx.container) ctx.container.access.push(d);
      else if (ctx.inactive) report.add("instead", d, what, ctx.inactive);
      else report.add("untranslated", d, what, "access control outside a <Location> or <Proxy> section: not translated");
      return;
    }
    if (ctx.inactive) {
      report.add("instead", d, what, ctx.inactive);
      return;
    }
    const arg = d.args[0] ?? "";
    switch (d.key) {
      case "proxyrequests":
        if (/^off$/i.test(arg)) report.add("instead", d, what, "oxedge is never a forward proxy: the worker forwards only the path map's prefixes");
        else report.add("untranslated", d, what, "oxedge is no forward proxy");
        return;
      case "proxypreservehost":
        if (/^on$/i.test(arg)) report.add("instead", d, what, "the bridge always passes the Host the client sent (and X-Forwarded-Host)");
        else report.add("untranslated", d, what, "the bridge always passes the Host the client sent; the nodes' own host name is never sent");
        return;
      case "proxytimeout":
      case "timeout": {
        const s = parseDuration(arg, "s");
        if (s === undefined || s <= 0) report.add("untranslated", d, what, "expected seconds");
        else if (d.key === "proxytimeout") facts.proxyTimeout = { seconds: s, d };
        else facts.timeout = { seconds: s, d };
        return;
      }
      case "proxyiobuffersize": {
        const n = Number(arg);
        if (!Number.isInteger(n)) report.add("untranslated", d, what, "expected bytes");
        else facts.ioBufferSize = { bytes: n, d };
        return;
      }
      case "balancermember":
        return balancerMember(d, ctx);
      case "proxyset":
        return proxySet(d, ctx);
      case "proxypass":
        return proxyPass(d, ctx);
      case "proxypassreverse":
      case "proxypassreversecookiepath":
      case "proxypassreversecookiedomain":
        return passReverse(d, ctx);
      case "setenv":
        return setEnv(d);
      case "sethandler":
        if (ctx.container) ctx.container.handler = d;
        if (/^balancer-manager$/i.test(arg)) return; // said with its <Location>
        report.add("untranslated", d, what, /^server-status$/i.test(arg) ? "mod_status has no counterpart; the bridge's admin API shows the members" : "no handlers at the edge");
        return;
      case "redirect":
      case "redirectpermanent":
      case "redirecttemp":
      case "redirectmatch":
        return redirect(d);
      case "header":
        return header(d);
      case "requestheader":
        if (/^x-(forwarded-(for|proto|host|port|server)|real-ip)$/i.test(d.args[1] ?? "")) {
          report.add("instead", d, what, "the bridge sets X-Forwarded-For, -Proto, -Host and -Port on every request, replacing what the request carried");
        } else report.add("untranslated", d, what, "oxedge passes the client's request headers on as they are (hop-by-hop ones aside); it sets no others");
        return;
    }
    if (d.key.startsWith("sslproxy")) {
      report.add("untranslated", d, what, "the bridge speaks plain AJP or HTTP to the nodes on the backend LAN; no TLS to members");
      return;
    }
    if (d.key.startsWith("ssl")) {
      report.add("instead", d, what, "TLS ends at Cloudflare's edge, with the zone's certificate");
      return;
    }
    if (INSTEAD[d.key]) report.add("instead", d, what, INSTEAD[d.key]!);
    else if (UNTRANSLATED[d.key]) report.add("untranslated", d, what, UNTRANSLATED[d.key]!);
    else report.add("untranslated", d, what, "a directive the importer does not know");
  }

  function balancerMember(d: ConfDirective, ctx: Ctx): void {
    let words = d.args;
    let name: string | undefined;
    if (ctx.container?.kind === "balancer") name = ctx.container.balancer;
    else if (/^balancer:\/\//i.test(words[0] ?? "")) {
      name = balancerName(words[0]!);
      words = words.slice(1);
    }
    if (!name) {
      report.add("untranslated", d, showDirective(d), "outside <Proxy balancer://…> and naming no balancer");
      return;
    }
    const u = parseUrl(words[0] ?? "");
    if (!u) {
      report.add("untranslated", d, showDirective(d), `expected a node URL like ajp://host:port, not ${JSON.stringify(words[0] ?? "")}`);
      return;
    }
    if (!["ajp", "http", "ws"].includes(u.url.scheme)) {
      report.add("untranslated", d, showDirective(d), `${u.url.scheme}:// members: the bridge reaches nodes over ajp:// or http:// (ws:// becomes http://)`);
      return;
    }
    const kv = keyValues(words.slice(1));
    for (const w of kv.bad) report.add("untranslated", d, showDirective(d), `${JSON.stringify(w)} is not key=value`);
    balancer(name, { line: d.line, lastLine: d.lastLine }).members.push({ d, balancer: name, url: u.url, params: kv.params });
  }

  function proxySet(d: ConfDirective, ctx: Ctx): void {
    let words = d.args;
    let name: string | undefined;
    if (ctx.container?.kind === "balancer") name = ctx.container.balancer;
    else if (/^balancer:\/\//i.test(words[0] ?? "")) {
      name = balancerName(words[0]!);
      words = words.slice(1);
    }
    if (!name) {
      report.add("untranslated", d, showDirective(d), "sets a single node's parameters: give them on its BalancerMember line");
      return;
    }
    const kv = keyValues(words);
    for (const w of kv.bad) report.add("untranslated", d, showDirective(d), `${JSON.stringify(w)} is not key=value`);
    const b = balancer(name, { line: d.line, lastLine: d.lastLine });
    for (const p of kv.params) b.settings.push({ d, key: p.key, value: p.value });
  }

  function proxyPass(d: ConfDirective, ctx: Ctx): void {
    const what = showDirective(d);
    const c = ctx.container;
    let prefix: string | undefined;
    let rest = d.args;
    if (c && (c.kind === "location" || c.kind === "proxy-path")) prefix = c.prefix;
    else if (c) {
      report.add("untranslated", d, what, "a ProxyPass inside a <Proxy balancer://…> section maps nothing");
      return;
    } else {
      prefix = rest[0];
      rest = rest.slice(1);
    }
    const target = rest[0];
    if (!prefix || !target) {
      report.add("untranslated", d, what, "expected ProxyPass PATH URL");
      return;
    }
    const kv = keyValues(rest.slice(1));
    for (const w of kv.bad) report.add("untranslated", d, what, `${JSON.stringify(w)} is not key=value`);
    if (target === "!") {
      facts.passes.push({ d, prefix, target: "exclude", upgrade: false, inSection: !!c });
      return;
    }
    let upgrade = false;
    const params: Param[] = [];
    for (const p of kv.params) {
      if (p.key === "upgrade") {
        if (/^websocket$/i.test(p.value)) upgrade = true;
        else report.add("untranslated", d, what, `upgrade=${p.value}: only WebSocket upgrades are tunnelled`);
      } else params.push(p);
    }
    if (/^balancer:\/\//i.test(target)) {
      const m = /^balancer:\/\/([^/]+)(\/.*)?$/i.exec(target)!;
      const name = m[1]!.toLowerCase();
      // Keys on a ProxyPass to a balancer are the balancer's, as in ProxySet.
      const b = balancer(name, { line: d.line, lastLine: d.lastLine });
      for (const p of params) b.settings.push({ d, key: p.key, value: p.value });
      facts.passes.push({ d, prefix, target: { balancer: name, path: m[2] ?? "" }, upgrade, inSection: !!c });
      return;
    }
    const u = parseUrl(target);
    if (!u || !["ajp", "http", "ws"].includes(u.url.scheme)) {
      report.add("untranslated", d, what, `${JSON.stringify(target)}: the bridge forwards to ajp://, http:// or ws:// nodes (or a balancer://)`);
      return;
    }
    // A ProxyPass straight to one node: a balancer of that node alone, its keys the member's.
    const name = `${u.url.scheme}://${u.url.hostPort}`;
    const b = balancer(name, { line: d.line, lastLine: d.lastLine }, true);
    const first = b.members[0];
    if (!first) b.members.push({ d, balancer: name, url: u.url, params });
    else if (params.length && JSON.stringify(params) !== JSON.stringify(first.params)) {
      report.add("untranslated", d, what, `the node's parameters are those of its first ProxyPass (${lineRef(first.d.line)}); these differ`);
    }
    facts.passes.push({ d, prefix, target: { balancer: name, path: u.path }, upgrade, inSection: !!c });
  }

  function passReverse(d: ConfDirective, ctx: Ctx): void {
    const what = showDirective(d);
    const inSection = ctx.container && (ctx.container.kind === "location" || ctx.container.kind === "proxy-path");
    const path = inSection ? ctx.container!.prefix : d.args[0];
    const url = inSection ? d.args[0] : d.args[1];
    if (d.key === "proxypassreverse" && path && url) {
      const target = /^[a-z]+:\/\/[^/]*(\/.*)?$/i.exec(url)?.[1] ?? "";
      if (target.replace(/\/$/, "") === path.replace(/\/$/, "")) {
        report.add("instead", d, what, "not needed: the nodes see the client's Host (and X-Forwarded-Host), so their redirects already name the public host and path");
        return;
      }
      report.add("untranslated", d, what, `the bridge does not rewrite the nodes' Location headers from ${target || "/"} back to ${path}`);
      return;
    }
    report.add("untranslated", d, what, "the bridge passes the nodes' cookies on as they are");
  }

  function setEnv(d: ConfDirective): void {
    const what = showDirective(d);
    const name = (d.args[0] ?? "").toLowerCase();
    if (name === "proxy-initial-not-pooled") {
      report.add("instead", d, what, "built in: a request moves to another node only when no connection could be made; one whose bytes reached a node is never sent again");
    } else if (name === "proxy-sendchunked") {
      report.add("instead", d, what, "built in: the bridge streams request bodies as they arrive, chunked when their length is unknown");
    } else if (name === "proxy-nokeepalive" || name === "force-proxy-request-1.0") {
      report.add("untranslated", d, what, "the bridge keeps connections to the nodes alive (ttl, max)");
    } else report.add("untranslated", d, what, "environment variables have no meaning at the edge");
  }

  function rewriteRule(d: ConfDirective, conds: ConfDirective[]): void {
    const [pattern = "", subst = "", flagWord] = d.args;
    const flags = parseFlags(flagWord);
    const what = showDirective(d);
    const condsText = () => conds.map((c) => showDirective(c)).join("; ");
    if (flags.redirect !== undefined && /^https:\/\//i.test(subst)) {
      report.add("instead", d, what, "built in: the worker redirects every plain-HTTP request to https (301 for GET and HEAD, 308 otherwise) and sends HSTS");
      for (const c of conds) report.add("instead", c, showDirective(c), `the condition of the https redirect on ${lineRef(d.line)}`);
      return;
    }
    const untranslated = (why: string) => {
      report.add("untranslated", d, what, why);
      for (const c of conds) report.add("untranslated", c, showDirective(c), `a condition of the RewriteRule on ${lineRef(d.line)}`);
    };
    if (conds.some((c) => /%\{HTTP_USER_AGENT\}/i.test(c.args[0] ?? ""))) return untranslated("routes by User-Agent: oxedge decides by path alone");
    if (conds.length) return untranslated(`conditions (${condsText()}) cannot be expressed: oxedge decides by path alone`);
    if (flags.redirect === undefined) return untranslated("an internal rewrite by pattern: oxedge's only rewrite replaces a forwarded prefix (ProxyPass /appsuite/api balancer://…/ajax)");
    const prefix = literalPrefix(pattern);
    const to = sameHostPath(subst);
    if (prefix === undefined) return untranslated("the pattern is not a plain path prefix: oxedge redirects by prefix");
    if (to === undefined || /\$\d/.test(subst)) return untranslated("the target is not a fixed path on this host: oxedge redirects a prefix to one path");
    facts.redirects.push({ prefix, to, status: flags.redirect, d });
  }

  function redirect(d: ConfDirective): void {
    const what = showDirective(d);
    let args = d.args;
    let status = d.key === "redirectpermanent" ? 301 : 302;
    const s = (args[0] ?? "").toLowerCase();
    if (d.key === "redirect" || d.key === "redirectmatch") {
      const named: Record<string, number> = { permanent: 301, temp: 302, seeother: 303, gone: 410 };
      if (named[s] !== undefined || /^\d{3}$/.test(s)) {
        status = named[s] ?? Number(s);
        args = args.slice(1);
      }
    }
    const [from = "", to = ""] = args;
    if (/^https:\/\//i.test(to) && (from === "/" || /^\^?\/?\(\.\*\)\$?$/.test(from))) {
      report.add("instead", d, what, "built in: the worker redirects every plain-HTTP request to https (301 for GET and HEAD, 308 otherwise) and sends HSTS");
      return;
    }
    if (d.key === "redirectmatch") {
      report.add("untranslated", d, what, "a redirect by regular expression: oxedge redirects by prefix");
      return;
    }
    const path = sameHostPath(to);
    if (path === undefined || status < 300 || status > 399) {
      report.add("untranslated", d, what, "not a redirect to a path on this host");
      return;
    }
    facts.redirects.push({ prefix: from, to: path, status, d, note: "httpd appended the rest of the path to the target, oxedge sends every path below to the target itself" });
  }

  function header(d: ConfDirective): void {
    const what = showDirective(d);
    const words = /^(always|onsuccess)$/i.test(d.args[0] ?? "") ? d.args.slice(1) : d.args;
    const [action = "", name = "", value = ""] = words;
    if (/^strict-transport-security$/i.test(name) && /^(set|add|append|merge)$/i.test(action)) {
      const m = /max-age\s*=\s*"?(\d+)"?/i.exec(value);
      if (m) {
        facts.hsts = { maxAge: Number(m[1]), includeSubdomains: /includesubdomains/i.test(value), d };
        return;
      }
    }
    report.add("untranslated", d, what, "oxedge passes the nodes' response headers on as they are and adds only HSTS (HSTS_MAX_AGE)");
  }

  walk(nodes, {});
  return facts;
}

function balancerName(url: string): string {
  // httpd compares balancer names case-insensitively.
  return url.replace(/^balancer:\/\//i, "").replace(/\/.*$/, "").toLowerCase();
}

/** `<IfVersion>` against httpd 2.4 (any 2.4.x): true when the block applies. */
function versionApplies(args: readonly string[]): boolean {
  let [op, v] = args.length >= 2 ? [args[0]!, args[1]!] : ["=", args[0] ?? ""];
  const neg = op.startsWith("!");
  if (neg) op = op.slice(1);
  const want = v.split(".").map(Number);
  if (want.some((n) => !Number.isInteger(n))) return true; // a regex form: assume it applies
  const have = [2, 4, want.length > 2 ? want[2]! : 0];
  const cmp = (() => {
    for (let i = 0; i < Math.min(3, want.length); i++) if (have[i] !== want[i]) return have[i]! < want[i]! ? -1 : 1;
    // 2.4 against 2.4.x: any 2.4 release
    return 0;
  })();
  const r = op === "<" ? cmp < 0 : op === "<=" ? cmp <= 0 : op === ">" ? cmp > 0 : op === ">=" ? cmp >= 0 : cmp === 0;
  return neg ? !r : r;
}

/** Seconds from an httpd time value: a number with an optional unit (ms, s, mi, h); `unit` is the directive's default. */
export function parseDuration(v: string, unit: "s" | "ms"): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|mi|h)?$/i.exec(v.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const u = (m[2] ?? unit).toLowerCase();
  return u === "ms" ? n / 1000 : u === "mi" ? n * 60 : u === "h" ? n * 3600 : n;
}

/** RewriteRule flags: the redirect status if it redirects. */
function parseFlags(word: string | undefined): { redirect?: number } {
  if (!word || !/^\[.*\]$/.test(word)) return {};
  for (const f of word.slice(1, -1).split(",")) {
    const m = /^\s*(R|redirect)(?:=(\d{3}|permanent|temp|seeother))?\s*$/i.exec(f);
    if (m) {
      const v = m[2]?.toLowerCase();
      return { redirect: v === undefined || v === "temp" ? 302 : v === "permanent" ? 301 : v === "seeother" ? 303 : Number(v) };
    }
  }
  return {};
}

/**
 * The path a regular expression stands for when it is a plain prefix:
 * `^/\.well-known/caldav`, `^/servlet/axis2(/|$)`, `^/?\.well-known/carddav/?$`.
 * Undefined for anything else.
 */
export function literalPrefix(pattern: string): string | undefined {
  const m = /^\^(\/\??)?((?:[A-Za-z0-9_~!$&'*+,;=:@-]|\\[.\-/]|\.|\/)+?)(\/\?|\(\/\|\$\)|\(\/\.\*\)\?|\/\.\*|\.\*)?\$?$/.exec(pattern);
  if (!m) return undefined;
  // A bare "." in a pattern matches any character; as a literal it is what the author meant.
  const body = m[2]!.replace(/\\(.)/g, "$1");
  return `/${body.replace(/^\//, "")}`;
}

/** A redirect target on this host: a path, or https://%{HTTP_HOST}… / %{SERVER_NAME}…; undefined for another host. */
function sameHostPath(target: string): string | undefined {
  if (target.startsWith("/")) return target;
  const m = /^https?:\/\/%\{(HTTP_HOST|SERVER_NAME)\}(\/.*)$/i.exec(target);
  return m ? m[2] : undefined;
}
