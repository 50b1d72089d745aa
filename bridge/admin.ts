/**
 * The balancer-manager of oxedge, on its own listener (admin_listen,
 * loopback by default, never the hand-off port): a Hono app served with
 * @hono/node-server (docs/manager.md).
 *
 *   GET  /                        the manager page (admin-page.ts)
 *   GET  /status                  members: flags, error state, pool, counters, state and the page's cells
 *   POST /members/OX1  {"status": "+N"}                         drain OX1 before maintenance
 *   POST /members/OX1  {"status": "-N", "loadfactor": 30, "lbset": 0}
 *   POST /members/OX1  {"reset": true}                          back to the config file's settings
 *   POST /reload                  re-read the config file, as SIGHUP does (docs/lifecycle.md)
 *   GET  /metrics                 Prometheus metrics (docs/observability.md)
 *
 * Changes need `Authorization: Bearer <token>` (env named by
 * admin_token_env), are logged, and with admin_state_file are kept there
 * and applied again at start (admin-state.ts).
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { Server } from "node:http";
import { createAdaptorServer, type HttpBindings } from "@hono/node-server";
import { Hono, type Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { NONCE, secureHeaders, type SecureHeadersVariables } from "hono/secure-headers";
import type { ContentfulStatusCode } from "hono/utils/http-status";
// The member rules are zod/mini (as bridge/config.ts), which loads no locale: English is passed per parse.
import en from "zod/v4/locales/en.js";
import { statusOf, type ErrorKind } from "../common/errors.ts";
import { HANDOFF_HEADERS } from "../common/signing.ts";
import { managerPage } from "./admin-page.ts";
import { applyState, baseSettings, recordChange } from "./admin-state.ts";
import { statusView } from "./admin-view.ts";
import type { MemberPatch } from "./balancer.ts";
import type { Cluster } from "./cluster.ts";
import type { ReloadResult } from "./lifecycle.ts";
import type { Logger } from "./log.ts";
import type { Metrics } from "./metrics.ts";
import { memberPatchSchema, routeProblem } from "./member-rules.ts";

export { applyState };

export interface AdminOptions {
  /** Bearer token for changes; without one the listener is read-only. */
  token: string | undefined;
  /** Where changes are kept (admin_state_file); none = in memory only. */
  stateFile: string | undefined;
  /** What GET /metrics serves. */
  metrics?: Metrics;
  /** POST /reload: the bridge's reload (lifecycle.ts). */
  reload?: () => Promise<ReloadResult>;
}

/** A change body is a few flags and numbers; anything larger is not one. */
export const MAX_BODY = 4096;
const REFRESH_MS = 2000;

const localeError = en().localeError;

/**
 * A request that carries the worker's hand-off fields came through the
 * edge's path, which never leads here: refused whatever else it holds.
 */
const HANDOFF_SIGNED = [HANDOFF_HEADERS.sig, HANDOFF_HEADERS.ts, HANDOFF_HEADERS.nonce, HANDOFF_HEADERS.clientIp, HANDOFF_HEADERS.route];

type Env = { Bindings: HttpBindings; Variables: SecureHeadersVariables };

function sameToken(given: string, expected: string): boolean {
  // Hash both so the comparison is constant-time whatever the lengths.
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}

function refuse(c: Context, kind: ErrorKind, error: string | string[]) {
  // Every admin kind has a body (none is 1xx, 204 or 304).
  return c.json({ kind, error }, statusOf(kind) as ContentfulStatusCode);
}

type Change = { ok: true; change: MemberPatch | "reset" } | { ok: false; error: string[] };

/** A body is either {"reset": true} alone or a patch, checked by the config file's own rules. */
function parseChange(data: unknown): Change {
  if (typeof data === "object" && data !== null && "reset" in data) {
    const keys = Object.keys(data);
    return (data as { reset: unknown }).reset === true && keys.length === 1 ? { ok: true, change: "reset" } : { ok: false, error: ['reset: send {"reset": true} alone'] };
  }
  const parsed = memberPatchSchema.safeParse(data, { error: localeError });
  if (!parsed.success) return { ok: false, error: parsed.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`) };
  return { ok: true, change: parsed.data };
}

export function adminApp(cluster: Cluster, opts: AdminOptions, log: Logger): Hono<Env> {
  const app = new Hono<Env>();

  app.use(async (c, next) => {
    if (HANDOFF_SIGNED.some((h) => c.req.header(h) !== undefined)) {
      log("warn", "admin request with hand-off headers refused", { path: c.req.path, peer: c.env.incoming.socket.remoteAddress });
      return refuse(c, "forbidden", "the admin listener takes no hand-off requests");
    }
    await next();
    c.header("cache-control", "no-store");
  });
  app.use(
    secureHeaders({
      contentSecurityPolicy: {
        defaultSrc: ["'none'"],
        scriptSrc: [NONCE],
        styleSrc: [NONCE],
        connectSrc: ["'self'"],
        imgSrc: ["'self'"],
        formAction: ["'none'"],
        frameAncestors: ["'none'"],
        baseUri: ["'none'"],
      },
      referrerPolicy: "no-referrer",
    }),
  );

  app.get("/", (c) => {
    const now = Date.now();
    const members = statusView(cluster, now).members.map((m) => ({ route: m.route, state: m.state, cells: m.cells, loadfactor: m.loadfactor }));
    return c.html(managerPage({ members, changes: opts.token !== undefined, nonce: c.get("secureHeadersNonce") ?? "", refreshMs: REFRESH_MS }));
  });

  app.get("/status", (c) => c.json(statusView(cluster, Date.now())));

  // Read-only like /status: Prometheus scrapes without the admin token.
  const metrics = opts.metrics;
  if (metrics) app.get("/metrics", async (c) => c.body(await metrics.text(), 200, { "content-type": metrics.contentType }));

  /** Every change needs the bearer token; without one configured there are none. */
  const changes = async (c: Context<Env>, next: () => Promise<void>) => {
    if (!opts.token) return refuse(c, "forbidden", "changes are off: set admin_token_env");
    const auth = c.req.header("authorization") ?? "";
    if (!auth.startsWith("Bearer ") || !sameToken(auth.slice(7), opts.token)) return refuse(c, "bad-token", "bad token");
    await next();
  };

  const reload = opts.reload;
  if (reload)
    app.post("/reload", changes, async (c) => {
      log("warn", "reload asked by admin", { peer: c.env.incoming.socket.remoteAddress });
      const r = await reload();
      return c.json(r, r.ok ? 200 : 422);
    });

  app.post(
    "/members/:route",
    changes,
    bodyLimit({ maxSize: MAX_BODY, onError: (c) => refuse(c, "request-too-large", `a change is at most ${MAX_BODY} bytes`) }),
    async (c) => {
      const route = c.req.param("route");
      const bad = routeProblem(route);
      if (bad) return refuse(c, "bad-request", [`route: ${bad}`]);
      const member = cluster.members.get(route);
      if (!member) return refuse(c, "not-found", `no member ${route}`);
      const text = await c.req.text();
      let data: unknown;
      try {
        data = JSON.parse(text || "{}");
      } catch (e) {
        return refuse(c, "bad-request", [`body: not JSON: ${(e as Error).message}`]);
      }
      const parsed = parseChange(data);
      if (!parsed.ok) return refuse(c, "bad-request", parsed.error);
      const { change } = parsed;
      // Written first: what runs is never ahead of what a restart brings back.
      if (opts.stateFile) {
        try {
          recordChange(opts.stateFile, cluster, route, change, log);
        } catch (e) {
          log("error", "state file not written, change refused", { file: opts.stateFile, route, error: (e as Error).message });
          return refuse(c, "bad-config", `state file ${opts.stateFile} not written (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); nothing changed`);
        }
      }
      cluster.balancer.update(route, change === "reset" ? baseSettings(member.config.spec) : change);
      log("warn", "member changed by admin", { route, change: change === "reset" ? "reset" : JSON.stringify(change), peer: c.env.incoming.socket.remoteAddress });
      return c.json(statusView(cluster, Date.now()).members.find((m) => m.route === route));
    },
  );

  app.notFound((c) => refuse(c, "not-found", "GET /, GET /status, GET /metrics, POST /members/<route> or POST /reload"));
  app.onError((e, c) => {
    log("error", "admin listener failed", { kind: "internal", error: e.stack ?? String(e) });
    return refuse(c, "internal", "internal error");
  });
  return app;
}

/** The admin listener as a node http server, for startBridge to listen on and close with the bridge. */
export function createAdmin(cluster: Cluster, opts: AdminOptions, log: Logger): Server {
  // overrideGlobalObjects off: the adapter would otherwise replace the process's global Request and Response.
  return createAdaptorServer({ fetch: adminApp(cluster, opts, log).fetch, overrideGlobalObjects: false }) as Server;
}
