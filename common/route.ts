/**
 * What a member route is, for both sides: the worker reads it from the
 * session id, the bridge's config, balancer and admin API accept it for a
 * member. One rule, so a route the bridge accepts is one the worker can
 * find in a cookie, and nothing else travels in the hand-off.
 *
 * A route is the text after the first "." of the session id
 * (docs/balancer.md, Route from the session id), so it has no "." itself; httpd caps it at 95
 * bytes. Letters, digits, "_", "-" and "~" are what OX's backendRoute and
 * Tomcat's jvmRoute use, and all of them survive a cookie, a path
 * parameter and a header unquoted.
 */
export const MAX_ROUTE_LENGTH = 95;

const ROUTE = /^[A-Za-z0-9_~-]+$/;

export const ROUTE_RULE = `a route is 1 to ${MAX_ROUTE_LENGTH} letters, digits, '_', '-' or '~' (no '.': it is the text after the first '.' of the session id)`;

/** Why `route` cannot be a member route, or undefined when it can. */
export function routeProblem(route: unknown): string | undefined {
  if (typeof route !== "string" || route.length === 0 || route.length > MAX_ROUTE_LENGTH || !ROUTE.test(route)) return ROUTE_RULE;
  return undefined;
}

/** The route of a session id: the text after its first "."; "" when there is none or it cannot name a member. */
export function routeOf(sessionId: string): string {
  const dot = sessionId.indexOf(".");
  if (dot < 0) return "";
  const route = sessionId.slice(dot + 1);
  return routeProblem(route) === undefined ? route : "";
}
