import { OxError, type ErrorKind } from "../common/errors.ts";
import { transportFor } from "./transport/index.ts";
import { createBalancer, type Balancer, type MemberView } from "./balancer.ts";
import type { BridgeConfig, MemberConfig, MemberKind } from "./config.ts";
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
  readonly members = new Map<string, Member>();
  readonly balancer: Balancer;
  private readonly healthTimer: NodeJS.Timeout | undefined;
  private readonly probing = new Set<string>();
  /** Members whose transport has no WebSocket: never chosen for an upgrade. */
  private readonly noUpgrade = new Set<string>();

  constructor(
    readonly config: BridgeConfig,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    for (const m of config.members) {
      const transport = transportFor(m);
      this.members.set(m.route, { config: m, transport, tally: new MemberTally(), down: undefined });
      if (!transport.upgrade) this.noUpgrade.add(m.route);
    }
    this.balancer = createBalancer(
      config.members.map((m) => m.spec),
      {
        retryMs: config.balancer.retryMs,
        nofailover: config.balancer.nofailover,
        forceRecovery: config.balancer.forceRecovery,
        maxAttempts: config.balancer.maxAttempts,
        fails: config.balancer.fails,
      },
    );
    if (config.balancer.healthcheckMs > 0) {
      this.healthTimer = setInterval(() => void this.healthCheck(), config.balancer.healthcheckMs);
      this.healthTimer.unref();
    }
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
    for (const m of this.members.values()) m.transport.close();
  }
}
