import { OxError, type ErrorKind } from "../common/errors.ts";
import { transportFor } from "./transport/index.ts";
import { createBalancer, type Balancer, type MemberCarry, type MemberView } from "./balancer.ts";
import type { BridgeConfig, MemberConfig, MemberKind } from "./config.ts";
import { Drain } from "./drain.ts";
import type { ReloadPlan } from "./reload-plan.ts";
import type { ExchangeControl, ExchangeOutcome, ProxyRequest, ResponseSink, Transport, TransportStats, UpgradeOutcome, UpgradeRequest } from "./exchange.ts";
import { connectCause, type DownCause } from "./down-cause.ts";
import type { Logger } from "./log.ts";
import { MemberTally, type MemberStats } from "./tally.ts";

export interface Member {
  config: MemberConfig;
  transport: Transport;
  /** Its counts (status(), /metrics); a reload that keeps the route should keep them. */
  tally: MemberTally;
  /** Since when and why it is down, as last logged; undefined while up. */
  down: { since: number; cause: DownCause } | undefined;
}

/** A member as the config declares it: its own transport (pool), counts from zero, up. */
function newMember(config: MemberConfig): Member {
  return { config, transport: transportFor(config), tally: new MemberTally(), down: undefined };
}

/** Failures that say something about the node, counted towards `fails`. */
const NODE_SIDE: ReadonlySet<ErrorKind> = new Set(["backend-protocol", "backend-aborted", "backend-timeout"]);

/**
 * The members, their transports and the balancer, with the rules that join
 * them: a node counts as down when it cannot take a request at all (connect
 * refused or timed out, CPing unanswered), or when its requests fail on its
 * side `fails` times in a row. Only the first case moves a request to
 * another node, because only then was nothing of it sent. One slow or
 * failed request does not take a node out.
 */
export class Cluster {
  /**
   * Replaced as a whole by a reload, never changed in place: a request that
   * holds a Member keeps a consistent one, and a member still in this map
   * under its route (the same object) is the one the balancer knows.
   */
  members = new Map<string, Member>();
  balancer: Balancer;
  config: BridgeConfig;
  private healthTimer: NodeJS.Timeout | undefined;
  private readonly probing = new Set<string>();
  /** Members whose transport has no WebSocket: never chosen for an upgrade. */
  private noUpgrade = new Set<string>();
  /** Members a reload removed (or replaced), finishing what they carry: docs/lifecycle.md, Reload. */
  private readonly retiring = new Map<Member, Drain>();

  constructor(
    config: BridgeConfig,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.config = config;
    for (const m of config.members) this.members.set(m.route, newMember(m));
    this.balancer = this.newBalancer(config);
    this.settle();
  }

  private newBalancer(config: BridgeConfig, carried?: ReadonlyMap<string, { carry: MemberCarry; keepSpec: boolean }>): Balancer {
    const b = config.balancer;
    return createBalancer(config.members.map((m) => m.spec), { retryMs: b.retryMs, nofailover: b.nofailover, forceRecovery: b.forceRecovery, maxAttempts: b.maxAttempts, fails: b.fails }, carried);
  }

  /** What follows from the members and settings in force: which can upgrade, the health timer. */
  private settle(): void {
    this.noUpgrade = new Set([...this.members.values()].filter((m) => !m.transport.upgrade).map((m) => m.config.route));
    if (this.healthTimer) clearInterval(this.healthTimer);
    this.healthTimer = undefined;
    if (this.config.balancer.healthcheckMs > 0) {
      this.healthTimer = setInterval(() => void this.healthCheck(), this.config.balancer.healthcheckMs);
      this.healthTimer.unref();
    }
  }

  /**
   * Apply a reload's plan (reload-plan.ts): kept and updated members keep
   * their transport and balancer state, new ones start fresh, and the old
   * members of removed or changed routes are drained within the grace, then
   * closed. Synchronous: no request sees half of it.
   */
  reconfigure(next: BridgeConfig, plan: ReloadPlan): void {
    const old = this.members;
    const kept = new Set(plan.kept);
    const retire = new Set(plan.retire);
    const members = new Map<string, Member>();
    const carried = new Map<string, { carry: MemberCarry; keepSpec: boolean }>();
    for (const m of next.members) {
      const o = old.get(m.route);
      if (o && !retire.has(m.route)) {
        // The same object: requests running on it still count for it.
        o.config = m;
        members.set(m.route, o);
        const carry = this.balancer.carry(m.route);
        if (carry) carried.set(m.route, { carry, keepSpec: kept.has(m.route) });
      } else members.set(m.route, newMember(m));
    }
    const balancer = this.newBalancer(next, carried);
    this.config = next;
    this.members = members;
    this.balancer = balancer;
    this.settle();
    for (const route of retire) this.retire(old.get(route)!);
  }

  private retire(m: Member): void {
    const t = m.transport;
    const requests = () => {
      const s = t.stats();
      return s.busy + s.waiting;
    };
    const drain = new Drain({ requests, websockets: () => t.stats().websockets, goAway: () => t.goAway?.() }, this.config.lifecycle.graceMs);
    this.retiring.set(m, drain);
    void drain.done.then((r) => {
      this.retiring.delete(m);
      t.close();
      const cut = r.requestsLeft + r.websocketsLeft;
      this.log(cut ? "warn" : "info", "member retired", { route: m.config.route, address: this.address(m), ms: r.ms, requests_cut: r.requestsLeft, websockets_cut: r.websocketsLeft });
    });
  }

  /** Every transport, in force or retiring: for the counts of a stop. */
  private transports(): Transport[] {
    return [...this.members.values(), ...this.retiring.keys()].map((m) => m.transport);
  }

  /** HTTP exchanges running or waiting for a connection, on every member. */
  requestsInFlight(): number {
    let n = 0;
    for (const t of this.transports()) {
      const s = t.stats();
      n += s.busy + s.waiting;
    }
    return n;
  }

  websocketsOpen(): number {
    let n = 0;
    for (const t of this.transports()) n += t.stats().websockets;
    return n;
  }

  /** Close every WebSocket with 1001 Going Away. */
  goAway(): void {
    for (const t of this.transports()) t.goAway?.();
  }

  /**
   * Run one request on the member for this route (or the balancer's
   * choice), failing over while nodes turn out to be down before anything
   * was sent, and tell the balancer how it went. Never rejects; the member
   * that ran it is control.route.
   */
  exchange(route: string, req: ProxyRequest, sink: ResponseSink, control: ExchangeControl): Promise<ExchangeOutcome> {
    return req.deadlineMs > 0 ? this.withDeadline(route, req, sink, control) : this.attempt(route, req, sink, control);
  }

  private async withDeadline(route: string, req: ProxyRequest, sink: ResponseSink, control: ExchangeControl): Promise<ExchangeOutcome> {
    const timer = setTimeout(() => control.abort(new OxError("backend-timeout", `exchange not complete within ${req.deadlineMs} ms`)), req.deadlineMs);
    try {
      return await this.attempt(route, req, sink, control);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Kept free of try/finally and of allocations on the way to the first
   * member: this runs for every request, and an async function of that
   * shape cost ~7 % of a small GET's instructions (measured with callgrind).
   */
  private async attempt(route: string, req: ProxyRequest, sink: ResponseSink, control: ExchangeControl): Promise<ExchangeOutcome> {
    let tried: Set<string> | undefined;
    let last: ExchangeOutcome | undefined;
    for (let attempt = 0; attempt <= this.balancer.maxAttempts; attempt++) {
      const choice = this.balancer.choose(route, this.now(), tried);
      if (!choice.ok) return last ?? { ok: false, error: control.aborted ?? new OxError("no-member", choice.reason, { retryAfter: 5 }), requestSent: false, responseStarted: false };
      const member = this.members.get(choice.route)!;
      control.route = choice.route;
      control.routeChanged = choice.routeChanged;
      const o = await member.transport.exchange(req, sink, control);
      // A reload while it ran may have taken the member out: its outcome then says nothing about the route.
      if (this.members.get(choice.route) !== member) return o;
      if (o.ok) {
        this.balancer.requestSucceeded(choice.route);
        if (member.down !== undefined) this.memberUp(member);
        return o;
      }
      if (o.error.kind === "connect-failed" && !o.requestSent) {
        member.tally.failovers++;
        this.memberDown(member, connectCause(o.error), o.error.message);
        (tried ??= new Set()).add(choice.route);
        last = o;
        if (control.aborted) return o;
        continue;
      }
      if (NODE_SIDE.has(o.error.kind) && this.balancer.requestFailed(choice.route, this.now())) {
        this.transition(member, "outlier", `${this.config.balancer.fails} requests in a row failed, the last with ${o.error.kind}: ${o.error.message}`);
      }
      return o;
    }
    return last ?? { ok: false, error: control.aborted ?? new OxError("no-member", "no member could take the request", { retryAfter: 5 }), requestSent: false, responseStarted: false };
  }

  /**
   * A WebSocket upgrade on the member for this route (or the balancer's
   * choice among the members that can carry one), failing over while nodes
   * refuse connections. A session whose node cannot carry a WebSocket (an
   * AJP member) is refused rather than moved: its client falls back to
   * long polling on its own node.
   */
  async upgrade(route: string, u: UpgradeRequest, control: ExchangeControl): Promise<UpgradeOutcome> {
    const own = this.members.get(route);
    if (own && !own.transport.upgrade) {
      return { ok: false, error: new OxError("no-member", `member ${route} is reached over ${own.config.kind}, which carries no WebSocket`, { retryAfter: 5 }), requestSent: false };
    }
    const tried = new Set<string>(this.noUpgrade);
    let last: UpgradeOutcome | undefined;
    for (let attempt = 0; attempt <= this.balancer.maxAttempts; attempt++) {
      const choice = this.balancer.choose(route, this.now(), tried);
      if (!choice.ok) return last ?? { ok: false, error: control.aborted ?? new OxError("no-member", choice.reason, { retryAfter: 5 }), requestSent: false };
      const member = this.members.get(choice.route)!;
      control.route = choice.route;
      control.routeChanged = choice.routeChanged;
      const o = await member.transport.upgrade!(u, control);
      if (o.ok && member.down !== undefined) this.memberUp(member);
      if (o.ok || o.error.kind !== "connect-failed" || o.requestSent) return o;
      member.tally.failovers++;
      this.memberDown(member, connectCause(o.error), o.error.message);
      tried.add(choice.route);
      last = o;
      if (control.aborted) return o;
    }
    return last ?? { ok: false, error: new OxError("no-member", "no member could take the WebSocket", { retryAfter: 5 }), requestSent: false };
  }

  private address(m: Member): string {
    return `${m.config.host}:${m.config.port}`;
  }

  /** The node cannot take a request: out of rotation for `retry`. */
  private memberDown(member: Member, cause: DownCause, why: string): void {
    if (this.members.get(member.config.route) !== member) return;
    this.balancer.markDown(member.config.route, this.now());
    // Its WebSockets would otherwise wait for their idle limit to notice.
    member.transport.closeWebSockets?.(`member down: ${why}`);
    this.transition(member, cause, why);
  }

  /**
   * The one place member state changes are logged (docs/observability.md,
   * "Member state changes"): "member down" once, when a member that was up
   * fails, and "member up" (memberUp) when it answers again. Failures in
   * between — a health check every few seconds, a retry refused again —
   * only at debug. An outlier streak is logged each time: it can only trip
   * on a member in rotation whose node answered, so it is news.
   */
  private transition(member: Member, cause: DownCause, why: string): void {
    const route = member.config.route;
    member.tally.failed(cause, why);
    if (member.down !== undefined && cause !== "outlier") {
      this.log("debug", "member still down", { route, cause, why });
      return;
    }
    // A retry that fails again keeps the time it first went down: "member up" says how long it was out.
    if (member.down === undefined) member.down = { since: this.now(), cause };
    else member.down.cause = cause;
    this.log("warn", "member down", { route, address: this.address(member), cause, why, retry_s: this.config.balancer.retryMs / 1000 });
  }

  /** It answered again (a request, or a health check once its retry window is over). */
  private memberUp(member: Member): void {
    const down = member.down!;
    member.down = undefined;
    this.log("info", "member up", { route: member.config.route, address: this.address(member), down_ms: this.now() - down.since, was: down.cause });
  }

  /** The counts of the member for this route; undefined when no member ran the request. */
  tallyOf(route: string): MemberTally | undefined {
    return route === "" ? undefined : this.members.get(route)?.tally;
  }

  /**
   * Every member not stopped or disabled is probed: a node still down stays
   * out (its retry window restarts) instead of a user request being the
   * probe, and a hung node that still accepts TCP is found.
   */
  async healthCheck(): Promise<void> {
    // A round run by hand with the timer off (healthcheck = 0) still gets its 2 s, not 0.
    const timeout = Math.min(2000, this.config.balancer.healthcheckMs || 2000);
    const views = this.balancer.snapshot(this.now());
    await Promise.all(
      views.map(async (view) => {
        // One probe per member at a time: a hung node must not collect a queue of them.
        if (view.status.stopped || view.status.disabled || this.probing.has(view.route)) return;
        const m = this.members.get(view.route)!;
        this.probing.add(view.route);
        try {
          const failure = await m.transport.probe(timeout);
          m.tally.healthResult(failure?.cause ?? "ok");
          if (failure === undefined) {
            // Back once the balancer would take it again; before, it only answers probes.
            if (m.down !== undefined && (!view.inError || view.retryInMs === 0)) this.memberUp(m);
          } else if (!view.status.ignoreErrors) this.memberDown(m, failure.cause, `health check: ${failure.message}`);
        } finally {
          this.probing.delete(view.route);
        }
      }),
    );
  }

  /** For the status page and tests. */
  status(): { members: (MemberView & { address: string; kind: MemberKind; pool: TransportStats; stats: MemberStats })[] } {
    const views = this.balancer.snapshot(this.now());
    return {
      members: views.map((v) => {
        const m = this.members.get(v.route)!;
        return { ...v, address: this.address(m), kind: m.config.kind, pool: m.transport.stats(), stats: m.tally.stats() };
      }),
    };
  }

  close(): void {
    if (this.healthTimer) clearInterval(this.healthTimer);
    for (const d of this.retiring.values()) d.shorten(0);
    for (const t of this.transports()) t.close();
  }
}
