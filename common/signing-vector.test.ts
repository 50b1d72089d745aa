/**
 * One known-answer vector for the v1 hand-off signature.
 *
 * Worker and bridge are deployed separately, so for a while an old worker signs for a new
 * bridge (or the other way round). Every other signing test compares the two sides with each
 * other and would stay green if both changed the canonical string together; this one compares
 * them with bytes written down once. The expected canonical string is typed out by hand below
 * and its HMAC was computed outside this code base (`openssl dgst -sha256 -hmac <secret>` over
 * exactly those bytes, cross-checked with Python's hmac module). If a change to
 * common/signing.ts makes this fail, it needs a new SIG_VERSION, not a new vector.
 */
import type { IncomingMessage } from "node:http";
import { describe, expect, it } from "vitest";
import { HandoffVerifier } from "../bridge/handoff.ts";
import { canonicalString, fieldsFromHeaders, fieldsToHeaders, sign, verify, type HandoffFields } from "./signing.ts";

const SECRET = "oxedge-kat-secret-0123456789abcdef";

const FIELDS: HandoffFields = {
  method: "POST",
  target: "/ajax/mail?action=all&folder=INBOX%2FSent&x=1",
  route: "OX2",
  clientIp: "2001:db8::5:1",
  clientPort: "51234",
  proto: "https",
  host: "ox.example.com",
  ts: 1767225600, // 2026-01-01T00:00:00Z
  nonce: "00112233445566778899aabbccddeeff",
};

/** `<length>:<value>` per field, in this order, joined by "\n", no trailing newline (167 bytes). */
const CANONICAL = [
  "2:v1",
  "4:POST",
  "45:/ajax/mail?action=all&folder=INBOX%2FSent&x=1",
  "3:OX2",
  "13:2001:db8::5:1",
  "5:51234",
  "5:https",
  "14:ox.example.com",
  "10:1767225600",
  "32:00112233445566778899aabbccddeeff",
].join("\n");

const SIGNATURE = "v1=d80bd8a93f6424a9374864e05c3c17fdd298ac22007ffa9b8145e8e4ef79bdc1";

/** The request as it arrives at the bridge, header names and all: they are part of the contract too. */
const WIRE_HEADERS: Record<string, string> = {
  "x-oxedge-route": "OX2",
  "x-oxedge-client-ip": "2001:db8::5:1",
  "x-oxedge-client-port": "51234",
  "x-oxedge-proto": "https",
  "x-oxedge-host": "ox.example.com",
  "x-oxedge-ts": "1767225600",
  "x-oxedge-nonce": "00112233445566778899aabbccddeeff",
  "x-oxedge-sig": SIGNATURE,
};

const AT_TS_MS = FIELDS.ts * 1000;

function request(headers: Record<string, string>): IncomingMessage {
  return { method: FIELDS.method, url: FIELDS.target, headers } as unknown as IncomingMessage;
}

/** The signature with byte `i` of the MAC changed (its low hex digit flipped). */
function withByteChanged(i: number): string {
  const mac = SIGNATURE.slice(3);
  const pos = 2 * i + 1;
  const digit = (parseInt(mac[pos], 16) ^ 1).toString(16);
  return `v1=${mac.slice(0, pos)}${digit}${mac.slice(pos + 1)}`;
}

describe("v1 hand-off signature: pinned known-answer vector", () => {
  it("builds exactly the canonical string written out above", () => {
    expect(Buffer.byteLength(CANONICAL)).toBe(167);
    expect(canonicalString(FIELDS)).toBe(CANONICAL);
  });

  it("the worker's sign() yields the pinned signature", async () => {
    expect(await sign(SECRET, FIELDS)).toBe(SIGNATURE);
  });

  it("the worker sends the pinned header names and values", () => {
    expect({ ...fieldsToHeaders(FIELDS), "x-oxedge-sig": SIGNATURE }).toEqual(WIRE_HEADERS);
    expect(fieldsFromHeaders(FIELDS.method, FIELDS.target, (n) => WIRE_HEADERS[n])).toEqual(FIELDS);
  });

  it("WebCrypto verify() accepts the pinned signature", async () => {
    expect(await verify(SECRET, FIELDS, SIGNATURE, FIELDS.ts, 30)).toEqual({ ok: true });
  });

  it("the bridge's HandoffVerifier accepts the pinned request at the pinned time", () => {
    const v = new HandoffVerifier(SECRET, 30);
    expect(v.check(request(WIRE_HEADERS), AT_TS_MS)).toEqual({ ok: true, fields: FIELDS });
  });

  it.each(Array.from({ length: 32 }, (_, i) => i))("the bridge refuses it with byte %i of the MAC changed", (i) => {
    const sig = withByteChanged(i);
    expect(sig).not.toBe(SIGNATURE);
    expect(sig.length).toBe(SIGNATURE.length);
    const v = new HandoffVerifier(SECRET, 30);
    expect(v.check(request({ ...WIRE_HEADERS, "x-oxedge-sig": sig }), AT_TS_MS)).toEqual({ ok: false, reason: "signature mismatch" });
  });
});
