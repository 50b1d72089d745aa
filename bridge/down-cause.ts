/**
 * Why a member was found down, as one short code: the same words in the
 * "member down" log line, in the health-check metric's `result` label and in
 * docs/observability.md ("Member state changes"). Only the transports and
 * the cluster find causes; this file names them and reads them off an error.
 */
import { AJP_NO_CPONG } from "./ajp/pool.ts";

export type DownCause =
  /** The node's port refused the TCP connection (nothing listens). */
  | "connect-refused"
  /** The TCP connect did not complete within connectiontimeout (or the probe's timeout). */
  | "connect-timeout"
  /** Another connect failure: unreachable host or network, a name that does not resolve. */
  | "connect-failed"
  /** AJP: connected, but no CPong within the time given. */
  | "no-cpong"
  /** HTTP: the health request was answered with a 5xx status. */
  | "bad-status"
  /** HTTP: connected, but the health request got no usable answer in time. */
  | "no-answer"
  /** `fails` node-side request failures in a row (passive outlier detection). */
  | "outlier";

export interface ProbeFailure {
  cause: DownCause;
  message: string;
}

const TIMEOUT_CODES: ReadonlySet<string> = new Set(["ETIMEDOUT", "UND_ERR_CONNECT_TIMEOUT"]);

/** The cause of a connect-failed error (or of any connect error), from its code, never from its wording. */
export function connectCause(err: unknown): DownCause {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | undefined;
  const code = String(e?.cause?.code ?? e?.code ?? "");
  if (code === "ECONNREFUSED") return "connect-refused";
  if (TIMEOUT_CODES.has(code)) return "connect-timeout";
  if (code === AJP_NO_CPONG) return "no-cpong";
  return "connect-failed";
}
