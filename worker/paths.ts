/**
 * Which requests go to the cluster, and cache policy for everything else
 * (the static GUI, served from Workers static assets).
 *
 * Cluster prefixes match the canonical decoded path on whole segments and
 * case-sensitively, as Tomcat's mapper does: `/ajaxfoo` and `/AJAX` are not
 * `/ajax`, and since the worker forwards the canonical path, Tomcat can't see
 * them as `/ajax` either.
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
import { underPrefix } from "./canonical.ts";
import type { AppEnv } from "./types.ts";

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

/** Cluster paths continue to the hand-off; everything else is a static asset. */
export const paths: MiddlewareHandler<AppEnv> = async (c, next) => {
  const canon = c.get("canon");
  if (isClusterPath(canon.decoded, c.get("config").clusterPrefixes)) return next();
  const assets = c.env.ASSETS;
  if (!assets) throw new OxError("not-found", "no ASSETS binding configured");
  // Serve what was judged: the canonical path, not the raw one.
  const query = c.get("query");
  const target = new URL(canon.path + (query ? `?${query}` : ""), new URL(c.req.url).origin);
  const res = await assets.fetch(new Request(target, c.req.raw));
  return withExpiry(res, canon.decoded, c.get("config").staticMaxAge);
};
