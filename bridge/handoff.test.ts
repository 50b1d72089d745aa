import type { IncomingMessage } from "node:http";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fieldsToHeaders, HANDOFF_HEADERS, newNonce, sign, type HandoffFields } from "../common/signing.ts";
import { HandoffVerifier } from "./handoff.ts";

const SECRET = "bridge-secret-0123456789abcdef";

function request(f: HandoffFields, sig: string | undefined): IncomingMessage {
  const headers = fieldsToHeaders(f);
  if (sig) headers[HANDOFF_HEADERS.sig] = sig;
  return { method: f.method, url: f.target, headers } as unknown as IncomingMessage;
}

const now = 1_800_000_000_000;
const base = (): HandoffFields => ({ method: "POST", target: "/ajax/x?y=1", route: "OX1", clientIp: "203.0.113.7", clientPort: "", proto: "https", host: "ox.example.com", ts: now / 1000, nonce: newNonce() });

describe("hand-off verification (node:crypto) against the worker's WebCrypto signature", () => {
  it("accepts exactly what sign() produces, for any fields", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({ method: fc.constantFrom("GET", "POST", "PROPFIND"), target: fc.string({ minLength: 1 }).map((s) => "/" + s), route: fc.string(), clientIp: fc.string({ minLength: 1 }), host: fc.string({ minLength: 1 }) }),
        async (r) => {
          const f = { ...base(), ...r };
          const v = new HandoffVerifier(SECRET, 30);
          expect(v.check(request(f, await sign(SECRET, f)), now)).toEqual({ ok: true, fields: f });
        },
      ),
      { numRuns: 200 },
    );
  });

  it("refuses tampering, a wrong key, old timestamps and replays", async () => {
    const v = new HandoffVerifier(SECRET, 30);
    const f = base();
    const sig = await sign(SECRET, f);
    expect(v.check(request({ ...f, clientIp: "10.0.0.1" }, sig), now)).toMatchObject({ ok: false, reason: "signature mismatch" });
    expect(v.check(request({ ...f, route: "OX2" }, sig), now)).toMatchObject({ ok: false, reason: "signature mismatch" });
    expect(v.check(request(f, await sign("other-secret-0123456789", f)), now)).toMatchObject({ ok: false });
    expect(v.check(request(f, undefined), now)).toMatchObject({ ok: false, reason: "unsigned request" });
    expect(v.check(request(f, "v2=" + "0".repeat(64)), now)).toMatchObject({ ok: false, reason: "unknown signature version" });
    // The comparison has no early exit, but must still see a difference anywhere: first and last digit.
    const flip = (c: string) => (c === "0" ? "1" : "0");
    const mac = sig.slice(sig.indexOf("=") + 1);
    const prefix = sig.slice(0, sig.indexOf("=") + 1);
    expect(v.check(request(f, prefix + flip(mac[0]) + mac.slice(1)), now)).toMatchObject({ ok: false, reason: "signature mismatch" });
    expect(v.check(request(f, prefix + mac.slice(0, -1) + flip(mac[63])), now)).toMatchObject({ ok: false, reason: "signature mismatch" });
    expect(v.check(request(f, prefix + mac.toUpperCase()), now)).toMatchObject({ ok: false });
    expect(v.check(request(f, sig), now + 31_000)).toMatchObject({ ok: false, reason: "timestamp outside window" });
    expect(v.check(request(f, sig), now).ok).toBe(true);
    expect(v.check(request(f, sig), now + 1000)).toMatchObject({ ok: false, reason: "replayed nonce" });
  });

  it("forgets a nonce only once its timestamp can no longer pass", async () => {
    const v = new HandoffVerifier(SECRET, 30);
    const f = base();
    const sig = await sign(SECRET, f);
    expect(v.check(request(f, sig), now).ok).toBe(true);
    const other = base();
    expect(v.check(request(other, await sign(SECRET, other)), now + 30_000).ok).toBe(true);
    expect(v.remembered).toBe(2);
    // at ts + window the first may still be replayed in time: still remembered
    expect(v.check(request(f, sig), now + 30_000)).toMatchObject({ ok: false, reason: "replayed nonce" });
    // one second later both timestamps are out of the window: both nonces are dropped
    const third = { ...base(), ts: now / 1000 + 32 };
    expect(v.check(request(third, await sign(SECRET, third)), now + 32_000).ok).toBe(true);
    expect(v.remembered).toBe(1);
    expect(v.check(request(f, sig), now + 32_000)).toMatchObject({ ok: false, reason: "timestamp outside window" });
  });
});
