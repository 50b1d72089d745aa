/**
 * Plain HTTP never reaches the cluster: it is redirected to https, and every
 * https response carries HSTS so browsers stop trying plain HTTP at all.
 *
 * The scheme comes from the request URL, never from a Host or X-Forwarded-Proto
 * header: the URL is what Cloudflare terminated, headers are what the client typed.
 */
import type { MiddlewareHandler } from "hono";
import { secureHeaders } from "hono/secure-headers";
import { OxError } from "../common/errors.ts";
import type { Config } from "./config.ts";
import type { AppEnv } from "./types.ts";

/**
 * 301 keeps GET/HEAD semantics; 308 because 301/302 let clients turn a POST
 * into a GET and drop the body (RFC 9110 §15.4.2), which would lose e.g. an
 * ActiveSync command.
 */
export function redirectStatus(method: string): 301 | 308 {
  return method === "GET" || method === "HEAD" ? 301 : 308;
}

/** Same host (with port, if any), path and query; only the scheme changes. */
export function httpsLocation(url: string): string {
  return "https:" + url.slice("http:".length);
}

const hstsCache = new WeakMap<Config, MiddlewareHandler>();

function hstsFor(cfg: Config): MiddlewareHandler {
  let mw = hstsCache.get(cfg);
  if (!mw) {
    // Only HSTS: the node sets its own framing/referrer/CSP policy for the
    // GUI, and overriding those at the edge would break OX features.
    mw = secureHeaders({
      strictTransportSecurity: `max-age=${cfg.hstsMaxAge}${cfg.hstsIncludeSubdomains ? "; includeSubDomains" : ""}`,
      crossOriginEmbedderPolicy: false,
      crossOriginResourcePolicy: false,
      crossOriginOpenerPolicy: false,
      originAgentCluster: false,
      referrerPolicy: false,
      xContentTypeOptions: false,
      xDnsPrefetchControl: false,
      xDownloadOptions: false,
      xFrameOptions: false,
      xPermittedCrossDomainPolicies: false,
      xXssProtection: false,
      removePoweredBy: false,
    });
    hstsCache.set(cfg, mw);
  }
  return mw;
}

/** http → https redirect; HSTS on https responses (including error responses). */
export const redirect: MiddlewareHandler<AppEnv> = async (c, next) => {
  const url = c.req.url;
  const protocol = new URL(url).protocol;
  if (protocol === "http:") {
    // No HSTS here: browsers ignore it over plain HTTP (RFC 6797 §8.1).
    return new Response(null, {
      status: redirectStatus(c.req.method),
      headers: { location: httpsLocation(url) },
    });
  }
  if (protocol !== "https:") throw new OxError("bad-request", `unsupported scheme ${protocol}`);
  return hstsFor(c.get("config"))(c, next);
};
