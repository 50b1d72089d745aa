/**
 * Headers of the worker → bridge hop that are not the client's: the
 * Cloudflare Access service token the worker sends so that Access lets the
 * hand-off through to the bridge's hostname, and the assertion Access adds
 * once it has checked it (docs/edge-deploy.md, Cloudflare Access). The worker
 * drops any a client sent; the bridge never passes them on to a node, where
 * they would hand the token to the application's logs.
 */
export const ACCESS_HEADERS = {
  clientId: "cf-access-client-id",
  clientSecret: "cf-access-client-secret",
  assertion: "cf-access-jwt-assertion",
} as const;

/** Lower-case names, for the header filters of both sides. */
export const EDGE_HOP_HEADERS: ReadonlySet<string> = new Set(Object.values(ACCESS_HEADERS));
