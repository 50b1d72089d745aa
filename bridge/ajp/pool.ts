import { OxError } from "../../common/errors.ts";
import { AjpConnection } from "./connection.ts";
/**
 * The code of the cause when a pooled connection was opened but did not
 * answer CPing (`ping`): a code of our own, named like undici's UND_ERR_*,
 * which the cluster reads as the member's down cause (bridge/down-cause.ts).
 */
export const AJP_NO_CPONG = "AJP_NO_CPONG";

const NO_CPONG = Object.assign(new Error("no CPong"), { code: AJP_NO_CPONG });

export interface PoolOptions {
  host: string;
  port: number;
  packetSize: number;
  /** Hard cap of open (and opening) connections. */
  max: number;
  /** Idle connections kept regardless of ttl (Apache smax). */
  smax: number;
  ttlMs: number;
  connectTimeoutMs: number;
  /** CPing before reusing an idle connection; 0 = off. */
  pingMs: number;
  /** Longest wait for a free connection when all are busy. */
  acquireMs: number;
  /** Most requests allowed to wait at once. */
  queue: number;
  /** Clock for the idle ttl (tests pass their own); Date.now by default. */
  now?: () => number;
}

interface Waiter {
  resolve(c: AjpConnection): void;
  reject(e: OxError): void;
  timer: NodeJS.Timeout;
}

export interface PoolStats {
  open: number;
  idle: number;
  busy: number;
  waiting: number;
  created: number;
}

/**
 * Persistent AJP connections to one node. Idle connections are reused last-in
 * first-out (the warmest socket, and the cold ones age out); when all `max`
 * are busy a bounded queue waits for one, and beyond that the caller gets
 * pool-exhausted at once instead of piling up.
 *
 * Only timers on waiting requests and one slow sweep; the common path (an idle
 * connection is there) takes no timer at all.
 */
export class NodePool {
  private readonly idle: AjpConnection[] = [];
  private readonly waiters: Waiter[] = [];
  /** Open (and opening) connections: the slots `max` bounds. */
  private total = 0;
  /**
   * The connected ones among them. forget() takes a connection out (and its
   * slot back) exactly once, whether the pool dropped it or its socket closed.
   */
  private readonly counted = new Set<AjpConnection>();
  private created = 0;
  private closed = false;
  private readonly sweeper: NodeJS.Timeout;
  private readonly now: () => number;

  constructor(readonly o: PoolOptions) {
    this.now = o.now ?? Date.now;
    this.sweeper = setInterval(() => this.sweep(this.now()), Math.max(250, Math.min(o.ttlMs / 2, 5000)));
    this.sweeper.unref();
  }

  stats(): PoolStats {
    return { open: this.total, idle: this.idle.length, busy: this.total - this.idle.length, waiting: this.waiters.length, created: this.created };
  }

  /**
   * A connection ready for one exchange. Rejects with connect-failed when a
   * new connection (or its CPing) fails: nothing of the request was sent, so
   * the caller may try another node. Rejects with pool-exhausted when the
   * queue is full or the wait is over.
   */
  async acquire(): Promise<AjpConnection> {
    if (this.closed) throw new OxError("connect-failed", "pool closed");
    for (let c = this.idle.pop(); c; c = this.idle.pop()) {
      if (!c.isOpen || this.now() - c.lastUsedAt >= this.o.ttlMs) {
        this.drop(c);
        continue;
      }
      // A stale socket found by CPing costs nothing: the request was not sent yet.
      if (this.o.pingMs > 0 && !(await c.cping(this.o.pingMs))) {
        this.drop(c);
        continue;
      }
      return c;
    }
    if (this.total < this.o.max) return this.open();
    if (this.waiters.length >= this.o.queue) {
      throw new OxError("pool-exhausted", `all ${this.o.max} connections to ${this.o.host}:${this.o.port} are busy and ${this.waiters.length} requests wait`, { retryAfter: 1 });
    }
    return new Promise<AjpConnection>((resolve, reject) => {
      const w: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          const i = this.waiters.indexOf(w);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(new OxError("pool-exhausted", `no free connection to ${this.o.host}:${this.o.port} within ${this.o.acquireMs} ms`, { retryAfter: 1 }));
        }, this.o.acquireMs),
      };
      this.waiters.push(w);
    });
  }

  private async open(): Promise<AjpConnection> {
    this.total++;
    let c: AjpConnection;
    try {
      c = await AjpConnection.connect(this.o);
    } catch (e) {
      this.total--;
      this.serveWaiters();
      throw e;
    }
    this.created++;
    // The connection stamps itself with Date.now(); the ttl is measured on the pool's clock.
    c.lastUsedAt = this.now();
    this.counted.add(c);
    c.onClose = () => this.forget(c);
    if (this.closed) {
      this.drop(c);
      throw new OxError("connect-failed", "pool closed");
    }
    if (this.o.pingMs > 0 && !(await c.cping(this.o.pingMs))) {
      this.drop(c);
      throw new OxError("connect-failed", `node ${this.o.host}:${this.o.port} accepted the connection but did not answer CPing within ${this.o.pingMs} ms`, { cause: NO_CPONG });
    }
    return c;
  }

  /** Give a connection back after an exchange. Only connections that ended with reuse=1 are still open. */
  release(c: AjpConnection): void {
    if (!c.isOpen || c.busy || this.closed) {
      this.drop(c);
      return;
    }
    c.lastUsedAt = this.now();
    const w = this.waiters.shift();
    if (w) {
      clearTimeout(w.timer);
      w.resolve(c);
      return;
    }
    this.idle.push(c);
  }

  /**
   * Close a connection and free its slot now. Waiting for the socket's close
   * event instead would count a connection given up for dead as busy until
   * then: at `max`, the request that dropped it would find the pool full and
   * wait, or be refused with pool-exhausted when there is no queue.
   */
  private drop(c: AjpConnection): void {
    c.destroy();
    this.forget(c);
  }

  private forget(c: AjpConnection): void {
    if (!this.counted.delete(c)) return;
    this.total--;
    const i = this.idle.indexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
    this.serveWaiters();
  }

  /** A slot freed up: open a connection for the longest-waiting request. */
  private serveWaiters(): void {
    if (this.closed || this.waiters.length === 0 || this.total >= this.o.max) return;
    const w = this.waiters.shift()!;
    clearTimeout(w.timer);
    this.open().then(w.resolve, w.reject);
  }

  /** Apache ttl/smax: idle connections beyond the first smax that sat unused for ttl are closed. */
  sweep(now: number = this.now()): void {
    // idle is ordered by last use (LIFO reuse takes from the end), so idle[0] waited longest.
    while (this.idle.length > this.o.smax && now - this.idle[0].lastUsedAt >= this.o.ttlMs) this.drop(this.idle.shift()!);
  }

  close(): void {
    this.closed = true;
    clearInterval(this.sweeper);
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(new OxError("connect-failed", "pool closed"));
    }
    for (const c of this.idle.splice(0)) this.drop(c);
  }
}
