
/**
 * What every decoder returns: the value, or why the bytes are not one (the
 * connection turns that into backend-protocol). Decoders never throw.
 */
export type DecodeResult<T> = { ok: true; value: T } | { ok: false; reason: string };

export function bad<T>(reason: string): DecodeResult<T> {
  return { ok: false, reason };
}
/**
 * Bounds-checked primitives for AJP's data types (docs/ajp13.md, Strings and other data types). Writers return
 * the next offset or -1 when the value does not fit (and pass -1 through, so a
 * chain of writes needs one check at the end), so an overflowing packet
 * is detected before anything malformed can be produced. Readers return
 * undefined on any malformed or truncated input instead of throwing.
 *
 * Strings are latin1 on purpose: Node hands us header bytes as latin1 strings,
 * and AJP passes bytes through without charset translation.
 */

export const NULL_STRING = 0xffff;
/** A header name given as a code: 0xA0 then the code's byte. */
const CODED_HEADER = 0xa000;

export function writeByte(buf: Buffer, pos: number, limit: number, v: number): number {
  if (pos < 0 || pos + 1 > limit) return -1;
  buf[pos] = v;
  return pos + 1;
}

export function writeInt(buf: Buffer, pos: number, limit: number, v: number): number {
  if (pos < 0 || pos + 2 > limit) return -1;
  buf[pos] = (v >>> 8) & 0xff;
  buf[pos + 1] = v & 0xff;
  return pos + 2;
}

export function writeString(buf: Buffer, pos: number, limit: number, s: string | null | undefined): number {
  if (s === null || s === undefined) return writeInt(buf, pos, limit, NULL_STRING);
  const len = s.length;
  // 0xFFFF means "null" (header names have their own bound: see writeHeaders).
  if (pos < 0 || len >= NULL_STRING || pos + 3 + len > limit) return -1;
  buf[pos] = len >>> 8;
  buf[pos + 1] = len & 0xff;
  if (len > 0) buf.write(s, pos + 2, len, "latin1");
  buf[pos + 2 + len] = 0;
  return pos + 3 + len;
}

/** A cursor over one payload; every getter returns undefined once the payload is exhausted or malformed. */
export class PayloadCursor {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  byte(): number | undefined {
    if (this.pos + 1 > this.buf.length) return undefined;
    return this.buf[this.pos++];
  }

  peekInt(): number | undefined {
    if (this.pos + 2 > this.buf.length) return undefined;
    return (this.buf[this.pos] << 8) | this.buf[this.pos + 1];
  }

  int(): number | undefined {
    const v = this.peekInt();
    if (v !== undefined) this.pos += 2;
    return v;
  }

  /** null = AJP's null string (0xFFFF); undefined = malformed (overrun or missing terminator). */
  string(): string | null | undefined {
    const len = this.int();
    if (len === undefined) return undefined;
    if (len === NULL_STRING) return null;
    const end = this.pos + len;
    if (end + 1 > this.buf.length || this.buf[end] !== 0) return undefined;
    const s = this.buf.toString("latin1", this.pos, end);
    this.pos = end + 1;
    return s;
  }
}

/**
 * `count` header pairs, each name either a code (0xA0nn, looked up in `names`)
 * or a string (docs/ajp13.md, Request headers and SEND_HEADERS). Returns the flat name, value… list, or the
 * reason it is malformed.
 */
export function readHeaders(c: PayloadCursor, count: number, names: readonly string[]): DecodeResult<string[]> {
  const headers: string[] = [];
  for (let i = 0; i < count; i++) {
    const first = c.peekInt();
    if (first === undefined) return bad("truncated header");
    let name: string | null | undefined;
    if (first >>> 8 === 0xa0) {
      c.pos += 2;
      name = names[first & 0xff];
      if (!name) return bad(`unknown coded header 0x${first.toString(16)}`);
    } else {
      name = c.string();
      if (!name) return bad("malformed header name");
    }
    const value = c.string();
    if (typeof value !== "string") return bad("malformed header value");
    headers.push(name, value);
  }
  return { ok: true, value: headers };
}

/**
 * The header count, then each pair with its name as a code when `codes` knows
 * it (case-insensitively) or as a string. Flat name, value… list in.
 */
export function writeHeaders(buf: Buffer, pos: number, limit: number, headers: readonly string[], codes: ReadonlyMap<string, number>): number {
  let p = writeInt(buf, pos, limit, headers.length >>> 1);
  for (let i = 0; i + 1 < headers.length && p >= 0; i += 2) {
    const name = headers[i];
    // Direct hit first: the table holds common spellings, so most names cost no toLowerCase() copy.
    const code = codes.get(name) ?? codes.get(name.toLowerCase());
    // A name whose length starts with byte 0xA0 would be read as a coded header: such a name
    // (40 KiB or more, possible only with large packets) does not fit, like any too-long header.
    if (code === undefined) p = name.length >= CODED_HEADER ? -1 : writeString(buf, p, limit, name);
    else p = writeInt(buf, p, limit, CODED_HEADER | code);
    p = writeString(buf, p, limit, headers[i + 1]);
  }
  return p;
}
