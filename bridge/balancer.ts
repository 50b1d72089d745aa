/**
 * Pure member selection for the bridge: a re-implementation of httpd 2.4
 * mod_proxy_balancer + mod_lbmethod_byrequests (see docs/balancer.md).
 *
 * No I/O and no timers: the clock is passed in as `now` (ms), so every
 * decision can be replayed in tests. The cluster owns what "down" means and
 * reports it with markDown() (node unreachable) and requestFailed() /
 * requestSucceeded() (its requests); a member comes back through its retry
 * window, never by a probe alone (a node that answers CPing may still fail
 * every request).
 *
 * Deliberate differences from httpd (docs/balancer.md, oxedge's differences):
 * - choose() never puts a member into error. httpd marks a member in error
 *   for `retry` seconds after a single 503-class failure (or a 500, or
 *   failonstatus/failontimeout); here markDown() does, and requestFailed()
 *   after `fails` in a row, so one failed or slow request does not take a
 *   node out.
 * - The byrequests score is bounded and starts over when a member returns
 *   from error (see CREDIT_ROUNDS).
 * - Members already tried for a request are passed in as `exclude` instead of
 *   being found "in error" on the failover pass.
 *
 * @example
 * const b = createBalancer(
 *   [
 *     { route: "OX1", loadfactor: 50, lbset: 0, status: {} },
 *     { route: "OX2", loadfactor: 50, lbset: 0, status: {} },
 *   ],
 *   { retryMs: 60_000, nofailover: false, forceRecovery: true },
 * );
 * const c = b.choose(routeFromCookie, Date.now());
 * if (c.ok) send(c.route); else respond503(c.reason);
 */

import {
  duplicateRoute,
  lbsetProblem,
  loadfactorProblem,
  redirectProblem,
  routeProblem,
  STATUS_KEYS,
  type MemberStatus,
  type StatusKey,
} from "./member-rules.ts";

export type { MemberStatus };

export interface MemberSpec {
  /** Unique; common/route.ts says what a route may be. */
  route: string;
  /** 1..100, may be fractional; stored ×100 as the integer `lbfactor`, like httpd. */
  loadfactor: number;
  /** 0..99, lower sets preferred. */
  lbset: number;
  status: MemberStatus;
  /** Route of another member for sticky requests when this one is unusable. */
  redirect?: string;
}

export interface BalancerOptions {
  /** Error-state duration. A member in error is retried once `now > errorSince + retryMs`. */
  retryMs: number;
  /** httpd `nofailover=On`: a sticky request whose member is unusable gets 503 instead of moving. */
  nofailover: boolean;
  /** httpd `forcerecovery` (default On there): if every member is in error, clear all errors. */
  forceRecovery: boolean;
  /** Failover attempts after the first try, 0..99. Default members−1, at least 1. */
  maxAttempts?: number;
  /**
   * Passive outlier detection: this many node-side request failures in a
   * row (requestFailed() without a requestSucceeded() between) put the
   * member in error like markDown(). 0 = off. One failure never does.
   */
  fails?: number;
}

export type Choice =
  | { ok: true; route: string; sticky: boolean; routeChanged: boolean }
  | { ok: false; kind: "no-member"; reason: string };

export interface MemberView {
  route: string;
  /** lbfactor / 100 */
  loadfactor: number;
  /** weight ×100 as httpd stores it (100..10000) */
  lbfactor: number;
  lbset: number;
  /** "" = none */
  redirect: string;
  status: Required<MemberStatus>;
  /** Usable right now by flags alone (not disabled, stopped or in error); drain counts as usable. */
  usable: boolean;
  inError: boolean;
  /** Time of the last markDown() while in error; null when not in error. */
  errorSince: number | null;
  /** errorSince + retryMs; the member is retried once now > retryAt. null when not in error or stopped. */
  retryAt: number | null;
  /** max(0, retryAt − now), null like retryAt. */
  retryInMs: number | null;
  /** byrequests running score (httpd "Load"). */
  lbstatus: number;
  /** Requests given to this member (httpd "Elected"), sticky and non-sticky. */
  elected: number;
  /** Times the error state was cleared by a retry check or forced recovery (httpd `retries`). */
  retries: number;
  /** markDown() calls that put or kept the member in error. */
  errors: number;
  /** Node-side request failures since the last success (see BalancerOptions.fails). */
  failStreak: number;
}

export type MemberPatch = Partial<Pick<MemberSpec, "loadfactor" | "lbset" | "redirect">> & {
  status?: MemberStatus;
};

export interface Balancer {
  /**
   * requestedRoute "" = none. `exclude` = routes already tried for THIS request (failover),
   * never chosen again. Mutates lbstatus/elected like httpd.
   */
  choose(requestedRoute: string, now: number, exclude?: ReadonlySet<string>): Choice;
  /** Node is down (connect refused or timed out, CPing unanswered): enter error state at `now` unless ignoreErrors. */
  markDown(route: string, now: number): void;
  /** Health check saw the node answer: leave error state now. */
  markUp(route: string): void;
  /**
   * A request on this member failed on the node's side (protocol error,
   * abort, timeout). True when that made `fails` in a row and put the
   * member in error (markDown at `now`).
   */
  requestFailed(route: string, now: number): boolean;
  /** A request on this member completed: its failure streak starts over. */
  requestSucceeded(route: string): void;
  /** Admin changes (balancer-manager parity): flags, loadfactor, lbset, redirect. */
  update(route: string, patch: MemberPatch): void;
  /** Read-only view for the manager page, metrics and tests, in config order. */
  snapshot(now: number): MemberView[];
  /** httpd `maxattempts`: failover attempts after the first try (total tries = 1 + maxAttempts). */
  readonly maxAttempts: number;
  /** One member's whole state, to be carried into the balancer that replaces this one on a reload. */
  carry(route: string): MemberCarry | undefined;
}

/**
 * What a member keeps across a reload (docs/lifecycle.md, Reload): its error
 * state and counters always; its weight, set and flags (the admin's changes
 * included) only when the file left them as they were, else the file's win.
 */
export interface MemberCarry {
  readonly state: Readonly<Omit<MemberState, "route" | "lbfactor" | "lbset" | "redirect" | "status">>;
  /** The admin's view of the member, used when `keepSpec` is set. */
  readonly spec: Readonly<Pick<MemberState, "lbfactor" | "lbset" | "redirect" | "status">>;
}

interface MemberState {
  readonly route: string;
  lbfactor: number;
  lbset: number;
  redirect: string;
  status: Required<MemberStatus>;
  inError: boolean;
  errorSince: number;
  lbstatus: number;
  elected: number;
  retries: number;
  errors: number;
  failStreak: number;
}

/**
 * A member's byrequests score is kept within this many rounds of elections
 * (× the sum of all lbfactors) either way. httpd's score is unbounded, so a
 * member that never gets sticky traffic (its sessions all fail, or it was
 * away) piles up credit and then wins every election for as long as it took
 * to pile up: one seen at +226 million would have won the next 4 million.
 * Within the bound every decision is httpd's; beyond it the history is
 * forgotten.
 */
const CREDIT_ROUNDS = 10;

/** choose() without members to exclude (most requests): no Set per call. */
const NONE: ReadonlySet<string> = new Set();

function fail(message: string): never {
  throw new Error(`balancer: ${message}`);
}

function checkRoute(route: unknown): string {
  const p = routeProblem(route);
  if (p) fail(`route ${JSON.stringify(route)}: ${p}`);
  return route as string;
}

/** Stored ×100 as the integer `lbfactor`, truncated like httpd's `atof(val) * 100`. */
function toLbfactor(loadfactor: unknown, route: string): number {
  const p = loadfactorProblem(loadfactor);
  if (p) fail(`member "${route}": ${p}, got ${String(loadfactor)}`);
  return Math.trunc((loadfactor as number) * 100);
}

function checkLbset(lbset: unknown, route: string): number {
  const p = lbsetProblem(lbset);
  if (p) fail(`member "${route}": ${p}, got ${String(lbset)}`);
  return lbset as number;
}

function applyStatus(target: Required<MemberStatus>, patch: unknown, route: string): void {
  if (patch === undefined) return;
  if (typeof patch !== "object" || patch === null) fail(`member "${route}": status must be an object`);
  for (const [key, value] of Object.entries(patch)) {
    if (!(STATUS_KEYS as readonly string[]).includes(key)) {
      fail(`member "${route}": unknown status flag "${key}" (valid: ${STATUS_KEYS.join(", ")})`);
    }
    if (value === undefined) continue;
    if (typeof value !== "boolean") fail(`member "${route}": status.${key} must be a boolean`);
    target[key as StatusKey] = value;
  }
}

/** PROXY_WORKER_IS_USABLE: none of D, S, E. Drain is NOT part of it (sticky requests may use it). */
function isUsable(m: MemberState): boolean {
  return !m.status.disabled && !m.status.stopped && !m.inError;
}

/** ap_proxy_retry_worker: clear E once the retry window has passed ("we try anyway"). */
function retryWorker(m: MemberState, now: number, retryMs: number): void {
  if (!m.inError) return;
  // "Won't retry worker: stopped"
  if (m.status.stopped) return;
  // httpd: `apr_time_now() > error_time + retry` — strictly after, so a member marked down at t
  // with retry r is still skipped at exactly t + r. Same comparison (in ms) here.
  if (m.status.ignoreErrors || now > m.errorSince + retryMs) {
    leaveError(m);
    m.retries++;
  }
}

/**
 * Back from error with a neutral score: what it had before it went away
 * says nothing about now (httpd keeps it, so a member that was piling up
 * credit while failing would take every new session on its return).
 */
function leaveError(m: MemberState): void {
  m.inError = false;
  m.lbstatus = 0;
  m.failStreak = 0;
}

/**
 * `carried` (a reload): for each route in it, the state of the member of the
 * balancer being replaced; with keepSpec also its weight, set, redirect and
 * flags instead of the spec's (a redirect to a route that is gone falls back
 * to the spec's).
 */
export function createBalancer(members: MemberSpec[], opts: BalancerOptions, carried?: ReadonlyMap<string, { carry: MemberCarry; keepSpec: boolean }>): Balancer {
  if (!Array.isArray(members) || members.length === 0) fail("at least one member is required");
  if (typeof opts.retryMs !== "number" || !Number.isFinite(opts.retryMs) || opts.retryMs < 0) {
    fail(`retryMs must be a number >= 0, got ${String(opts.retryMs)}`);
  }
  let maxAttempts = Math.max(1, members.length - 1);
  if (opts.maxAttempts !== undefined) {
    // balancer-manager accepts b_max 0..99
    if (!Number.isInteger(opts.maxAttempts) || opts.maxAttempts < 0 || opts.maxAttempts > 99) {
      fail(`maxAttempts must be an integer 0..99, got ${String(opts.maxAttempts)}`);
    }
    maxAttempts = opts.maxAttempts;
  }
  const fails = opts.fails ?? 0;
  if (!Number.isInteger(fails) || fails < 0) fail(`fails must be an integer >= 0, got ${String(opts.fails)}`);
  const retryMs = opts.retryMs;
  const nofailover = !!opts.nofailover;
  const forceRecovery = !!opts.forceRecovery;

  const list: MemberState[] = [];
  const byRoute = new Map<string, MemberState>();
  const dup = duplicateRoute(members.map((m) => m?.route));
  if (dup >= 0) fail(`duplicate route "${members[dup].route}"`);
  for (const spec of members) {
    const route = checkRoute(spec?.route);
    const status: Required<MemberStatus> = {
      disabled: false, stopped: false, drain: false, hotStandby: false, hotSpare: false, ignoreErrors: false,
    };
    applyStatus(status, spec.status, route);
    const m: MemberState = {
      route,
      lbfactor: toLbfactor(spec.loadfactor, route),
      lbset: checkLbset(spec.lbset, route),
      redirect: spec.redirect ?? "",
      status,
      inError: false,
      errorSince: 0,
      // httpd starts from zeroed shared memory; recalc_factors only runs on a manager change.
      lbstatus: 0,
      elected: 0,
      retries: 0,
      errors: 0,
      failStreak: 0,
    };
    list.push(m);
    byRoute.set(route, m);
  }
  const routeSet: ReadonlySet<string> = new Set(byRoute.keys());
  if (carried) {
    for (const m of list) {
      const c = carried.get(m.route);
      if (!c) continue;
      Object.assign(m, c.carry.state);
      if (!c.keepSpec) continue;
      m.lbfactor = c.carry.spec.lbfactor;
      m.lbset = c.carry.spec.lbset;
      m.status = { ...c.carry.spec.status };
      if (c.carry.spec.redirect === "" || routeSet.has(c.carry.spec.redirect)) m.redirect = c.carry.spec.redirect;
    }
  }
  for (const m of list) checkRedirect(m.route, m.redirect);

  let creditLimit = 0;
  const setCreditLimit = (): void => {
    creditLimit = 0;
    for (const m of list) creditLimit += CREDIT_ROUNDS * m.lbfactor;
  };
  setCreditLimit();
  function credit(m: MemberState, delta: number): void {
    const v = m.lbstatus + delta;
    m.lbstatus = v > creditLimit ? creditLimit : v < -creditLimit ? -creditLimit : v;
  }

  function checkRedirect(route: string, redirect: unknown): string {
    if (typeof redirect !== "string") fail(`member "${route}": redirect must be a string`);
    const p = redirectProblem(route, redirect, routeSet);
    if (p) fail(`member "${route}": ${p}`);
    return redirect;
  }

  function get(route: string): MemberState {
    const m = byRoute.get(route);
    if (!m) fail(`unknown route "${route}"`);
    return m;
  }

  /**
   * force_recovery(): walk members in order running the retry check until one is not in error;
   * if none is, clear E on all of them. Runs before the sticky lookup, so it helps sticky
   * requests too. Only E counts: a disabled member that is not in error blocks recovery.
   */
  function forceRecoveryIfAllInError(now: number): void {
    for (const m of list) {
      if (!m.inError) return;
      retryWorker(m, now, retryMs);
      if (!m.inError) return;
    }
    if (!forceRecovery) return;
    for (const m of list) {
      m.retries++;
      leaveError(m);
    }
  }

  /**
   * find_route_worker(). httpd scans normal members first, then hot standbys; with unique routes
   * (enforced above) that is a plain lookup. `recursion` starts at 1 and a redirect is followed
   * only while recursion < member count, which bounds redirect cycles like httpd does.
   */
  function findRouteMember(route: string, recursion: number, now: number, exclude: ReadonlySet<string>): MemberState | undefined {
    const m = byRoute.get(route);
    if (!m) return undefined;
    if (!exclude.has(m.route)) {
      if (isUsable(m)) return m;
      retryWorker(m, now, retryMs);
      if (isUsable(m)) return m;
    }
    if (m.redirect !== "" && recursion < list.length) {
      return findRouteMember(m.redirect, recursion + 1, now, exclude);
    }
    return undefined;
  }

  /**
   * ap_proxy_balancer_get_best_worker() with byrequests' is_best()/find_best_byrequests():
   * each candidate offered gets lbstatus += lbfactor, the highest lbstatus wins with a strict
   * '>' (ties go to the earlier member), and the winner pays the total offered.
   */
  function getBest(now: number, exclude: ReadonlySet<string>): MemberState | undefined {
    let best: MemberState | undefined;
    let total = 0;
    const offer = (m: MemberState): void => {
      credit(m, m.lbfactor);
      total += m.lbfactor;
      if (!best || m.lbstatus > best.lbstatus) best = m;
    };
    let maxLbset = 0;
    for (const m of list) if (m.lbset > maxLbset) maxLbset = m.lbset;

    for (let lbset = 0; !best && lbset <= maxLbset; lbset++) {
      let unusable = 0;
      const spares: MemberState[] = [];
      const standbys: MemberState[] = [];
      for (const m of list) {
        if (m.lbset !== lbset) continue;
        // A draining member that is neither spare nor standby counts as unusable, so a spare
        // may replace it.
        if (m.status.drain) {
          if (!m.status.hotSpare && !m.status.hotStandby) unusable++;
          continue;
        }
        // Already tried for this request: httpd would find it in error on the failover pass.
        if (exclude.has(m.route)) {
          if (!m.status.hotSpare && !m.status.hotStandby) unusable++;
          continue;
        }
        if (!isUsable(m)) retryWorker(m, now, retryMs);
        if (m.status.hotSpare) {
          if (isUsable(m)) spares.push(m);
        } else if (m.status.hotStandby) {
          if (isUsable(m)) standbys.push(m);
        } else if (isUsable(m)) {
          offer(m);
        } else {
          unusable++;
        }
      }
      // Spares replace unusable members one for one, in config order.
      for (let i = 0; i < spares.length && i < unusable; i++) offer(spares[i]!);
      if (!best) for (const m of standbys) offer(m);
    }
    if (best) credit(best, -total);
    return best;
  }

  function choose(requestedRoute: string, now: number, exclude: ReadonlySet<string> = NONE): Choice {
    forceRecoveryIfAllInError(now);

    if (requestedRoute !== "") {
      const member = findRouteMember(requestedRoute, 1, now, exclude);
      if (member) {
        // proxy_balancer_pre_request's default updatelbstatus (byrequests has none): every usable
        // member of every lbset — draining, spares and standbys included — gains its lbfactor and
        // the chosen one pays the total, so sticky traffic counts against new sessions.
        let total = 0;
        for (const m of list) {
          if (isUsable(m) && !exclude.has(m.route)) {
            credit(m, m.lbfactor);
            total += m.lbfactor;
          }
        }
        credit(member, -total);
        member.elected++;
        // Redirect case: httpd sets BALANCER_ROUTE_CHANGED when the worker's route differs.
        return { ok: true, route: member.route, sticky: true, routeChanged: member.route !== requestedRoute };
      }
      // nofailover (sticky_force) only refuses routes that name a member; a stale or foreign
      // route is balanced like a request without one.
      if (nofailover && byRoute.has(requestedRoute)) {
        return {
          ok: false,
          kind: "no-member",
          reason: `member for route "${requestedRoute}" is unusable and nofailover is on`,
        };
      }
    }

    const best = getBest(now, exclude);
    if (!best) {
      return {
        ok: false,
        kind: "no-member",
        reason: "no usable member (all disabled, stopped, draining, in error or already tried)",
      };
    }
    best.elected++;
    // With a stickysession configured httpd always sets BALANCER_ROUTE_CHANGED on this path:
    // either there was no route or the session moves to another node.
    return { ok: true, route: best.route, sticky: false, routeChanged: true };
  }

  function markDown(route: string, now: number): void {
    const m = get(route);
    if (m.status.ignoreErrors) return;
    // httpd refreshes error_time on every failure, so the retry window restarts.
    m.inError = true;
    m.errorSince = now;
    m.errors++;
  }

  function markUp(route: string): void {
    const m = get(route);
    if (m.inError) leaveError(m);
  }

  function requestFailed(route: string, now: number): boolean {
    const m = get(route);
    if (fails === 0 || m.inError || m.status.ignoreErrors) return false;
    if (++m.failStreak < fails) return false;
    markDown(route, now);
    m.failStreak = 0;
    return true;
  }

  function requestSucceeded(route: string): void {
    get(route).failStreak = 0;
  }

  /** balancer_process_balancer_worker() for one member. Validates everything before changing anything. */
  function update(route: string, patch: MemberPatch): void {
    const m = get(route);
    const lbfactor = patch.loadfactor !== undefined ? toLbfactor(patch.loadfactor, route) : undefined;
    const lbset = patch.lbset !== undefined ? checkLbset(patch.lbset, route) : undefined;
    const redirect = patch.redirect !== undefined ? checkRedirect(route, patch.redirect) : undefined;
    const status = { ...m.status };
    applyStatus(status, patch.status, route);

    const wasUsable = isUsable(m);
    if (lbfactor !== undefined) {
      m.lbfactor = lbfactor;
      // recalc_factors(): every lbstatus restarts at its lbfactor; a lone member is forced to 100.
      if (list.length === 1) {
        m.lbfactor = 100;
        m.lbstatus = 100;
      } else {
        for (const x of list) x.lbstatus = x.lbfactor;
      }
      setCreditLimit();
    }
    if (redirect !== undefined) m.redirect = redirect;
    m.status = status;
    if (lbset !== undefined) m.lbset = lbset;
    // "if enabling, we need to reset all lb params": need_reset → byrequests reset() zeroes
    // every lbstatus, so the returning member does not get a burst from a stale score.
    if (!wasUsable && isUsable(m)) for (const x of list) x.lbstatus = 0;
  }

  function snapshot(now: number): MemberView[] {
    return list.map((m) => {
      const retryAt = m.inError && !m.status.stopped ? m.errorSince + retryMs : null;
      return {
        route: m.route,
        loadfactor: m.lbfactor / 100,
        lbfactor: m.lbfactor,
        lbset: m.lbset,
        redirect: m.redirect,
        status: { ...m.status },
        usable: isUsable(m),
        inError: m.inError,
        errorSince: m.inError ? m.errorSince : null,
        retryAt,
        retryInMs: retryAt === null ? null : m.status.ignoreErrors ? 0 : Math.max(0, retryAt - now),
        lbstatus: m.lbstatus,
        elected: m.elected,
        retries: m.retries,
        errors: m.errors,
        failStreak: m.failStreak,
      };
    });
  }

  function carry(route: string): MemberCarry | undefined {
    const m = byRoute.get(route);
    if (!m) return undefined;
    const { route: _r, lbfactor, lbset, redirect, status, ...state } = m;
    return { state, spec: { lbfactor, lbset, redirect, status: { ...status } } };
  }

  return { choose, markDown, markUp, requestFailed, requestSucceeded, update, snapshot, maxAttempts, carry };
}
