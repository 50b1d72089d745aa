/**
 * Regression guard, not timed: the Forward Request encoder writes into one
 * buffer it owns, so a request costs no Buffer allocation however many
 * headers it has, and known header names are looked up without a lower-case
 * copy. Counted by wrapping the allocating functions for the duration of
 * the call, so a change that starts allocating per header fails here instead
 * of showing up later as a slower benchmark.
 */
import { describe, expect, it } from "vitest";
import {
  decodeForwardRequest,
  encodeForwardRequestInto,
  ForwardRequestEncoder,
  type ForwardRequest,
} from "../../bridge/ajp/forward-request.ts";

type Fn = (...args: unknown[]) => unknown;

/** Calls of the wrapped functions while `fn` runs (synchronously). */
function counting<T>(targets: [object, string][], fn: () => T): { result: T; calls: string[] } {
  const calls: string[] = [];
  const restore: (() => void)[] = [];
  for (const [owner, name] of targets) {
    const o = owner as Record<string, Fn>;
    const original = o[name];
    if (typeof original !== "function") continue;
    o[name] = function (this: unknown, ...args: unknown[]) {
      calls.push(name);
      return original.apply(this, args);
    };
    restore.push(() => (o[name] = original));
  }
  try {
    return { result: fn(), calls };
  } finally {
    for (const r of restore) r();
  }
}

const BUFFER_ALLOCATORS: [object, string][] = ["alloc", "allocUnsafe", "allocUnsafeSlow", "from", "concat", "copyBytesFrom"].map((n) => [Buffer, n]);
const LOWER_CASE: [object, string][] = [[String.prototype, "toLowerCase"], [String.prototype, "toLocaleLowerCase"]];

/** A browser-like request as Node hands it over: Title-Case and lower-case names, repeats, values of all sizes. */
function request(headerPairs: number): ForwardRequest {
  const known = ["Accept", "accept-language", "Accept-Encoding", "Cookie", "User-Agent", "content-type", "Referer", "Content-Length", "Authorization", "Pragma"];
  const headers: string[] = [];
  for (let i = 0; i < headerPairs; i++) headers.push(known[i % known.length], `value-${i}-${"v".repeat(i % 40)}`);
  return {
    method: "PROPFIND", // not in the method table: travels as a stored-method attribute
    protocol: "HTTP/1.1",
    uri: "/infostore/files/report.pdf",
    remoteAddr: "203.0.113.7",
    remoteHost: null,
    serverName: "ox.example.com",
    serverPort: 443,
    isSsl: true,
    headers,
    queryString: "action=document&id=4711",
    route: "OX1",
    secret: "ajp-secret",
    remotePort: "50123",
    localAddr: "10.0.0.5",
    sslProtocol: "TLSv1.3",
  };
}

describe("Forward Request encoder: no allocation per request or header", () => {
  it("the counting wrapper sees an allocation when there is one (so the guards below can fail)", () => {
    const { calls } = counting(BUFFER_ALLOCATORS, () => Buffer.concat([Buffer.from("a"), Buffer.alloc(1)]));
    // concat allocates through allocUnsafe itself; all three outer calls must be seen.
    expect(calls).toEqual(expect.arrayContaining(["alloc", "concat", "from"]));
    const lower = counting(LOWER_CASE, () => "X-Custom".toLowerCase());
    expect(lower.calls).toEqual(["toLowerCase"]);
  });

  it("encodeForwardRequestInto allocates no Buffer, for 1 header or 60", () => {
    const buf = Buffer.allocUnsafe(8192);
    for (const n of [1, 60]) {
      const { result: len, calls } = counting(BUFFER_ALLOCATORS, () => encodeForwardRequestInto(request(n), buf));
      expect(len).toBeGreaterThan(0);
      expect(calls).toEqual([]);
    }
  });

  it("known header names, Title-Case or lower-case, are coded without a toLowerCase() copy", () => {
    const buf = Buffer.allocUnsafe(8192);
    const { calls } = counting(LOWER_CASE, () => encodeForwardRequestInto(request(60), buf));
    expect(calls).toEqual([]);
  });

  it("ForwardRequestEncoder returns views of the same buffer every time, with no Buffer allocated", () => {
    const enc = new ForwardRequestEncoder(8192);
    const first = enc.encode(request(5))!;
    const { result: second, calls } = counting(BUFFER_ALLOCATORS, () => enc.encode(request(40))!);
    expect(calls).toEqual([]);
    expect(second.buffer).toBe(first.buffer);
    expect(second.byteOffset).toBe(first.byteOffset);
    // Reuse must not cost correctness: the second packet decodes to the second request.
    const decoded = decodeForwardRequest(second.subarray(4));
    expect(decoded.ok).toBe(true);
    if (decoded.ok) {
      expect(decoded.value.method).toBe("PROPFIND");
      expect(decoded.value.headers.length).toBe(80);
      expect(decoded.value.secret).toBe("ajp-secret");
    }
  });
});
