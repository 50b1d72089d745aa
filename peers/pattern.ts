/**
 * The deterministic download body both test nodes serve (the demo AJP node
 * and the Tomcat test app): byte i = (i * 31 + 7) & 0xff. Tests check digests
 * without ever holding a whole download.
 */
import { createHash } from "node:crypto";
import { MAX_PACKET_SIZE } from "../bridge/ajp/codes.ts";

/** Byte i depends only on i mod 256. */
export const PATTERN_PERIOD = 256;

/**
 * One period more than the largest AJP chunk, so any chunk of the body is a
 * view at offset (i mod 256): serving a download costs one packet of memory.
 */
export const PATTERN = (() => {
  const b = Buffer.alloc(MAX_PACKET_SIZE + PATTERN_PERIOD);
  for (let i = 0; i < b.length; i++) b[i] = (i * 31 + 7) & 0xff;
  return b;
})();

/** A whole number of periods, reusable block by block. */
const BLOCK = PATTERN.subarray(0, MAX_PACKET_SIZE);

/** Bytes [start, start+len) of the body (a copy). */
export function patternBytes(start: number, len: number): Buffer {
  const out = Buffer.allocUnsafe(len);
  for (let o = 0; o < len; ) {
    const at = (start + o) % BLOCK.length;
    o += BLOCK.copy(out, o, at, Math.min(BLOCK.length, at + len - o));
  }
  return out;
}

/** Hex SHA-256 of the first n bytes of the body, hashed block by block. */
export function patternSha256(n: number): string {
  const hash = createHash("sha256");
  for (let left = n; left > 0; left -= BLOCK.length) hash.update(left >= BLOCK.length ? BLOCK : BLOCK.subarray(0, left));
  return hash.digest("hex");
}
