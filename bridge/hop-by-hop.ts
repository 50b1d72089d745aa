/** Hop-by-hop headers (RFC 9110 §7.6.1): they belong to one connection and never cross the bridge. */
export const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade"]);

/** The header names a Connection header lists, which are hop-by-hop too. */
export function connectionTokens(v: string | string[] | undefined): Set<string> | undefined {
  if (!v) return undefined;
  const s = new Set<string>();
  for (const t of String(v).split(",")) s.add(t.trim().toLowerCase());
  return s;
}
