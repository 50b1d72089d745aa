import type { MemberConfig } from "../config.ts";
import type { Transport } from "../exchange.ts";
import { AjpTransport } from "./ajp.ts";
import { HttpTransport } from "./http.ts";

/** The transport for a member's address scheme: a new kind of member is one line here and its file. */
export function transportFor(m: MemberConfig): Transport {
  switch (m.kind) {
    case "ajp":
      return new AjpTransport({ ...m.pool, route: m.route, secret: m.secret, timeoutMs: m.timeoutMs });
    case "http":
      return new HttpTransport({ ...m.pool, timeoutMs: m.timeoutMs, probe: m.probe });
  }
}
