/**
 * What each request is, by the path map (common/path-map.ts, docs/paths.md):
 * forwarded to the cluster (rewritten first where the map says so), answered
 * with a redirect, or a static asset of the GUI, with cache policy.
 *
 * Cluster prefixes match the canonical decoded path on whole segments and
 * case-sensitively, as Tomcat's mapper does: `/ajaxfoo` and `/AJAX` are not
 * `/ajax`, and since the worker forwards the canonical path, Tomcat can't see
 * them as `/ajax` either. A rewrite (`/appsuite/api` → `/ajax`) replaces the
 * prefix of the canonical path here, before the hand-off signs it: the signed
 * target is exactly what the node gets.
 *
 * Expiry headers, in the spirit of mod_expires:
 * - HTML: `no-cache` (always revalidate; it names the versioned assets).
 * - Versioned assets: `public, max-age=31536000, immutable` + Expires. An asset
 *   is versioned when its path has a `v=…` segment (App Suite style
 *   `/appsuite/v=7.10.6-22.20240101/…`) or its file name carries a hex
 *   fingerprint of 8–64 digits (at least one 0-9) between `.`/`-` and `.`,
 *   e.g. `app.3f9a1c2e.js`, `logo-4f3c2a1b0d.svg`. Such a URL changes whenever
 *   the content does, so it can be cached forever.
 * - Other static types: `public, max-age=STATIC_MAX_AGE` + Expires.
 * Only successful and 304 responses get these; errors keep the asset server's.
 *
 * No compression here: Cloudflare compresses (gzip/brotli) at the edge based
 * on Accept-Encoding and content type, for assets and proxied responses alike.
 */
import type { MiddlewareHandler } from "hono";
import { OxError } from "../common/errors.ts";
import { REDIRECT_STATUS, type PathMap, type PathRule } from "../common/path-map.ts";
import { underPrefix } from "./canonical.ts";
import type { Config } from "./config.ts";
import type { AppEnv, Canon } from "./types.ts";

export const IMMUTABLE_MAX_AGE = 31536000;

export function isClusterPath(decodedPath: string, prefixes: readonly string[]): boolean {
  return prefixes.some((p) => underPrefix(decodedPath, p));
}

const VERSION_SEGMENT = /(?:^|\/)v=[^/]+\//;
const FINGERPRINT = /[.-](?=[0-9A-Fa-f]*[0-9])[0-9A-Fa-f]{8,64}\./;

export function isVersioned(decodedPath: string): boolean {
  if (VERSION_SEGMENT.test(decodedPath)) return true;
  return FINGERPRINT.test(decodedPath.slice(decodedPath.lastIndexOf("/") + 1));
}

export interface CachePolicy {
  cacheControl: string;
  /** Seconds for the Expires header; undefined = no Expires. */
  expiresIn?: number;
}

export function cachePolicy(decodedPath: string, contentType: string | null, staticMaxAge: number): CachePolicy {
  const type = (contentType ?? "").split(";")[0].trim().toLowerCase();
  // A 304 may come without Content-Type; then judge HTML by the path.
  const html = type ? type === "text/html" || type === "application/xhtml+xml" : /(?:\/|\.html?)$/i.test(decodedPath);
  if (html) return { cacheControl: "no-cache" };
  if (isVersioned(decodedPath)) {
    return { cacheControl: `public, max-age=${IMMUTABLE_MAX_AGE}, immutable`, expiresIn: IMMUTABLE_MAX_AGE };
  }
  return { cacheControl: `public, max-age=${staticMaxAge}`, expiresIn: staticMaxAge };
}

const CACHEABLE = new Set([200, 203, 204, 206, 304]);

export function withExpiry(res: Response, decodedPath: string, staticMaxAge: number, now = Date.now()): Response {
  // Always a fresh Response: the binding's headers are immutable, and later
  // middleware (HSTS, request id) must be able to add to them.
  const out = new Response(res.body, res);
  if (!CACHEABLE.has(res.status)) return out;
  const policy = cachePolicy(decodedPath, res.headers.get("content-type"), staticMaxAge);
  out.headers.set("cache-control", policy.cacheControl);
  if (policy.expiresIn !== undefined) out.headers.set("expires", new Date(now + policy.expiresIn * 1000).toUTCString());
  else out.headers.delete("expires");
  return out;
}

/**
 * For the hand-off: whether the prefix of `decodedPath` (canonical, after the
 * rewrite) accepts an Upgrade to WebSocket. Every other prefix must not be
 * upgraded: a node would hold such a connection with no reply timeout.
 */
export function isWebSocketPath(cfg: Config, decodedPath: string): boolean {
  return cfg.paths.route(decodedPath)?.websocket === true;
}

/** The canonical path as the node gets it: the rule's prefix replaced, in the encoded and the decoded form alike. */
export function rewriteCanon(map: PathMap, canon: Canon, rule: PathRule): Canon {
  // A rule prefix is canonical and escapes nothing, so the encoded path starts with it exactly
  // when the decoded one does, and the rest of both stays as it was.
  return { ...canon, path: map.rewrite(canon.path, rule), decoded: map.rewrite(canon.decoded, rule) };
}

/**
 * Mod_rewrite's `[R]` as OX's guide uses it for RFC 6764 discovery: an
 * absolute URL on the same origin, the query kept, any method.
 */
function redirectTo(requestUrl: string, target: string, query: string): Response {
  const location = new URL(requestUrl).origin + target + (query ? `?${query}` : "");
  return new Response(null, { status: REDIRECT_STATUS, headers: { location } });
}

/** Cluster paths continue to the hand-off (rewritten first); redirects end here; everything else is a static asset. */
export const paths: MiddlewareHandler<AppEnv> = async (c, next) => {
  const canon = c.get("canon");
  const rule = c.get("pathRule");
  if (rule?.redirect !== undefined) return redirectTo(c.req.url, rule.redirect, c.get("query"));
  if (rule?.cluster) {
    if (rule.rewrite !== undefined) c.set("canon", rewriteCanon(c.get("config").paths, canon, rule));
    return next();
  }
  const assets = c.env.ASSETS;
  if (!assets) throw new OxError("not-found", "no ASSETS binding configured");
  // Serve what was judged: the canonical path, not the raw one.
  const query = c.get("query");
  const target = new URL(canon.path + (query ? `?${query}` : ""), new URL(c.req.url).origin);
  const res = await assets.fetch(new Request(target, c.req.raw));
  return withExpiry(res, canon.decoded, c.get("config").staticMaxAge);
};
