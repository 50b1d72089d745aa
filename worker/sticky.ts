import { routeOf } from "../common/route.ts";

export { MAX_ROUTE_LENGTH, routeOf } from "../common/route.ts";

/**
 * Sticky route extraction. The worker only reads the route; which member it
 * names, and what to do if that member is down, is the bridge's business.
 *
 * Cookie rule = mod_proxy_balancer `get_cookie_param` (docs/balancer.md, Route from the session id):
 * name compared case-sensitively, it counts only at the start of the header or
 * after `;`, `,` or whitespace, optional whitespace, `=`, value up to the first
 * `;` or `,`, no trimming or un-quoting, first match wins.
 * Route rule = text after the FIRST `.`, and only if it can name a member
 * (common/route.ts); otherwise no route.
 *
 * Differences from the incumbent, on purpose:
 * - the path parameter `;jsessionid=` (lower case, as Java writes it) is
 *   honoured; httpd with `stickysession=JSESSIONID` never matched it.
 * - the order is cookie, then path parameter, then query parameter. The first
 *   source that yields a non-empty value decides, even if that value has no
 *   route (as in httpd, where a value without a route is "no sticky info").
 *
 * Pure: no I/O.
 */

export type RouteSource = "cookie" | "path" | "query" | "none";

export interface StickyInput {
  /** The merged Cookie header, or null. */
  cookie: string | null;
  /** The session path parameter value found by canonicalPath, if any. */
  pathSession?: string;
  /** The raw query string without `?`. */
  query: string;
}

export interface StickyOptions {
  /** Cookie names in the order they are tried. */
  cookies: readonly string[];
  /** Query parameter name carrying a session id; "" = don't look. */
  queryParam: string;
}


function isSpace(ch: string): boolean {
  // C isspace() in the "C" locale.
  return ch === " " || ch === "\t" || ch === "\n" || ch === "\v" || ch === "\f" || ch === "\r";
}

/** The value of cookie `name` by mod_proxy_balancer's rule, or undefined. */
export function cookieValue(header: string | null | undefined, name: string): string | undefined {
  if (!header || !name) return undefined;
  for (let at = header.indexOf(name); at >= 0; at = header.indexOf(name, at + 1)) {
    const before = at === 0 ? "" : header[at - 1];
    if (at !== 0 && before !== ";" && before !== "," && !isSpace(before)) continue;
    let i = at + name.length;
    while (i < header.length && isSpace(header[i])) i++;
    if (header[i] !== "=" || i + 1 >= header.length) continue;
    const rest = header.slice(i + 1);
    const semi = rest.indexOf(";");
    const cut = semi < 0 ? rest : rest.slice(0, semi);
    const comma = cut.indexOf(",");
    return comma < 0 ? cut : cut.slice(0, comma);
  }
  return undefined;
}

/** First value of query parameter `name`, compared and returned raw (session ids need no decoding). */
export function queryValue(query: string, name: string): string | undefined {
  if (!query || !name) return undefined;
  for (const part of query.split("&")) {
    const eq = part.indexOf("=");
    if (eq >= 0 && part.slice(0, eq) === name) return part.slice(eq + 1);
  }
  return undefined;
}

/**
 * The sticky route for a request, and where it came from.
 *
 * @example
 * stickyRoute({ cookie: "JSESSIONID=8a1f.OX2", query: "" }, { cookies: ["JSESSIONID"], queryParam: "jsessionid" })
 * // { route: "OX2", source: "cookie" }
 */
export function stickyRoute(input: StickyInput, opts: StickyOptions): { route: string; source: RouteSource } {
  for (const name of opts.cookies) {
    const v = cookieValue(input.cookie, name);
    if (v) return { route: routeOf(v), source: "cookie" };
  }
  if (input.pathSession) return { route: routeOf(input.pathSession), source: "path" };
  const q = queryValue(input.query, opts.queryParam);
  if (q) return { route: routeOf(q), source: "query" };
  return { route: "", source: "none" };
}
