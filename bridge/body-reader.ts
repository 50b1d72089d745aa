import type { Readable } from "node:stream";
import { OxError } from "../common/errors.ts";
import { takeInto } from "./ajp/chunk-queue.ts";

/**
 * How slowly a client may send its body (mod_reqtimeout's body rule): it
 * may pause up to `timeoutMs`, and the whole body must have arrived by
 * `timeoutMs` plus one second per `minRate` bytes received. Time during
 * which we hold the client back (back-pressure) does not count.
 */
export interface BodyLimits {
  timeoutMs: number;
  /** Bytes per second; 0 = only the pause rule. */
  minRate: number;
  /** Called once when the client broke a rule, with the client-timeout error. */
  onViolation(err: OxError): void;
}

/**
 * Pulls a client request body in pieces of at most `n` bytes, the way AJP
 * asks for it (GET_BODY_CHUNK), with explicit back-pressure: the source is
 * paused once `highWater` bytes are queued, so a fast client cannot make the
 * bridge hold more than about highWater + one socket read per request.
 *
 * Bytes are copied out into the caller's packet buffer, so nothing the
 * caller writes points into the client's chunks.
 */
export class BodyReader {
  private readonly queue: Buffer[] = [];
  private queued = 0;
  private ended = false;
  private failure: Error | undefined;
  private waiter: (() => void) | undefined;
  /** Bytes handed out so far. */
  taken = 0;
  /** Bytes received from the client so far (the access log's bytes in). */
  received = 0;
  private paused = false;
  /** When the current run of reading began (ms): start, or the last resume after back-pressure. */
  private runStart = 0;
  /** Bytes received before the current run, and the time those runs took (the rate's share of them). */
  private receivedBefore = 0;
  private lastDataAt = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly source: Readable,
    private readonly highWater = 64 * 1024,
    private readonly limits?: BodyLimits,
  ) {
    source.on("data", this.onData);
    source.once("end", this.onEnd);
    source.once("error", this.onError);
    source.once("close", this.onClose);
    // The client may have left before we got here: its events are already past.
    if (source.readableEnded) this.ended = true;
    else if (source.destroyed) this.failure = new Error("client closed the request before its body was complete");
    else if (limits) {
      this.runStart = this.lastDataAt = Date.now();
      this.arm(limits.timeoutMs);
    }
  }

  private onData = (chunk: Buffer): void => {
    this.queue.push(chunk);
    this.queued += chunk.length;
    this.received += chunk.length;
    if (this.limits) this.lastDataAt = Date.now();
    if (this.queued >= this.highWater) this.pause();
    this.wake();
  };

  private onEnd = (): void => {
    this.ended = true;
    this.disarm();
    this.wake();
  };

  private pause(): void {
    this.source.pause();
    if (this.paused || !this.limits) return;
    // Held back by us, not slow: the clock stops, and the rate counts from the next run.
    this.paused = true;
    this.disarm();
    this.receivedBefore = this.received;
  }

  private resume(): void {
    this.source.resume();
    if (!this.paused) return;
    this.paused = false;
    if (this.ended || this.failure) return;
    this.runStart = this.lastDataAt = Date.now();
    this.arm(this.limits!.timeoutMs);
  }

  private arm(ms: number): void {
    this.timer = setTimeout(this.check, Math.max(1, ms));
    this.timer.unref();
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** One timer per body, re-armed for the nearer of the two limits only when it fires. */
  private check = (): void => {
    this.timer = undefined;
    const l = this.limits!;
    if (this.ended || this.failure || this.paused) return;
    const now = Date.now();
    const idleUntil = this.lastDataAt + l.timeoutMs;
    const rateUntil = l.minRate > 0 ? this.runStart + l.timeoutMs + ((this.received - this.receivedBefore) * 1000) / l.minRate : Infinity;
    if (now >= idleUntil) return this.violate(`client sent no body for ${l.timeoutMs} ms`);
    if (now >= rateUntil) return this.violate(`client sent its body slower than ${l.minRate} bytes/s`);
    this.arm(Math.min(idleUntil, rateUntil) - now);
  };

  private violate(reason: string): void {
    const err = new OxError("client-timeout", reason);
    this.failure = err;
    this.source.pause();
    this.wake();
    this.limits!.onViolation(err);
  }

  private onError = (err: Error): void => {
    this.failure ??= err;
    this.disarm();
    this.wake();
  };

  private onClose = (): void => {
    if (!this.ended) this.failure ??= new Error("client closed the request before its body was complete");
    this.disarm();
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
   * Resolves once copyInto() has an answer: bytes are queued, the body ended,
   * or the client failed. Resumes the source if it was paused.
   */
  async whenReadable(): Promise<void> {
    while (this.queue.length === 0 && !this.ended && !this.failure) {
      this.resume();
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }

  /**
   * Copies up to n queued bytes (at least 1) into dest at offset and returns
   * how many; null at the end of the body; undefined when nothing is queued
   * yet (see whenReadable). Throws when the client went away before the body
   * was complete.
   *
   * A packet is filled from as many queued chunks as it takes: every short
   * packet costs the node one more GET_BODY_CHUNK round trip, which is what
   * bounds upload speed (client reads arrive in arbitrary sizes). Copying
   * into the caller's reused packet buffer is cheaper than writing the
   * client's chunks behind a separate header (measured: the per-write stream
   * bookkeeping of a writev cost more than copying 8 KiB).
   */
  copyInto(dest: Buffer, offset: number, n: number): number | null | undefined {
    // A client that broke a limit gets nothing more through, even what is queued.
    if (this.failure instanceof OxError) throw this.failure;
    if (this.queue.length === 0) {
      if (this.failure) throw this.failure;
      return this.ended ? null : undefined;
    }
    const filled = Math.min(n, this.queued, dest.length - offset);
    takeInto(this.queue, filled, dest, offset);
    this.queued -= filled;
    this.taken += filled;
    if (this.queued < this.highWater && !this.ended) this.resume();
    return filled;
  }

  /**
   * The body as the client's own chunks, for a transport that writes a
   * stream (HTTP members): no copy, and the next chunk is read only when
   * the consumer asks for it, so the client is held back as far as the node
   * is. Throws like copyInto when the client fails or breaks a limit.
   */
  async *chunks(): AsyncGenerator<Buffer, void, undefined> {
    for (;;) {
      if (this.failure instanceof OxError) throw this.failure;
      const c = this.queue.shift();
      if (c !== undefined) {
        this.queued -= c.length;
        this.taken += c.length;
        if (this.queued < this.highWater && !this.ended) this.resume();
        yield c;
        continue;
      }
      if (this.failure) throw this.failure;
      if (this.ended) return;
      await this.whenReadable();
    }
  }

  /** Stop reading (the node will not ask for the rest). */
  detach(): void {
    this.disarm();
    this.source.off("data", this.onData);
    this.queue.length = 0;
    this.queued = 0;
  }
}
