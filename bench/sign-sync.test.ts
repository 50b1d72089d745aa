/**
 * The benchmark signs with node:crypto (synchronously); the bridge verifies
 * with common/signing.ts. If these ever differ, every benchmark request would
 * be a 401 and the numbers would measure the refusal path.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { HANDOFF_HEADERS, fieldsFromHeaders, sign, verify, type HandoffFields } from "../common/signing.ts";
import { signedHeadersSync, signSync } from "./sign-sync.ts";

const fieldsArb: fc.Arbitrary<HandoffFields> = fc.record({
  method: fc.constantFrom("GET", "POST", "PUT", "PROPFIND"),
  target: fc.string({ unit: "grapheme", maxLength: 80 }).map((s) => "/" + s),
  route: fc.string({ maxLength: 12 }),
  clientIp: fc.oneof(fc.ipV4(), fc.ipV6()),
  clientPort: fc.oneof(fc.constant(""), fc.integer({ min: 1, max: 65535 }).map(String)),
  proto: fc.constantFrom("https" as const, "http" as const),
  host: fc.domain(),
  ts: fc.integer({ min: 0, max: 2 ** 31 }),
  nonce: fc.string({ unit: fc.constantFrom(..."0123456789abcdef"), minLength: 32, maxLength: 32 }),
});

describe("signSync", () => {
  it("produces the same bytes as sign() for any fields and secret (non-ASCII included)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: "grapheme", minLength: 16, maxLength: 64 }), fieldsArb, async (secret, f) => {
        expect(signSync(secret, f)).toBe(await sign(secret, f));
      }),
      { numRuns: 300 },
    );
  });

  it("headers it builds pass the bridge's verification and carry a fresh nonce each time", async () => {
    const secret = "bench-secret-0123456789abcdef";
    const now = Date.now();
    const a = signedHeadersSync(secret, { method: "POST", target: "/ajax/upload-digest?x=1" }, now);
    const b = signedHeadersSync(secret, { method: "POST", target: "/ajax/upload-digest?x=1" }, now);
    expect(a[HANDOFF_HEADERS.nonce]).not.toBe(b[HANDOFF_HEADERS.nonce]);
    const f = fieldsFromHeaders("POST", "/ajax/upload-digest?x=1", (n) => a[n]);
    expect(f).toBeDefined();
    expect(await verify(secret, f!, a[HANDOFF_HEADERS.sig], Math.floor(now / 1000), 30)).toEqual({ ok: true });
  });
});
