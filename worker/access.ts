/**
 * Internal paths are reachable only from their allow-lists: the provisioning
 * API (OX SOAP under /servlet/axis2, /webservices) and whatever else the path
 * map marks internal (common/path-map.ts, docs/paths.md). Replaces httpd's
 * `<Location /servlet/axis2/services>` blocks, which `;x=y` path parameters
 * bypassed because Tomcat strips them and httpd did not (docs/differences.md,
 * Sessions and paths). Here the rules run on the canonical path, i.e. on
 * exactly what Tomcat will see, so no spelling of the path gets around them.
 *
 * Matching is a plain string prefix on the decoded canonical path, like
 * httpd's <Location>, and ignores case: stricter than whole segments, so
 * `/servlet/axis2/servicesX` and `/servlet/AXIS2/services` are restricted too.
 * The ox6 default is the whole `/servlet/axis2` servlet, not only `/services`:
 * Axis2 finds the service with `path.lastIndexOf("services/")` over the
 * entire URI (Utils.getServiceAndOperationPart), so
 * `/servlet/axis2/x/services/OXUserService` reaches the same service as
 * `/servlet/axis2/services/OXUserService`. Every internal prefix a path lies
 * under applies, each with its own allow-list; a rewritten path is judged as
 * the client sent it and as the node will see it.
 *
 * The client address is `CF-Connecting-IP`, which Cloudflare sets and a client
 * cannot override at the edge. Address and CIDR matching is `hono/ip-restriction`.
 */
import type { Context, MiddlewareHandler, Next } from "hono";
import { ipRestriction } from "hono/ip-restriction";
import { OxError } from "../common/errors.ts";
import type { PathRule } from "../common/path-map.ts";
import type { AppEnv } from "./types.ts";

/**
 * Case-insensitive on purpose, although Tomcat's mapper is case-sensitive:
 * not every OX node runs Tomcat's mapper (OX's own HTTP service maps
 * servlets), no legitimate client spells this path in other cases, and
 * refusing `/servlet/AXIS2/…` costs nothing. PathMap.internal applies the
 * same rule to the map's internal prefixes.
 */
export function isRestricted(decodedPath: string, prefixes: readonly string[]): boolean {
  const lower = decodedPath.toLowerCase();
  return prefixes.some((p) => lower.startsWith(p.toLowerCase()));
}

export function clientIp(c: { req: { header(name: string): string | undefined } }): string | undefined {
  const ip = c.req.header("cf-connecting-ip")?.trim();
  return ip ? ip : undefined;
}

const guardCache = new WeakMap<PathRule, MiddlewareHandler>();

function guardFor(rule: PathRule): MiddlewareHandler {
  let mw = guardCache.get(rule);
  if (!mw) {
    const deny = (remote: { addr: string }) => {
      throw new OxError("forbidden", `internal path ${rule.prefix} from ${remote.addr}`);
    };
    // ip-restriction treats an empty allowList as "allow all"; an empty
    // allow-list means nobody, so say that with a deny-all rule.
    const rules = rule.allow.length > 0 ? { allowList: [...rule.allow] } : { denyList: ["*"] };
    mw = ipRestriction((c) => clientIp(c) ?? "", rules, deny);
    guardCache.set(rule, mw);
  }
  return mw;
}

/** Each rule's guard in turn; the request goes on only past all of them. */
function pass(c: Context<AppEnv>, rules: readonly PathRule[], i: number, next: Next): Promise<Response | void> {
  if (i === rules.length) return next();
  return guardFor(rules[i])(c, async () => {
    await pass(c, rules, i + 1, next);
  });
}

export const access: MiddlewareHandler<AppEnv> = async (c, next) => {
  const cfg = c.get("config");
  const decoded = c.get("canon").decoded;
  let rules = cfg.paths.internal(decoded);
  const rule = c.get("pathRule");
  if (rule?.rewrite !== undefined) {
    const target = cfg.paths.internal(cfg.paths.rewrite(decoded, rule));
    if (target.length > 0) rules = [...rules, ...target];
  }
  if (rules.length === 0) return next();
  if (!clientIp(c)) throw new OxError("forbidden", `internal path ${rules[0].prefix} without CF-Connecting-IP`);
  return pass(c, rules, 0, next);
};
