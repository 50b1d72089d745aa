/**
 * The one rule for the worker↔bridge HMAC secret (wrangler secret
 * BRIDGE_SECRET, the bridge's OXEDGE_BRIDGE_SECRET): both sides refuse a
 * weak one in the same words, so a value one side takes the other takes too.
 *
 * 32 characters of `openssl rand -hex 32` carry 128 bits; a short or
 * repetitive secret is what a guess or a leaked log line reveals, and the
 * signature is all that stands between the internet and the nodes' AJP
 * (docs/handoff.md).
 */

export const SECRET_MIN_LENGTH = 32;
/** A secret of 32 × "x" has the length and no entropy; this floor turns away such placeholders. */
export const SECRET_MIN_DISTINCT = 8;

export const SECRET_RULE = `at least ${SECRET_MIN_LENGTH} characters, at least ${SECRET_MIN_DISTINCT} of them different (e.g. \`openssl rand -hex 32\`)`;

/** Why `secret` is too weak, or undefined when it is good enough. Never quotes the secret. */
export function secretProblem(secret: string): string | undefined {
  if (secret.length < SECRET_MIN_LENGTH) return `the secret is ${secret.length} characters; it must be ${SECRET_RULE}`;
  const distinct = new Set(secret).size;
  if (distinct < SECRET_MIN_DISTINCT) return `the secret has only ${distinct} different characters; it must be ${SECRET_RULE}`;
  return undefined;
}
