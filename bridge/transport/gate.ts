import { OxError } from "../../common/errors.ts";

const OPEN: Promise<void> = Promise.resolve();

/**
 * Apache's `max`, `acquire` and `queue` for a transport whose client pools
 * connections itself (undici): at most `max` exchanges at once, a bounded
 * queue that waits up to `acquireMs`, and beyond it pool-exhausted at once,
 * so requests never pile up in the client's own unbounded queue.
 */
export class Gate {
  private active = 0;
  private readonly waiters: { resolve(): void; timer: NodeJS.Timeout }[] = [];

  constructor(
    private readonly max: number,
    private readonly queue: number,
    private readonly acquireMs: number,
    private readonly what: string,
  ) {}

  get waiting(): number {
    return this.waiters.length;
  }

  /** Resolves when the exchange may start; rejects with pool-exhausted. Every resolve must be matched by one leave(). */
  enter(): Promise<void> {
    if (this.active < this.max) {
      this.active++;
      return OPEN;
    }
    if (this.waiters.length >= this.queue) {
      return Promise.reject(new OxError("pool-exhausted", `all ${this.max} connections to ${this.what} are busy and ${this.waiters.length} requests wait`, { retryAfter: 1 }));
    }
    return new Promise<void>((resolve, reject) => {
      const w = {
        resolve,
        timer: setTimeout(() => {
          const i = this.waiters.indexOf(w);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(new OxError("pool-exhausted", `no free connection to ${this.what} within ${this.acquireMs} ms`, { retryAfter: 1 }));
        }, this.acquireMs),
      };
      this.waiters.push(w);
    });
  }

  /** The slot goes to the longest waiter, or back. */
  leave(): void {
    const w = this.waiters.shift();
    if (w) {
      clearTimeout(w.timer);
      w.resolve();
    } else this.active--;
  }

  /** Exchanges running now. */
  get busy(): number {
    return this.active;
  }
}
