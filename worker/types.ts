import type { PathRule } from "../common/path-map.ts";
import type { CanonResult } from "./canonical.ts";
import type { Config, Env } from "./config.ts";

export type Canon = Extract<CanonResult, { ok: true }>;

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
}

export interface AppEnv {
  Bindings: Env;
  Variables: Vars;
}
