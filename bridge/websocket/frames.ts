import { randomBytes } from "node:crypto";

/**
 * WebSocket frame boundaries in a byte stream (RFC 6455 §5.2), without
 * unmasking or copying payloads: the relay passes bytes through as they
 * come and needs only to know where one frame ends, so that it can put a
 * ping of its own between two frames (control frames may go between the
 * fragments of a message, never inside a frame).
 */
export class FrameBoundaries {
  /** Payload bytes of the current frame still to come; 0 with no header pending = at a boundary. */
  private payloadLeft = 0;
  /** A frame header split over reads: its bytes so far. */
  private header: number[] = [];
  /** The stream is not WebSocket framing (a header we cannot read): stop looking. */
  broken = false;

  get atBoundary(): boolean {
    return !this.broken && this.payloadLeft === 0 && this.header.length === 0;
  }

  /**
   * Walks `chunk` and returns the offsets (within it) where a frame ends
   * and the next has not begun, in order; the end of the chunk is one of
   * them when a frame ends exactly there.
   */
  scan(chunk: Buffer): number[] {
    const ends: number[] = [];
    let i = 0;
    while (i < chunk.length && !this.broken) {
      if (this.payloadLeft > 0) {
        const take = Math.min(this.payloadLeft, chunk.length - i);
        this.payloadLeft -= take;
        i += take;
        if (this.payloadLeft === 0) ends.push(i);
        continue;
      }
      this.header.push(chunk[i++]);
      const need = headerLength(this.header);
      if (need === undefined || this.header.length < need) continue;
      const len = payloadLength(this.header);
      this.header.length = 0;
      if (len === undefined) {
        this.broken = true;
        break;
      }
      this.payloadLeft = len;
      if (len === 0) ends.push(i);
    }
    return ends;
  }
}

/** Length of the header given its first bytes, or undefined until two are known. */
function headerLength(h: number[]): number | undefined {
  if (h.length < 2) return undefined;
  const len7 = h[1] & 0x7f;
  const masked = (h[1] & 0x80) !== 0;
  return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (masked ? 4 : 0);
}

/** Payload length from a whole header; undefined for one beyond 2^53 (not a stream we can follow). */
function payloadLength(h: number[]): number | undefined {
  const len7 = h[1] & 0x7f;
  if (len7 < 126) return len7;
  if (len7 === 126) return (h[2] << 8) | h[3];
  let n = 0;
  for (let k = 2; k < 10; k++) n = n * 256 + h[k];
  return Number.isSafeInteger(n) ? n : undefined;
}

/** A ping from the server side: FIN, opcode 9, no payload, unmasked (RFC 6455 §5.5.2). */
export const SERVER_PING = Buffer.from([0x89, 0x00]);

/** A ping from the client side: it must be masked (RFC 6455 §5.3); with no payload the key masks nothing. */
export const CLIENT_PING = Buffer.concat([Buffer.from([0x89, 0x80]), randomBytes(4)]);

/**
 * A close frame with a status code and a short reason (RFC 6455 §5.5.1):
 * unmasked from the server side, masked (as it must be) toward the node.
 */
export function closeFrame(code: number, reason: string, masked: boolean): Buffer {
  const payload = Buffer.concat([Buffer.from([code >> 8, code & 0xff]), Buffer.from(reason, "utf8")]);
  if (payload.length > 125) throw new Error("a close frame's payload has at most 125 bytes");
  if (!masked) return Buffer.concat([Buffer.from([0x88, payload.length]), payload]);
  const key = randomBytes(4);
  for (let i = 0; i < payload.length; i++) payload[i] ^= key[i & 3];
  return Buffer.concat([Buffer.from([0x88, 0x80 | payload.length]), key, payload]);
}

/** 1001 Going Away (RFC 6455 §7.4.1): the bridge is stopping or the member was removed; the client reconnects. */
export const GOING_AWAY = { code: 1001, reason: "going away" } as const;
