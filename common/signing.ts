/**
 * The worker → bridge hand-off signature. One module for both sides: it uses
 * only WebCrypto, which workerd and Node 20 both provide.
 *
 * The signature covers every field the bridge turns into AJP data a node
 * trusts (client address, scheme, host, route) plus method and target, so a
 * relay cannot change any of them. The body is not covered: it is streamed,
 * and the hop runs over TLS or a tunnel. The nonce lets the bridge refuse a
 * replay of the same signed request inside the time window.
 */

export const SIG_VERSION = "v1";

export const HANDOFF_HEADERS = {
  route: "x-oxedge-route",
  clientIp: "x-oxedge-client-ip",
  clientPort: "x-oxedge-client-port",
  proto: "x-oxedge-proto",
  host: "x-oxedge-host",
  ts: "x-oxedge-ts",
  nonce: "x-oxedge-nonce",
  sig: "x-oxedge-sig",
  requestId: "x-oxedge-request-id",
  servedBy: "x-oxedge-served-by",
  /** On the bridge's own error answers, its kind: how the worker tells them from a tunnel's 502. */
  error: "x-oxedge-error",
} as const;

export interface HandoffFields {
  method: string;
  /** Path plus optional `?query`, exactly as it will be forwarded. */
  target: string;
  /** Sticky route read at the edge, or "" for "any member". */
  route: string;
  clientIp: string;
  /** Client TCP port when the edge knows it, else "". */
  clientPort: string;
  proto: "https" | "http";
  /** Host (and optional port) as the client saw it. */
  host: string;
  /** Unix seconds. */
  ts: number;
  nonce: string;
}

const encoder = new TextEncoder();

/**
 * Length-prefixed fields, so no choice of values can make two different field
 * sets produce the same string.
 */
export function canonicalString(f: HandoffFields): string {
  const parts = [
    SIG_VERSION,
    f.method,
    f.target,
    f.route,
    f.clientIp,
    f.clientPort,
    f.proto,
    f.host,
    String(f.ts),
    f.nonce,
  ];
  return parts.map((p) => `${p.length}:${p}`).join("\n");
}

// Spelled via importKey so the type resolves under both Node's and workerd's typings.
type HmacKey = Awaited<ReturnType<typeof crypto.subtle.importKey>>;

const keyCache = new Map<string, Promise<HmacKey>>();

function hmacKey(secret: string): Promise<HmacKey> {
  let key = keyCache.get(secret);
  if (!key) {
    key = crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
      "sign",
      "verify",
    ]);
    keyCache.set(secret, key);
  }
  return key;
}

function toHex(buf: ArrayBuffer): string {
  const b = new Uint8Array(buf);
  let s = "";
  for (let i = 0; i < b.length; i++) s += b[i].toString(16).padStart(2, "0");
  return s;
}

function fromHex(hex: string): Uint8Array | undefined {
  if (hex.length !== 64 || !/^[0-9a-f]+$/.test(hex)) return undefined;
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

export async function sign(secret: string, f: HandoffFields): Promise<string> {
  const key = await hmacKey(secret);
  return `${SIG_VERSION}=${toHex(await crypto.subtle.sign("HMAC", key, encoder.encode(canonicalString(f))))}`;
}

export type VerifyResult = { ok: true } | { ok: false; reason: string };

/** Constant-time check (WebCrypto verify) plus the timestamp window. */
export async function verify(
  secret: string,
  f: HandoffFields,
  signature: string,
  nowSeconds: number,
  windowSeconds: number,
): Promise<VerifyResult> {
  if (!signature.startsWith(`${SIG_VERSION}=`)) return { ok: false, reason: "unknown signature version" };
  const mac = fromHex(signature.slice(SIG_VERSION.length + 1));
  if (!mac) return { ok: false, reason: "malformed signature" };
  if (!Number.isFinite(f.ts) || Math.abs(nowSeconds - f.ts) > windowSeconds) {
    return { ok: false, reason: "timestamp outside window" };
  }
  const key = await hmacKey(secret);
  const good = await crypto.subtle.verify("HMAC", key, mac, encoder.encode(canonicalString(f)));
  return good ? { ok: true } : { ok: false, reason: "signature mismatch" };
}

/** 128 random bits, hex. */
export function newNonce(): string {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return toHex(b.buffer);
}

/** The signed fields as hand-off headers (without the signature itself); fieldsFromHeaders reads them back. */
export function fieldsToHeaders(f: HandoffFields): Record<string, string> {
  return {
    [HANDOFF_HEADERS.route]: f.route,
    [HANDOFF_HEADERS.clientIp]: f.clientIp,
    [HANDOFF_HEADERS.clientPort]: f.clientPort,
    [HANDOFF_HEADERS.proto]: f.proto,
    [HANDOFF_HEADERS.host]: f.host,
    [HANDOFF_HEADERS.ts]: String(f.ts),
    [HANDOFF_HEADERS.nonce]: f.nonce,
  };
}

/** Pull the signed fields out of request headers (Headers or Node's lower-cased object). */
export function fieldsFromHeaders(
  method: string,
  target: string,
  get: (name: string) => string | undefined,
): HandoffFields | undefined {
  const proto = get(HANDOFF_HEADERS.proto);
  const ts = Number(get(HANDOFF_HEADERS.ts));
  const host = get(HANDOFF_HEADERS.host);
  const clientIp = get(HANDOFF_HEADERS.clientIp);
  const nonce = get(HANDOFF_HEADERS.nonce);
  if ((proto !== "https" && proto !== "http") || !host || !clientIp || !nonce || !Number.isInteger(ts)) return undefined;
  return {
    method,
    target,
    route: get(HANDOFF_HEADERS.route) ?? "",
    clientIp,
    clientPort: get(HANDOFF_HEADERS.clientPort) ?? "",
    proto,
    host,
    ts,
    nonce,
  };
}
