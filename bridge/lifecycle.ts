import type { Server } from "node:http";
import { ConfigError, loadConfigFile } from "./config.ts";
import type { Cluster } from "./cluster.ts";
import { Drain } from "./drain.ts";
import type { Logger } from "./log.ts";
import { planReload, type ReloadChange } from "./reload-plan.ts";
import type { BridgeCore } from "./server.ts";
import { formatProblem } from "../common/errors.ts";

/**
 * The bridge's life after start (docs/lifecycle.md): a graceful stop on
 * SIGTERM/SIGINT, a reload of the config file on SIGHUP or the admin's
 * POST /reload. Apache's `apachectl graceful-stop` and `graceful`.
 */

export type ReloadResult = { ok: true; changes: ReloadChange[] } | { ok: false; errors: string[] };

export interface StopResult {
  /** Requests answered in full after the stop began (in flight then, or already on a kept-alive connection). */
  requestsFinished: number;
  requestsCut: number;
  /** WebSockets closed with 1001 within the grace. */
  websocketsClosed: number;
  websocketsCut: number;
  ms: number;
}

function closeListener(s: Server): Promise<void> {
  return new Promise((resolve) => s.close(() => resolve()));
}

/**
 * Listeners closed at once (new connections are refused; Node also closes
 * the idle keep-alive ones), every answer from now on says Connection:
 * close, requests finish and then WebSockets go away within `graceMs`;
 * then whatever is left is cut and the pools close.
 */
export function stopBridge(core: BridgeCore, admin: Server | undefined, graceMs: number, log: Logger, signal?: string): { promise: Promise<StopResult>; hurry(graceMs: number, signal?: string): void } {
  const { server, cluster } = core;
  const websockets = cluster.websocketsOpen();
  log("info", "stopping", { signal, requests: core.requests(), websockets, grace_s: graceMs / 1000 });
  const answeredBefore = core.answered();
  core.closing();
  const closed = Promise.all([closeListener(server), admin && closeListener(admin)]);
  const drain = new Drain({ requests: core.requests, websockets: () => cluster.websocketsOpen(), goAway: () => cluster.goAway() }, graceMs);
  // A connection whose last answer (sent before the stop, with keep-alive) just ended is idle now.
  const idle = setInterval(() => server.closeIdleConnections(), 25);
  const promise = drain.done.then(async (r) => {
    clearInterval(idle);
    server.closeAllConnections();
    admin?.closeAllConnections();
    cluster.close();
    await closed;
    const result: StopResult = {
      requestsFinished: core.answered() - answeredBefore,
      requestsCut: r.requestsLeft,
      websocketsClosed: Math.max(0, websockets - r.websocketsLeft),
      websocketsCut: r.websocketsLeft,
      ms: r.ms,
    };
    log(result.requestsCut + result.websocketsCut > 0 ? "warn" : "info", "stopped", {
      requests_finished: result.requestsFinished,
      requests_cut: result.requestsCut,
      websockets_closed: result.websocketsClosed,
      websockets_cut: result.websocketsCut,
      ms: result.ms,
    });
    return result;
  });
  return {
    promise,
    hurry: (ms, sig) => {
      if (ms === 0) log("warn", "stopping now", { signal: sig, requests: core.requests(), websockets: cluster.websocketsOpen() });
      drain.shorten(ms);
    },
  };
}

/**
 * Re-read and validate the file; on any problem the running config stays
 * and each problem is logged as at start. Otherwise apply it: members by
 * route (reload-plan.ts), settings for new requests, and the listeners'
 * addresses are reported as needing a restart.
 */
export function reloadBridge(core: BridgeCore, file: string, env: NodeJS.ProcessEnv, log: Logger, afterReload?: (cluster: Cluster) => void): ReloadResult {
  const old = core.config();
  let next;
  try {
    next = loadConfigFile(file, env);
  } catch (e) {
    const errors = e instanceof ConfigError ? e.problems.map(formatProblem) : [String((e as Error)?.message ?? e)];
    log("error", "reload failed, the running config stays", { file, problems: errors.length });
    for (const line of errors) log("error", line, { kind: "bad-config", file });
    return { ok: false, errors };
  }
  const plan = planReload(old, next);
  // What the listeners really are, so that the next reload still tells a moved address needs a restart.
  const running = { ...next, listenHost: old.listenHost, listenPort: old.listenPort, admin: old.admin };
  try {
    core.apply(running, plan);
  } catch (e) {
    const errors = [`cannot apply: ${(e as Error)?.message ?? e}`];
    log("error", "reload failed, the running config stays", { file, error: errors[0] });
    return { ok: false, errors };
  }
  const of = (change: string) => plan.changes.flatMap((c) => ("member" in c && c.change === change ? [c.member] : [])).join(",") || undefined;
  const settings = (change: string) => plan.changes.flatMap((c) => ("setting" in c && c.change === change ? [c.setting] : []));
  for (const setting of settings("needs-restart")) log("warn", "needs a restart", { setting, file });
  log("info", "reloaded", {
    file,
    added: of("added"),
    removed: of("removed"),
    changed: of("changed"),
    updated: of("updated"),
    kept: plan.kept.join(",") || undefined,
    applied: settings("applied").join(",") || undefined,
    needs_restart: settings("needs-restart").join(",") || undefined,
  });
  const known = new Set(old.warnings);
  for (const w of next.warnings) if (!known.has(w)) log("warn", w, { kind: "edge-timeout" });
  afterReload?.(core.cluster);
  return { ok: true, changes: plan.changes };
}
