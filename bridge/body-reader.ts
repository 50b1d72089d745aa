import type { Readable } from "node:stream";

/**
 * Pulls a client request body in pieces of at most `n` bytes, the way AJP
 * asks for it (GET_BODY_CHUNK), with explicit back-pressure: the source is
 * paused once `highWater` bytes are queued, so a fast client cannot make the
 * bridge hold more than about highWater + one socket read per request.
 *
 * Chunks are handed out as views of what the source emitted; only a piece
 * that spans several of them is copied together.
 */
export class BodyReader {
  private readonly queue: Buffer[] = [];
  private queued = 0;
  private ended = false;
  private failure: Error | undefined;
  private waiter: (() => void) | undefined;
  /** Bytes handed out so far. */
  taken = 0;

  constructor(
    private readonly source: Readable,
    private readonly highWater = 64 * 1024,
  ) {
    source.on("data", this.onData);
    source.once("end", this.onEnd);
    source.once("error", this.onError);
    source.once("close", this.onClose);
    // The client may have left before we got here: its events are already past.
    if (source.readableEnded) this.ended = true;
    else if (source.destroyed) this.failure = new Error("client closed the request before its body was complete");
  }

  private onData = (chunk: Buffer): void => {
    this.queue.push(chunk);
    this.queued += chunk.length;
    if (this.queued >= this.highWater) this.source.pause();
    this.wake();
  };

  private onEnd = (): void => {
    this.ended = true;
    this.wake();
  };

  private onError = (err: Error): void => {
    this.failure ??= err;
    this.wake();
  };

  private onClose = (): void => {
    if (!this.ended) this.failure ??= new Error("client closed the request before its body was complete");
    this.wake();
  };

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  /** Bytes received from the client and not yet handed out. */
  get buffered(): number {
    return this.queued;
  }

  get done(): boolean {
    return this.ended && this.queued === 0;
  }

  /**
   * Up to n bytes (at least 1), null at the end of the body. Rejects when the
   * client went away before the body was complete.
   */
  async take(n: number): Promise<Buffer | null> {
    for (;;) {
      const got = this.poll(n);
      if (got !== undefined) return got;
      this.source.resume();
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }

  /**
   * take() without waiting: up to n bytes, null at the end, undefined when
   * nothing is there yet. Most answers to the node's body requests are served
   * from what is already queued, without a promise per packet.
   */
  poll(n: number): Buffer | null | undefined {
    if (this.queue.length > 0) return this.shift(n);
    if (this.failure) throw this.failure;
    if (this.ended) return null;
    return undefined;
  }

  private shift(n: number): Buffer {
    const head = this.queue[0];
    let out: Buffer;
    if (head.length >= n) {
      out = head.subarray(0, n);
      if (head.length === n) this.queue.shift();
      else this.queue[0] = head.subarray(n);
    } else if (this.queue.length === 1) {
      this.queue.shift();
      out = head;
    } else {
      // Fill the packet from several queued chunks: every short packet costs
      // the node one more GET_BODY_CHUNK round trip, which is what bounds
      // upload speed (client reads arrive in arbitrary sizes).
      out = Buffer.allocUnsafe(Math.min(n, this.queued));
      let filled = 0;
      while (filled < out.length) {
        const c = this.queue[0];
        const take = Math.min(c.length, out.length - filled);
        c.copy(out, filled, 0, take);
        filled += take;
        if (take === c.length) this.queue.shift();
        else this.queue[0] = c.subarray(take);
      }
    }
    this.queued -= out.length;
    this.taken += out.length;
    if (this.queued < this.highWater && !this.ended) this.source.resume();
    return out;
  }

  /** Stop reading (the node will not ask for the rest). */
  detach(): void {
    this.source.off("data", this.onData);
    this.queue.length = 0;
    this.queued = 0;
  }
}
