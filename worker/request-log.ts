/**
 * One JSON line per request on console.log: what `wrangler tail` shows and
 * Workers Logs indexes field by field (docs/edge-deploy.md, Logs).
 *
 * What it leaves out, on purpose: the query string (OX carries its `session`
 * id there, and `jsessionid` too), the value of a `;jsessionid=` path
 * parameter, cookies, and the client's address (CF-Connecting-IP is personal
 * data; the request id leads to the bridge's line, which has it when an
 * operator needs it). The route is kept: it names a node, not a person.
 */
import type { MiddlewareHandler } from "hono";
import { splitRawUrl } from "./canonical.ts";
import type { AppEnv } from "./types.ts";

const SESSION_PARAM = /;jsessionid=[^/;]*/gi;
const MAX_PATH = 512;

/** The client's path, without query and with any session id replaced: safe to keep in logs. */
export function loggedPath(url: string): string {
  const { path } = splitRawUrl(url);
  return path.replace(SESSION_PARAM, ";jsessionid=(redacted)").slice(0, MAX_PATH);
}

export interface RequestLine {
  msg: "oxedge-worker request";
  time: string;
  request_id: string;
  method: string;
  path: string;
  status: number;
  ms: number;
  /** The sticky route asked for ("" = any member). */
  route: string;
  /** The member that answered, from the bridge. */
  node?: string;
  /** The bridge that answered. */
  bridge?: string;
  /** Bridges asked for this request; more than 1 means a failover. */
  attempts?: number;
  /** Bridges that gave no answer (now skipped). */
  failed?: string[];
  /** Error kind, from the worker or the bridge. */
  kind?: string;
  /** Cloudflare data center that took the request. */
  colo?: string;
}

export const requestLog: MiddlewareHandler<AppEnv> = async (c, next) => {
  const started = Date.now();
  await next();
  const h = c.get("handoff");
  const line: RequestLine = {
    msg: "oxedge-worker request",
    time: new Date(started).toISOString(),
    request_id: c.get("requestId") ?? "",
    method: c.req.method,
    path: loggedPath(c.req.url),
    status: c.res.status,
    ms: Date.now() - started,
    route: c.get("route") ?? "",
  };
  if (h) {
    if (h.node) line.node = h.node;
    if (h.bridge) line.bridge = h.bridge;
    line.attempts = h.attempts;
    if (h.failed.length) line.failed = h.failed;
    if (h.bridgeError) line.kind = h.bridgeError;
  }
  const kind = c.get("errorKind");
  if (kind) line.kind = kind;
  const colo = (c.req.raw as { cf?: { colo?: unknown } }).cf?.colo;
  if (typeof colo === "string") line.colo = colo;
  console.log(JSON.stringify(line));
};
