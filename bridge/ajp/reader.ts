import { HEADER_LEN } from "./codes.ts";

/**
 * AJP framing: turns a byte stream into packet payloads. Socket-free so it is
 * tested with byte arrays; a packet may arrive split over reads and one read
 * may hold several packets.
 *
 * Payloads are views into the pushed chunks whenever a packet lies inside one
 * chunk, so body data is not copied; only a packet that straddles two reads
 * is joined.
 */
export type Frame =
  | { kind: "packet"; payload: Buffer }
  | { kind: "need-more" }
  | { kind: "error"; reason: string };

const NEED_MORE: Frame = { kind: "need-more" };

export class PacketReader {
  private pending: Buffer | undefined;
  private failed: string | undefined;

  /**
   * @param magic expected first two bytes (0x4142 from a container, 0x1234 from a proxy)
   * @param maxPayload largest payload allowed: the configured packet size minus the 4 header bytes
   */
  constructor(
    private readonly magic: number,
    private readonly maxPayload: number,
  ) {}

  push(chunk: Buffer): void {
    if (this.failed) return;
    this.pending = this.pending && this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
  }

  /** Bytes received but not yet returned as a packet. */
  get buffered(): number {
    return this.pending?.length ?? 0;
  }

  next(): Frame {
    if (this.failed) return { kind: "error", reason: this.failed };
    const buf = this.pending;
    if (!buf || buf.length < HEADER_LEN) return NEED_MORE;
    const magic = buf.readUInt16BE(0);
    if (magic !== this.magic) return this.fail(`bad magic 0x${magic.toString(16).padStart(4, "0")}`);
    const len = buf.readUInt16BE(2);
    if (len > this.maxPayload) return this.fail(`packet length ${len} exceeds the maximum ${this.maxPayload}`);
    const end = HEADER_LEN + len;
    if (buf.length < end) return NEED_MORE;
    const payload = buf.subarray(HEADER_LEN, end);
    this.pending = end === buf.length ? undefined : buf.subarray(end);
    return { kind: "packet", payload };
  }

  private fail(reason: string): Frame {
    // A framing error leaves the stream out of step for good: every later call fails too.
    this.failed = reason;
    this.pending = undefined;
    return { kind: "error", reason };
  }
}
