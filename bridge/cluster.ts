import { OxError } from "../common/errors.ts";
import { AjpConnection } from "./ajp/connection.ts";
import { NodePool } from "./ajp/pool.ts";
import { createBalancer, type Balancer, type MemberView } from "./balancer.ts";
import type { BridgeConfig, MemberConfig } from "./config.ts";
import type { Logger } from "./log.ts";

export interface Member {
  config: MemberConfig;
  pool: NodePool;
}

export interface Lease {
  member: Member;
  conn: AjpConnection;
  /** The route the client asked for was not the one that serves it (session moved or new). */
  routeChanged: boolean;
}

/**
 * The members, their pools and the balancer, with the one rule that joins
 * them: a node counts as down only when it cannot take a request at all
 * (connect refused or timed out, CPing unanswered). That is also the only
 * case where the request moves to another node, because nothing of it was
 * sent. A slow or failed request does not take a node out.
 */
export class Cluster {
  readonly members = new Map<string, Member>();
  readonly balancer: Balancer;
  private readonly healthTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly config: BridgeConfig,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    for (const m of config.members) {
      this.members.set(m.route, {
        config: m,
        pool: new NodePool({
          host: m.host,
          port: m.port,
          packetSize: m.packetSize,
          max: m.max,
          smax: m.smax,
          ttlMs: m.ttlMs,
          connectTimeoutMs: m.connectTimeoutMs,
          pingMs: m.pingMs,
          acquireMs: m.acquireMs,
          queue: m.queue,
        }),
      });
    }
    this.balancer = createBalancer(
      config.members.map((m) => m.spec),
      {
        retryMs: config.balancer.retryMs,
        nofailover: config.balancer.nofailover,
        forceRecovery: config.balancer.forceRecovery,
        maxAttempts: config.balancer.maxAttempts,
      },
    );
    if (config.balancer.healthcheckMs > 0) {
      this.healthTimer = setInterval(() => void this.healthCheck(), config.balancer.healthcheckMs);
      this.healthTimer.unref();
    }
  }

  /**
   * A connection to the member for this route (or the balancer's choice),
   * failing over while nodes turn out to be down. Rejects with no-member,
   * connect-failed or pool-exhausted.
   */
  async lease(route: string): Promise<Lease> {
    const tried = new Set<string>();
    let last: OxError | undefined;
    for (let attempt = 0; attempt <= this.balancer.maxAttempts; attempt++) {
      const choice = this.balancer.choose(route, this.now(), tried);
      if (!choice.ok) throw last ?? new OxError("no-member", choice.reason, { retryAfter: 5 });
      const member = this.members.get(choice.route)!;
      try {
        const conn = await member.pool.acquire();
        return { member, conn, routeChanged: choice.routeChanged };
      } catch (e) {
        if (!(e instanceof OxError) || e.kind !== "connect-failed") throw e;
        this.markDown(member, e.message);
        tried.add(choice.route);
        last = e;
      }
    }
    throw last ?? new OxError("no-member", "no member could take the request");
  }

  markDown(member: Member, why: string): void {
    this.balancer.markDown(member.config.route, this.now());
    this.log("warn", "member down", { route: member.config.route, address: `${member.config.host}:${member.config.port}`, why, retry_s: this.config.balancer.retryMs / 1000 });
  }

  /**
   * Members in error are probed with CPing so that a node that is still down
   * stays out (its retry window restarts) instead of a user request being the
   * probe; healthy members are probed too, which catches a hung node that
   * still accepts TCP.
   */
  async healthCheck(): Promise<void> {
    const timeout = Math.min(2000, this.config.balancer.healthcheckMs);
    const views = this.balancer.snapshot(this.now());
    await Promise.all(
      views.map(async (view) => {
        const m = this.members.get(view.route)!;
        if (view.status.stopped || view.status.disabled) return;
        let ok = false;
        try {
          const c = await AjpConnection.connect({ host: m.config.host, port: m.config.port, connectTimeoutMs: timeout, packetSize: m.config.packetSize });
          ok = await c.cping(timeout);
          c.destroy();
        } catch {
          ok = false;
        }
        if (!ok && !view.status.ignoreErrors) this.markDown(m, "health check: no CPong");
      }),
    );
  }

  /** For the status page and tests. */
  status(): { members: (MemberView & { address: string; pool: ReturnType<NodePool["stats"]> })[] } {
    const views = this.balancer.snapshot(this.now());
    return {
      members: views.map((v) => {
        const m = this.members.get(v.route)!;
        return { ...v, address: `${m.config.host}:${m.config.port}`, pool: m.pool.stats() };
      }),
    };
  }

  close(): void {
    if (this.healthTimer) clearInterval(this.healthTimer);
    for (const m of this.members.values()) m.pool.close();
  }
}
