import type { Readable } from "node:stream";
import { takeInto } from "./chunk-queue.ts";

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
   * Resolves once copyInto() has an answer: bytes are queued, the body ended,
   * or the client failed. Resumes the source if it was paused.
   */
  async whenReadable(): Promise<void> {
    while (this.queue.length === 0 && !this.ended && !this.failure) {
      this.source.resume();
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
    if (this.queue.length === 0) {
      if (this.failure) throw this.failure;
      return this.ended ? null : undefined;
    }
    const filled = Math.min(n, this.queued, dest.length - offset);
    takeInto(this.queue, filled, dest, offset);
    this.queued -= filled;
    this.taken += filled;
    if (this.queued < this.highWater && !this.ended) this.source.resume();
    return filled;
  }

  /** Stop reading (the node will not ask for the rest). */
  detach(): void {
    this.source.off("data", this.onData);
    this.queue.length = 0;
    this.queued = 0;
  }
}
