import type { IncomingMessage } from "node:http";
import { fieldsFromHeaders, HANDOFF_HEADERS, verify, type HandoffFields } from "../common/signing.ts";

/**
 * Checks the worker's signature before anything else happens, and refuses a
 * second use of the same nonce inside the time window, so a captured request
 * cannot be replayed to a node.
 */
export class HandoffVerifier {
  /** nonce → expiry (ms); insertion order = expiry order, so pruning stops at the first live entry. */
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly secret: string,
    private readonly windowS: number,
    private readonly maxNonces = 1_000_000,
  ) {}

  async check(req: IncomingMessage, now = Date.now()): Promise<{ ok: true; fields: HandoffFields } | { ok: false; reason: string }> {
    const get = (name: string) => {
      const v = req.headers[name];
      return Array.isArray(v) ? undefined : v;
    };
    const sig = get(HANDOFF_HEADERS.sig);
    if (!sig) return { ok: false, reason: "unsigned request" };
    const fields = fieldsFromHeaders(req.method ?? "", req.url ?? "", get);
    if (!fields) return { ok: false, reason: "signed fields missing or malformed" };
    const r = await verify(this.secret, fields, sig, Math.floor(now / 1000), this.windowS);
    if (!r.ok) return r;
    this.prune(now);
    if (this.seen.has(fields.nonce)) return { ok: false, reason: "replayed nonce" };
    if (this.seen.size >= this.maxNonces) return { ok: false, reason: "too many requests in the signature window" };
    // Keep the nonce for twice the window: a timestamp may be up to one window in the future.
    this.seen.set(fields.nonce, now + 2 * this.windowS * 1000);
    return { ok: true, fields };
  }

  private prune(now: number): void {
    for (const [nonce, expiry] of this.seen) {
      if (expiry > now) return;
      this.seen.delete(nonce);
    }
  }
}
