import type { PathRule } from "../common/path-map.ts";
import type { CanonResult } from "./canonical.ts";
import type { Config, Env } from "./config.ts";

export type Canon = Extract<CanonResult, { ok: true }>;

/** What the hand-off did, for the request's log line (worker/request-log.ts). */
export interface HandoffTrace {
  /** Origin of the bridge that answered; "" when none did. */
  bridge: string;
  /** Bridges asked, the one that answered included. */
  attempts: number;
  /** Bridges that gave no answer, in the order tried (each is now skipped). */
  failed: string[];
  /** The member that answered (x-oxedge-served-by), "" for the bridge's own answers. */
  node: string;
  /** The bridge's error kind (x-oxedge-error) when it answered with one. */
  bridgeError: string;
}

export interface Vars {
  config: Config;
  requestId: string;
  /** Set by the canonical-path middleware; the paths middleware replaces it by the rewritten path. */
  canon: Canon;
  /** The map's rule for the client's canonical path (undefined: static), set with `canon`. */
  pathRule: PathRule | undefined;
  /** Raw query string (no `?`), forwarded unchanged. */
  query: string;
  /** Sticky route for the bridge; "" = any member. */
  route: string;
  /** Set by the hand-off; absent for static assets, redirects and refusals at the edge. */
  handoff: HandoffTrace | undefined;
  /** Set by the error handler: the kind of the error answered (worker/respond.ts). */
  errorKind: string | undefined;
}

export interface AppEnv {
  Bindings: Env;
  Variables: Vars;
}
