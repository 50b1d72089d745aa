import { takeInto } from "./chunk-queue.ts";
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
 *
 * When much of an unfinished packet is still to come (large packets), the
 * caller can read the rest straight into place (fillTarget / filled) instead
 * of into its read buffer: the packet is then copied only once, its start.
 */
export type Frame =
  | { kind: "packet"; payload: Buffer }
  | { kind: "need-more" }
  | { kind: "error"; reason: string };

const NEED_MORE: Frame = { kind: "need-more" };

/** Missing bytes of an unfinished packet from which reading them into place pays (see fillTarget). */
const FILL_MIN = 16 * 1024;

export class PacketReader {
  private chunks: Buffer[] = [];
  private size = 0;
  private failed: string | undefined;
  /** Holds an unfinished packet between reads (see retain). */
  private carry: Buffer | undefined;
  /** Holds a packet assembled from pieces; replaced when a consumer may still hold it (see release). */
  private joined: Buffer | undefined;
  /** The packet in carry being read into place: bytes there so far, and its whole length. */
  private filling: { have: number; need: number } | undefined;

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
    if (this.filling) throw new Error("PacketReader: push() while a packet is being read into place (use filled())");
    this.chunks.push(chunk);
    this.size += chunk.length;
  }

  /**
   * Where the next read should go when it is worth reading the rest of the
   * unfinished packet straight into place (set up by retain): a view of
   * exactly the missing bytes. Undefined otherwise; then read as usual and
   * push().
   */
  fillTarget(): Buffer | undefined {
    const f = this.filling;
    return f && this.carry ? this.carry.subarray(f.have, f.need) : undefined;
  }

  /** n bytes were read into the view fillTarget() gave. */
  filled(n: number): void {
    const f = this.filling;
    if (!f || !this.carry || n < 0 || f.have + n > f.need) throw new Error("PacketReader: filled() without a matching fillTarget()");
    f.have += n;
    this.chunks = [this.carry.subarray(0, f.have)];
    this.size = f.have;
    if (f.have === f.need) this.filling = undefined;
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
    if (this.size === 0 || this.failed || this.filling) return;
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
    if (at >= HEADER_LEN) {
      const need = HEADER_LEN + ((carry[2] << 8) | carry[3]);
      // Worth a read of its own only when much is missing: small packets keep arriving whole in
      // ordinary reads, several at a time.
      if (need - at >= FILL_MIN && need <= room) this.filling = { have: at, need };
    }
  }

  /**
   * The consumer still holds payloads returned since the last call (e.g.
   * queued for a slow client): an assembled packet must then not be
   * overwritten, so the next one gets a new buffer.
   */
  release(consumerHolds: boolean): void {
    if (!consumerHolds) return;
    this.joined = undefined;
    // A packet read into place was handed out as a view of carry; carry is free once no packet is pending in it.
    if (!this.filling && this.size === 0) this.carry = undefined;
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
    this.filling = undefined;
    return { kind: "error", reason };
  }
}
