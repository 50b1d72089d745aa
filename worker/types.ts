import type { CanonResult } from "./canonical.ts";
import type { Config, Env } from "./config.ts";

export type Canon = Extract<CanonResult, { ok: true }>;

export interface Vars {
  config: Config;
  requestId: string;
  /** Set by the canonical-path middleware. */
  canon: Canon;
  /** Raw query string (no `?`), forwarded unchanged. */
  query: string;
  /** Sticky route for the bridge; "" = any member. */
  route: string;
}

export interface AppEnv {
  Bindings: Env;
  Variables: Vars;
}
