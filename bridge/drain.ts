/**
 * Letting something finish what it carries before it closes, bounded by a
 * grace period (docs/lifecycle.md): the bridge on SIGTERM, a member removed
 * by a reload. HTTP requests first, with WebSockets still relayed
 * meanwhile; then the WebSockets are asked to go away (close 1001, their
 * clients reconnect elsewhere); whatever is left when the grace is over is
 * for the caller to cut.
 */
export interface Drainable {
  /** HTTP exchanges still running (and waiting for a connection). */
  requests(): number;
  websockets(): number;
  /** Send close 1001 on every WebSocket; each ends once its close frames are out. */
  goAway(): void;
}

export interface DrainResult {
  /** What was left when the grace ran out (or the drain was hurried): to be cut. */
  requestsLeft: number;
  websocketsLeft: number;
  ms: number;
}

/** How often the counts are looked at: a drain is rare and short, a timer is simpler than events from every layer. */
const POLL_MS = 25;

export class Drain {
  private deadline: number;
  private wake: (() => void) | undefined;
  readonly done: Promise<DrainResult>;

  constructor(
    private readonly what: Drainable,
    graceMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.deadline = now() + graceMs;
    this.done = this.run();
  }

  /** Stop waiting: with 0 (a second SIGTERM) at once. A drain never gets longer. */
  shorten(graceMs: number): void {
    this.deadline = Math.min(this.deadline, this.now() + graceMs);
    this.wake?.();
  }

  private async run(): Promise<DrainResult> {
    const started = this.now();
    await this.until(() => this.what.requests() === 0);
    if (this.what.websockets() > 0 && this.now() < this.deadline) {
      this.what.goAway();
      await this.until(() => this.what.websockets() === 0);
    }
    return { requestsLeft: this.what.requests(), websocketsLeft: this.what.websockets(), ms: this.now() - started };
  }

  private async until(cond: () => boolean): Promise<void> {
    while (!cond() && this.now() < this.deadline) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(POLL_MS, Math.max(0, this.deadline - this.now())));
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }
}
