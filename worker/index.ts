/**
 * oxedge worker: the edge policy in front of the OX cluster.
 *
 * Order matters and is the point of this file: nothing looks at the path
 * before it is canonical, nothing is forwarded before access and routing were
 * decided on that canonical path.
 *
 *   log line → config → request id → redirect/HSTS → canonical path → access
 *   → paths (static assets end here) → sticky route → hand-off to a bridge
 *
 * The log line wraps everything, so a request refused for a bad config is
 * logged too.
 */
import { Hono, type MiddlewareHandler } from "hono";
import { requestId } from "hono/request-id";
import { OxError } from "../common/errors.ts";
import { access } from "./access.ts";
import { canonicalPath, splitRawUrl } from "./canonical.ts";
import { configFor } from "./config.ts";
import { handoff } from "./handoff.ts";
import { paths } from "./paths.ts";
import { redirect } from "./redirect.ts";
import { requestLog } from "./request-log.ts";
import { errorResponse } from "./respond.ts";
import { stickyRoute } from "./sticky.ts";
import type { AppEnv } from "./types.ts";

const config: MiddlewareHandler<AppEnv> = async (c, next) => {
  c.set("config", configFor(c.env));
  await next();
};

/**
 * Our own id, never the client's X-Request-Id (headerName ""): it goes into
 * the bridge's and the nodes' logs, and a client must not be able to make
 * its requests look like someone else's there.
 */
const requestIdMw = requestId({ headerName: "" });

const echoRequestId: MiddlewareHandler<AppEnv> = async (c, next) => {
  await next();
  c.res.headers.set("x-request-id", c.get("requestId"));
};

const canonical: MiddlewareHandler<AppEnv> = async (c, next) => {
  // The raw URL string, not c.req.path or new URL(): both have already
  // decoded or normalised parts we need to judge ourselves.
  const { path, query } = splitRawUrl(c.req.url);
  const canon = canonicalPath(path, c.get("config").stickyPathParam);
  if (!canon.ok) throw new OxError("bad-path", canon.reason);
  c.set("canon", canon);
  c.set("pathRule", c.get("config").paths.route(canon.decoded));
  c.set("query", query);
  await next();
};

const sticky: MiddlewareHandler<AppEnv> = async (c, next) => {
  const cfg = c.get("config");
  const { route } = stickyRoute(
    { cookie: c.req.header("cookie") ?? null, pathSession: c.get("canon").session, query: c.get("query") },
    { cookies: cfg.stickyCookies, queryParam: cfg.stickyQueryParam },
  );
  c.set("route", route);
  await next();
};

const app = new Hono<AppEnv>();

app.use(requestLog);
app.use(config);
app.use(requestIdMw);
app.use(echoRequestId);
app.use(redirect);
app.use(canonical);
app.use(access);
app.use(paths);
app.use(sticky);
app.all("*", handoff);

app.onError((err, c) => errorResponse(c, err));

export default app;
