import { takeInto } from "../chunk-queue.ts";
import { HEADER_LEN } from "./codes.ts";

/**
 * AJP framing: turns a byte stream into packet payloads. Socket-free so it is
 * tested with byte arrays; a packet may arrive split over reads and one read
 * may hold several packets.
 *
 * A packet that lies inside one pushed chunk is returned as a view of it (no
 * copy). A packet spread over several chunks is assembled once, when
 * complete, into a buffer the reader reuses; so is the unfinished packet the
 * caller asks it to keep (retain) before reusing its own read buffer. Steady
 * streaming therefore allocates no memory per read.
 */
export type Frame =
  | { kind: "packet"; payload: Buffer }
  | { kind: "need-more" }
  | { kind: "error"; reason: string };

const NEED_MORE: Frame = { kind: "need-more" };

export class PacketReader {
  private chunks: Buffer[] = [];
  private size = 0;
  private failed: string | undefined;
  /** Holds an unfinished packet between reads (see retain). */
  private carry: Buffer | undefined;
  /** Holds a packet assembled from pieces; replaced when a consumer may still hold it (see release). */
  private joined: Buffer | undefined;

  /**
   * @param magic expected first two bytes (0x4142 from a container, 0x1234 from a proxy)
   * @param maxPayload largest payload allowed: the configured packet size minus the 4 header bytes
   */
  constructor(
    private readonly magic: number,
    private readonly maxPayload: number,
  ) {}

  push(chunk: Buffer): void {
    if (this.failed || chunk.length === 0) return;
    this.chunks.push(chunk);
    this.size += chunk.length;
  }

  /** Bytes received but not yet returned as a packet. */
  get buffered(): number {
    return this.size;
  }

  next(): Frame {
    if (this.failed) return { kind: "error", reason: this.failed };
    if (this.size < HEADER_LEN) return NEED_MORE;
    const magic = (this.byteAt(0) << 8) | this.byteAt(1);
    if (magic !== this.magic) return this.fail(`bad magic 0x${magic.toString(16).padStart(4, "0")}`);
    const len = (this.byteAt(2) << 8) | this.byteAt(3);
    if (len > this.maxPayload) return this.fail(`packet length ${len} exceeds the maximum ${this.maxPayload}`);
    const end = HEADER_LEN + len;
    if (this.size < end) return NEED_MORE;
    if (this.chunks[0].length < end) this.assemble(end);
    const first = this.chunks[0];
    const payload = first.subarray(HEADER_LEN, end);
    if (end === first.length) this.chunks.shift();
    else this.chunks[0] = first.subarray(end);
    this.size -= end;
    return { kind: "packet", payload };
  }

  /**
   * Copy the unfinished packet out of the pushed chunks so the caller may
   * reuse the memory it pushed. Call it after next() said need-more: then at
   * most one unfinished packet is pending.
   */
  retain(): void {
    if (this.size === 0 || this.failed) return;
    const room = this.maxPayload + HEADER_LEN;
    if (this.size > room) {
      this.chunks = [Buffer.concat(this.chunks, this.size)];
      return;
    }
    const carry = (this.carry ??= Buffer.allocUnsafe(room));
    // A pending piece already in carry starts at its offset 0 (it is never partly consumed), so
    // copying front to back never overwrites bytes still to be copied.
    let at = 0;
    for (const c of this.chunks) at += c.copy(carry, at);
    this.chunks = [carry.subarray(0, at)];
  }

  /**
   * The consumer still holds payloads returned since the last call (e.g.
   * queued for a slow client): an assembled packet must then not be
   * overwritten, so the next one gets a new buffer.
   */
  release(consumerHolds: boolean): void {
    if (consumerHolds) this.joined = undefined;
  }

  private byteAt(i: number): number {
    for (const c of this.chunks) {
      if (i < c.length) return c[i];
      i -= c.length;
    }
    return 0;
  }

  /** Make chunks[0] hold exactly the first n bytes (n <= size and n <= a whole packet). */
  private assemble(n: number): void {
    const out = (this.joined ??= Buffer.allocUnsafe(this.maxPayload + HEADER_LEN));
    takeInto(this.chunks, n, out, 0);
    this.chunks.unshift(out.subarray(0, n));
  }

  private fail(reason: string): Frame {
    // A framing error leaves the stream out of step for good: every later call fails too.
    this.failed = reason;
    this.chunks = [];
    this.size = 0;
    return { kind: "error", reason };
  }
}
