/**
 * Hand the request to a bridge: canonical path + original query, cleaned
 * headers, the signed x-oxedge-* fields, the body as a stream.
 *
 * Header hygiene: hop-by-hop headers belong to the client's connection, not
 * ours; client-supplied x-oxedge-* would impersonate the edge; Forwarded and
 * X-Forwarded-* are trusted by OX, so only values the edge knows are sent;
 * Expect is answered at the edge, and only a final answer from the bridge is
 * passed on (an interim 1xx is a 502 backend-protocol).
 *
 * Bridge choice: BRIDGE_URLS by weight (worker/bridges.ts). A bridge that
 * gave no answer is skipped for BRIDGE_RETRY_SKIP_SECONDS (in this isolate's
 * memory only; each isolate learns for itself, which is fine for a few
 * bridges). When every bridge is marked, they are all tried again rather than
 * failing outright. Retries only for requests without a body: the body is a
 * stream we never buffer, so once a fetch has started it may have been
 * consumed and cannot be sent again. A request with a body whose bridge gave
 * no answer gets a 502 (its bridge is then skipped, so the next request goes
 * elsewhere).
 *
 * "No answer" is all workerd says (`Network connection lost.`) both for a
 * connection refused and for one the bridge closed after it had taken the
 * request, as a stopping bridge does with the requests it still holds. So
 * the log says that and how long the attempt took, not "unreachable": a
 * bridge that got the request has logged it under the same request id.
 */
import type { Context } from "hono";
import { OxError } from "../common/errors.ts";
import { fieldsToHeaders, HANDOFF_HEADERS, newNonce, sign, type HandoffFields } from "../common/signing.ts";
import { clientIp } from "./access.ts";
import { BridgeRotation } from "./bridges.ts";
import { isWebSocketPath } from "./paths.ts";
import type { Config } from "./config.ts";
import type { AppEnv, HandoffTrace } from "./types.ts";
import { ACCESS_HEADERS, EDGE_HOP_HEADERS } from "../common/edge-headers.ts";

const HOP_BY_HOP = new Set(["connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade"]);

/**
 * Headers the edge answers itself: address claims a client could forge (OX or
 * other software behind the bridge may read them; the edge's answer is
 * X-Forwarded-For), Host (fetch sets it from the bridge URL; the client's
 * host travels signed in x-oxedge-host and in X-Forwarded-Host) and Expect:
 * the client's `100-continue` is a question to its own hop, and fetch streams
 * the body without waiting for permission. Forwarded, it makes the bridge's
 * HTTP server answer `100 Continue`, and workerd's fetch resolves with that
 * interim response instead of the final one.
 */
const EDGE_OWNED = new Set(["forwarded", "x-real-ip", "true-client-ip", "client-ip", "x-client-ip", "host", "expect", ...EDGE_HOP_HEADERS]);

/**
 * Status codes with which Cloudflare itself answers a subrequest when the
 * origin (or the tunnel to it) is unreachable: fetch() resolves instead of
 * throwing, but nothing reached the bridge. The bridge never sends these.
 */
export const EDGE_UNREACHABLE_STATUSES = new Set([521, 522, 523, 525, 526, 530]);

/**
 * Whether `res` can be passed on as the answer. workerd's fetch resolves with
 * any status line the bridge sends first, interim ones (1xx) included, and
 * with numbers up to 999; the Response constructor refuses all of those
 * except 101 carrying a WebSocket, which is how workerd hands over an upgrade.
 */
export function isFinalResponse(res: Response): boolean {
  if (res.status >= 200 && res.status <= 599) return true;
  return res.status === 101 && (res as { webSocket?: unknown }).webSocket != null;
}

export function forwardHeaders(incoming: Headers): Headers {
  const named = new Set<string>();
  for (const token of (incoming.get("connection") ?? "").split(",")) {
    const t = token.trim().toLowerCase();
    if (t) named.add(t);
  }
  const out = new Headers();
  incoming.forEach((value, key) => {
    const k = key.toLowerCase();
    if (HOP_BY_HOP.has(k) || named.has(k) || EDGE_OWNED.has(k)) return;
    if (k.startsWith("proxy-") || k.startsWith("x-oxedge-") || k.startsWith("x-forwarded-")) return;
    out.append(key, value);
  });
  return out;
}

/**
 * A 502 that carries neither of the bridge's marks (x-oxedge-error on its own
 * errors, x-oxedge-served-by on a node's answer) came from what stands in
 * front of the bridge: cloudflared answers 502 when the bridge behind it
 * refuses the connection, e.g. while it restarts.
 */
function fromFrontOfBridge(res: Response): boolean {
  return res.status === 502 && !res.headers.has(HANDOFF_HEADERS.servedBy) && !res.headers.has(HANDOFF_HEADERS.error);
}

/** Per-isolate rotation and skip memory, one per config (one config per isolate). */
const rotations = new WeakMap<Config, BridgeRotation>();

export function rotationFor(cfg: Config): BridgeRotation {
  let r = rotations.get(cfg);
  if (!r) rotations.set(cfg, (r = new BridgeRotation(cfg.bridges, BridgeRotation.randomPhase(cfg.bridges))));
  return r;
}

/** A copy of the bridge's headers the client may see: x-oxedge-* only with debug headers on. */
function withoutInternal(h: Headers, debug: boolean): Headers {
  const out = new Headers(h);
  if (debug) return out;
  const drop: string[] = [];
  out.forEach((_v, k) => {
    if (k.toLowerCase().startsWith("x-oxedge-")) drop.push(k);
  });
  for (const k of drop) out.delete(k);
  return out;
}

export function stripInternalHeaders(res: Response, debug: boolean): Response {
  return new Response(res.body, { status: res.status, statusText: res.statusText, headers: withoutInternal(res.headers, debug) });
}

export async function handoff(c: Context<AppEnv>): Promise<Response> {
  const cfg = c.get("config");
  const canon = c.get("canon");
  const query = c.get("query");
  const req = c.req.raw;
  const url = new URL(c.req.url);
  const proto = url.protocol === "https:" ? "https" : "http";
  const ip = clientIp(c);
  if (!ip) throw new OxError("bad-request", "no CF-Connecting-IP: request did not come through the Cloudflare edge");

  const sessionSuffix = canon.session && cfg.stickyPathParam ? `;${cfg.stickyPathParam}=${canon.session}` : "";
  const pathAndQuery = canon.path + sessionSuffix + (query ? `?${query}` : "");
  const hasBody = req.body !== null;

  const headers = forwardHeaders(req.headers);
  // A WebSocket upgrade keeps its Upgrade header (workerd makes the subrequest a WebSocket by it);
  // only a WebSocket prefix of the map may take one.
  // Other upgrade offers (h2c) are optional for the server and dropped with the hop-by-hop headers.
  if (req.headers.get("upgrade")?.toLowerCase() === "websocket") {
    if (req.method !== "GET" || !isWebSocketPath(cfg, canon.decoded)) throw new OxError("bad-request", "a WebSocket upgrade outside a WebSocket prefix");
    headers.set("upgrade", "websocket");
  }
  headers.set("x-forwarded-for", ip);
  headers.set("x-forwarded-proto", proto);
  headers.set("x-forwarded-host", url.host);
  headers.set(HANDOFF_HEADERS.requestId, c.get("requestId"));

  if (cfg.access) {
    headers.set(ACCESS_HEADERS.clientId, cfg.access.clientId);
    headers.set(ACCESS_HEADERS.clientSecret, cfg.access.clientSecret);
  }

  const rotation = rotationFor(cfg);
  const trace: HandoffTrace = { bridge: "", attempts: 0, failed: [], node: "", bridgeError: "" };
  c.set("handoff", trace);
  const problems: string[] = [];
  const giveUp = (i: number, started: number, what: string) => {
    problems.push(`${cfg.bridges[i].url}: ${what} after ${Date.now() - started} ms`);
    trace.failed.push(cfg.bridges[i].url);
    rotation.skip(i, Date.now() + cfg.bridgeRetrySkipSeconds * 1000);
  };
  for (const i of rotation.order(Date.now())) {
    const bridge = cfg.bridges[i].url;
    trace.attempts++;
    const target = new URL(pathAndQuery, bridge);
    // canonicalPath never yields `//` or `\`, which a URL parser would read as
    // another host; checked here too because the cost of being wrong is an open relay.
    if (target.origin !== bridge) throw new OxError("bad-path", `target ${JSON.stringify(pathAndQuery)} leaves the bridge origin`);
    const fields: HandoffFields = {
      method: req.method,
      // What the bridge will see as its request-target, after URL serialization.
      target: target.pathname + target.search,
      route: c.get("route"),
      clientIp: ip,
      clientPort: "",
      proto,
      host: url.host,
      ts: Math.floor(Date.now() / 1000),
      nonce: newNonce(),
    };
    for (const [name, value] of Object.entries(fieldsToHeaders(fields))) headers.set(name, value);
    headers.set(HANDOFF_HEADERS.sig, await sign(cfg.bridgeSecret, fields));

    // `duplex` is required by Node's fetch for stream bodies and ignored by
    // workerd; `cache` is only in the dated workers-types. Declared here so
    // both type sets (Node for tests, workers for the build) accept them.
    const init: RequestInit & { duplex?: "half"; cache?: "no-store" } = {
      method: req.method,
      headers,
      body: hasBody ? req.body : null,
      redirect: "manual",
      // Cluster answers are per user. A subrequest to a proxied hostname
      // otherwise goes through Cloudflare's cache, which stores e.g. an
      // /infostore/…/photo.png by its extension and could hand it to the
      // next client asking for the same URL.
      cache: "no-store",
    };
    if (hasBody) init.duplex = "half";

    const started = Date.now();
    let res: Response;
    try {
      res = await fetch(target.toString(), init);
    } catch (e) {
      giveUp(i, started, `no answer, connection refused or lost (${e instanceof Error ? e.message : String(e)})`);
      if (hasBody) break;
      continue;
    }
    if ((EDGE_UNREACHABLE_STATUSES.has(res.status) && !res.headers.has(HANDOFF_HEADERS.servedBy)) || fromFrontOfBridge(res)) {
      giveUp(i, started, `Cloudflare or the tunnel answered ${res.status} for it, the bridge did not`);
      await res.body?.cancel().catch(() => undefined);
      if (hasBody) break;
      continue;
    }
    // The bridge answered, so it was reached, whatever the answer is worth.
    rotation.reached(i);
    trace.bridge = bridge;
    trace.node = res.headers.get(HANDOFF_HEADERS.servedBy) ?? "";
    trace.bridgeError = res.headers.get(HANDOFF_HEADERS.error) ?? "";
    if (!isFinalResponse(res)) {
      // Not a reachability problem: trying the next bridge could run the
      // request twice, and marking this one would move traffic off a bridge
      // that is up. The final answer, if any followed, is lost to fetch.
      await res.body?.cancel().catch(() => undefined);
      throw new OxError("backend-protocol", `${bridge}: answered with status ${res.status}, not a final response the edge can pass on`);
    }
    // The accepted WebSocket goes to the client (workerd relays its messages), in a response of
    // our own: fetch's is immutable, and the edge still adds its headers.
    if (res.status === 101) {
      const init = { status: 101, headers: withoutInternal(res.headers, cfg.debugHeaders), webSocket: (res as { webSocket?: unknown }).webSocket };
      return new Response(null, init as ResponseInit);
    }
    return stripInternalHeaders(res, cfg.debugHeaders);
  }
  const notRetried = hasBody && problems.length < cfg.bridges.length ? "; not sent to another bridge: the body may already be spent" : "";
  throw new OxError(
    "bridge-unavailable",
    `no bridge answered (${problems.join("; ")}${notRetried}). A refused connection and one the bridge closed after taking the request look alike here; a bridge that got the request has logged it as ${c.get("requestId")}`,
  );
}
