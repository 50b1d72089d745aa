/**
 * The provisioning API (OX SOAP under /servlet/axis2) is reachable only from
 * the allow-list. Replaces httpd's `<Location /servlet/axis2/services>` block,
 * which `;x=y` path parameters bypassed because Tomcat strips them and httpd
 * did not (docs/differences.md, Sessions and paths). Here the rule runs on the canonical path, i.e.
 * on exactly what Tomcat will see, so no spelling of the path gets around it.
 *
 * Matching is a plain string prefix on the decoded canonical path, like
 * httpd's <Location>, and ignores case: stricter than whole segments, so
 * `/servlet/axis2/servicesX` and `/servlet/AXIS2/services` are restricted too. Default prefix is the whole `/servlet/axis2` servlet,
 * not only `/services`: Axis2 finds the service with
 * `path.lastIndexOf("services/")` over the entire URI
 * (Utils.getServiceAndOperationPart), so `/servlet/axis2/x/services/OXUserService`
 * reaches the same service as `/servlet/axis2/services/OXUserService`.
 *
 * The client address is `CF-Connecting-IP`, which Cloudflare sets and a client
 * cannot override at the edge. Address and CIDR matching is `hono/ip-restriction`.
 */
import type { MiddlewareHandler } from "hono";
import { ipRestriction } from "hono/ip-restriction";
import { OxError } from "../common/errors.ts";
import type { Config } from "./config.ts";
import type { AppEnv } from "./types.ts";

/**
 * Case-insensitive on purpose, although Tomcat's mapper is case-sensitive:
 * not every OX node runs Tomcat's mapper (OX's own HTTP service maps
 * servlets), no legitimate client spells this path in other cases, and
 * refusing `/servlet/AXIS2/…` costs nothing.
 */
export function isRestricted(decodedPath: string, prefixes: readonly string[]): boolean {
  const lower = decodedPath.toLowerCase();
  return prefixes.some((p) => lower.startsWith(p.toLowerCase()));
}

export function clientIp(c: { req: { header(name: string): string | undefined } }): string | undefined {
  const ip = c.req.header("cf-connecting-ip")?.trim();
  return ip ? ip : undefined;
}

const guardCache = new WeakMap<Config, MiddlewareHandler>();

function guardFor(cfg: Config): MiddlewareHandler {
  let mw = guardCache.get(cfg);
  if (!mw) {
    const deny = (remote: { addr: string }) => {
      throw new OxError("forbidden", `provisioning path from ${remote.addr}`);
    };
    // ip-restriction treats an empty allowList as "allow all"; an empty
    // PROVISIONING_ALLOW means nobody, so say that with a deny-all rule.
    const rules = cfg.provisioningAllow.length > 0 ? { allowList: cfg.provisioningAllow } : { denyList: ["*"] };
    mw = ipRestriction((c) => clientIp(c) ?? "", rules, deny);
    guardCache.set(cfg, mw);
  }
  return mw;
}

export const access: MiddlewareHandler<AppEnv> = async (c, next) => {
  const cfg = c.get("config");
  if (!isRestricted(c.get("canon").decoded, cfg.provisioningPaths)) return next();
  if (!clientIp(c)) throw new OxError("forbidden", "provisioning path without CF-Connecting-IP");
  return guardFor(cfg)(c, next);
};
