/**
 * Turning failures into responses. Statuses come only from common/errors.ts,
 * bodies are the short `errorBody`, internals go to the log, never the client.
 */
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { OxError, errorBody, isOxError, statusOf, type ErrorKind } from "../common/errors.ts";
import { splitRawUrl } from "./canonical.ts";
import { ConfigError } from "./config.ts";
import type { AppEnv } from "./types.ts";

/**
 * Map anything thrown to an OxError. Hono's own middleware (ip-restriction)
 * throws HTTPException; anything else is a bug of ours (`internal`, 500 with
 * the short error page, never a stack trace).
 */
export function toOxError(err: unknown): OxError {
  if (isOxError(err)) return err;
  if (err instanceof HTTPException) {
    const kind: ErrorKind = err.status === 403 ? "forbidden" : err.status === 400 ? "bad-request" : "internal";
    return new OxError(kind, err.message || `HTTPException ${err.status}`, { cause: err });
  }
  const msg = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return new OxError("internal", `unexpected error: ${msg}`, { cause: err });
}

export function requestIdOf(c: Context<AppEnv>): string {
  let id = c.get("requestId");
  if (!id) {
    // Config is checked before the request-id middleware runs.
    id = crypto.randomUUID();
    c.set("requestId", id);
  }
  return id;
}

/** One log line per error: kind, status, request id, route, path, and the reason. */
export function logError(c: Context<AppEnv>, e: OxError): void {
  const fields = [
    `kind=${e.kind}`,
    `status=${statusOf(e.kind)}`,
    `request=${requestIdOf(c)}`,
    `route=${c.get("route") ?? ""}`,
    `method=${c.req.method}`,
    // The raw path when there is no canonical one (bad-path): JSON quoting keeps
    // control characters and quotes from forging log lines.
    `path=${JSON.stringify(c.get("canon")?.decoded ?? splitRawUrl(c.req.url).path.slice(0, 512))}`,
    `msg=${JSON.stringify(e.message)}`,
  ];
  console.error(`oxedge-worker error ${fields.join(" ")}`);
}

export function errorResponse(c: Context<AppEnv>, err: unknown): Response {
  const e = toOxError(err);
  c.set("errorKind", e.kind);
  logError(c, e);
  let body = errorBody(e.kind, requestIdOf(c));
  // The operator needs to know which var to fix; the value stays in the log.
  if (e instanceof ConfigError) body += `config field: ${e.field}\n`;
  const headers: Record<string, string> = {
    "content-type": "text/plain; charset=utf-8",
    "cache-control": "no-store",
    "x-request-id": requestIdOf(c),
  };
  if (e.retryAfter !== undefined) headers["retry-after"] = String(e.retryAfter);
  return new Response(body, { status: statusOf(e.kind), headers });
}
