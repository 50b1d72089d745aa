import { HEADER_LEN } from "./codes.ts";

/**
 * AJP framing: turns a byte stream into packet payloads. Socket-free so it is
 * tested with byte arrays; a packet may arrive split over reads and one read
 * may hold several packets.
 *
 * Payloads are views into the pushed chunks whenever a packet lies inside one
 * chunk, so body data is not copied; a packet spread over several reads is
 * joined once, when it is complete (never re-copied per read).
 */
export type Frame =
  | { kind: "packet"; payload: Buffer }
  | { kind: "need-more" }
  | { kind: "error"; reason: string };

const NEED_MORE: Frame = { kind: "need-more" };

export class PacketReader {
  private readonly chunks: Buffer[] = [];
  private size = 0;
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
    if (this.chunks[0].length < HEADER_LEN) this.join(HEADER_LEN);
    const head = this.chunks[0];
    const magic = head.readUInt16BE(0);
    if (magic !== this.magic) return this.fail(`bad magic 0x${magic.toString(16).padStart(4, "0")}`);
    const len = head.readUInt16BE(2);
    if (len > this.maxPayload) return this.fail(`packet length ${len} exceeds the maximum ${this.maxPayload}`);
    const end = HEADER_LEN + len;
    if (this.size < end) return NEED_MORE;
    if (this.chunks[0].length < end) this.join(end);
    const first = this.chunks[0];
    const payload = first.subarray(HEADER_LEN, end);
    if (end === first.length) this.chunks.shift();
    else this.chunks[0] = first.subarray(end);
    this.size -= end;
    return { kind: "packet", payload };
  }

  /** Make chunks[0] hold at least n bytes (n <= size), copying only what is needed. */
  private join(n: number): void {
    let have = 0;
    let count = 0;
    while (have < n) have += this.chunks[count++].length;
    this.chunks.splice(0, count, Buffer.concat(this.chunks.slice(0, count), have));
  }

  private fail(reason: string): Frame {
    // A framing error leaves the stream out of step for good: every later call fails too.
    this.failed = reason;
    this.chunks.length = 0;
    this.size = 0;
    return { kind: "error", reason };
  }
}
