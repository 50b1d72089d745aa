import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FrameBoundaries } from "./frames.ts";

/** A frame with a payload of n bytes (masked or not); the payload's bytes do not matter here. */
function frame(n: number, masked: boolean): Buffer {
  const ext = n < 126 ? 0 : n < 65536 ? 2 : 8;
  const head = Buffer.alloc(2 + ext + (masked ? 4 : 0));
  head[0] = 0x82;
  head[1] = (masked ? 0x80 : 0) | (n < 126 ? n : n < 65536 ? 126 : 127);
  if (ext === 2) head.writeUInt16BE(n, 2);
  if (ext === 8) head.writeBigUInt64BE(BigInt(n), 2);
  return Buffer.concat([head, Buffer.alloc(n, 0x81)]);
}

describe("FrameBoundaries", () => {
  it("finds every frame end, however the stream is cut into reads", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ n: fc.oneof(fc.integer({ min: 0, max: 130 }), fc.integer({ min: 65530, max: 65540 })), masked: fc.boolean() }), { minLength: 1, maxLength: 12 }),
        fc.array(fc.integer({ min: 1, max: 70_000 }), { minLength: 1, maxLength: 20 }),
        (frames, cuts) => {
          const parts = frames.map((f) => frame(f.n, f.masked));
          const stream = Buffer.concat(parts);
          const expected: number[] = [];
          let at = 0;
          for (const p of parts) expected.push((at += p.length));
          const fb = new FrameBoundaries();
          const found: number[] = [];
          let offset = 0;
          for (let k = 0; offset < stream.length; k++) {
            const len = Math.min(cuts[k % cuts.length], stream.length - offset);
            for (const end of fb.scan(stream.subarray(offset, offset + len))) found.push(offset + end);
            offset += len;
          }
          expect(found).toEqual(expected);
          expect(fb.atBoundary).toBe(true);
        },
      ),
    );
  });

  it("is not at a boundary inside a header or a payload", () => {
    const fb = new FrameBoundaries();
    const f = frame(10, true);
    fb.scan(f.subarray(0, 1));
    expect(fb.atBoundary).toBe(false);
    fb.scan(f.subarray(1, 8));
    expect(fb.atBoundary).toBe(false);
    expect(fb.scan(f.subarray(8))).toEqual([f.length - 8]);
    expect(fb.atBoundary).toBe(true);
  });

  it("gives up on a length beyond 2^53 instead of guessing", () => {
    const fb = new FrameBoundaries();
    fb.scan(Buffer.from([0x82, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]));
    expect(fb.broken).toBe(true);
    expect(fb.atBoundary).toBe(false);
  });
});
