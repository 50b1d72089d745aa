import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { timingSafeEqual, createHash } from "node:crypto";
// zod/mini, like bridge/config.ts: keeps full zod out of the bridge's bundle and memory.
import * as z from "zod/mini";
import en from "zod/v4/locales/en.js";
import type { Cluster } from "./cluster.ts";
import type { ReloadResult } from "./lifecycle.ts";
import type { Logger } from "./log.ts";
import { serveMetrics, type Metrics } from "./metrics.ts";
import { lbsetSchema, loadfactorSchema, routeProblem, statusSchema } from "./member-rules.ts";

/**
 * The balancer-manager of oxedge, on its own listener (loopback by default,
 * never the hand-off port): what hosters use Apache's page for, as JSON.
 *
 *   GET  /status                  members: route, flags, error state, lbstatus, elected, pool
 *   POST /members/OX1  {"status": "+N"}          drain OX1 before maintenance
 *   POST /members/OX1  {"status": "-N", "loadfactor": 30, "lbset": 0}
 *   POST /reload                  re-read the config file, as SIGHUP does (docs/lifecycle.md)
 *
 * Changes need `Authorization: Bearer <token>` (env named by admin_token_env)
 * and are logged; they live in memory, like balancer-manager without
 * BalancerPersist.
 */

/** The same rules as the config file's members (member-rules.ts), so a value is refused in the same words. */
const patchSchema = z.strictObject({
  status: z.optional(statusSchema),
  loadfactor: z.optional(loadfactorSchema),
  lbset: z.optional(lbsetSchema),
});

/** English issue messages (zod/mini loads no locale by default). */
const localeError = en().localeError;

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2) + "\n";
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
  res.end(text);
}

function sameToken(given: string, expected: string): boolean {
  // Hash both so the comparison is constant-time whatever the lengths.
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}

async function readJson(req: IncomingMessage, max = 4096): Promise<unknown> {
  let text = "";
  for await (const chunk of req) {
    text += chunk;
    if (text.length > max) throw new Error("body too large");
  }
  return JSON.parse(text || "{}");
}

/** A change may go ahead; else the refusal has been sent. */
function authorized(req: IncomingMessage, res: ServerResponse, token: string | undefined): boolean {
  if (!token) {
    send(res, 403, { error: "changes are off: set admin_token_env" });
    return false;
  }
  const auth = req.headers.authorization ?? "";
  if (!auth.startsWith("Bearer ") || !sameToken(auth.slice(7), token)) {
    send(res, 401, { error: "bad token" });
    return false;
  }
  return true;
}

export function createAdmin(cluster: Cluster, token: string | undefined, log: Logger, metrics?: Metrics, reload?: () => Promise<ReloadResult>): Server {
  return createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? "/", "http://admin");
      if (req.method === "GET" && url.pathname === "/status") return send(res, 200, cluster.status());
      // Read-only like /status: Prometheus scrapes without the admin token.
      if (req.method === "GET" && url.pathname === "/metrics" && metrics) return await serveMetrics(metrics, res);
      if (req.method === "POST" && url.pathname === "/reload" && reload) {
        if (!authorized(req, res, token)) return;
        log("warn", "reload asked by admin", { peer: req.socket.remoteAddress });
        const r = await reload();
        return send(res, r.ok ? 200 : 422, r);
      }
      const m = /^\/members\/([^/]+)$/.exec(url.pathname);
      if (req.method === "POST" && m) {
        if (!authorized(req, res, token)) return;
        const route = decodeURIComponent(m[1]);
        const bad = routeProblem(route);
        if (bad) return send(res, 400, { error: [`route: ${bad}`] });
        if (!cluster.members.has(route)) return send(res, 404, { error: `no member ${route}` });
        const parsed = patchSchema.safeParse(await readJson(req), { error: localeError });
        if (!parsed.success) return send(res, 400, { error: parsed.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`) });
        try {
          cluster.balancer.update(route, parsed.data);
        } catch (e) {
          return send(res, 400, { error: (e as Error).message });
        }
        log("warn", "member changed by admin", { route, change: JSON.stringify(parsed.data), peer: req.socket.remoteAddress });
        return send(res, 200, cluster.status().members.find((v) => v.route === route));
      }
      send(res, 404, { error: "GET /status, GET /metrics, POST /members/<route> or POST /reload" });
    } catch (e) {
      send(res, 400, { error: (e as Error).message });
    }
  });
}
