/**
 * The hand-off signature computed synchronously, for load generators.
 *
 * Every request to the bridge needs a fresh nonce and a current timestamp (the
 * bridge refuses a replayed nonce), so a benchmark cannot replay one signed
 * request; it must sign each one as it is sent. autocannon's setupRequest hook
 * is synchronous and WebCrypto is not, so this is the same HMAC via
 * node:crypto. bench/sign-sync.test.ts holds it byte-equal to
 * common/signing.ts `sign()`, so the bridge under test runs its production
 * verification path unchanged.
 */
import { createHmac, randomBytes } from "node:crypto";
import { canonicalString, fieldsToHeaders, HANDOFF_HEADERS, SIG_VERSION, type HandoffFields } from "../common/signing.ts";

export function signSync(secret: string, f: HandoffFields): string {
  return `${SIG_VERSION}=${createHmac("sha256", secret).update(canonicalString(f)).digest("hex")}`;
}

export interface SignedRequest {
  method: string;
  /** Path plus query, exactly as it goes on the request line. */
  target: string;
  route?: string;
  clientIp?: string;
  proto?: "https" | "http";
  host?: string;
}

/** The x-oxedge-* headers for one request, with a fresh nonce and the current time. */
export function signedHeadersSync(secret: string, r: SignedRequest, now = Date.now()): Record<string, string> {
  const fields: HandoffFields = {
    method: r.method,
    target: r.target,
    route: r.route ?? "",
    clientIp: r.clientIp ?? "203.0.113.7",
    clientPort: "",
    proto: r.proto ?? "https",
    host: r.host ?? "ox.example.com",
    ts: Math.floor(now / 1000),
    nonce: randomBytes(16).toString("hex"),
  };
  return { ...fieldsToHeaders(fields), [HANDOFF_HEADERS.sig]: signSync(secret, fields) };
}
