/**
 * Every failure in oxedge is a value with a kind. The kind decides the status
 * code here and nowhere else, so worker and bridge answer alike.
 */
export const ERROR_STATUS = {
  "bad-request": 400,
  "bad-path": 400,
  "bad-signature": 401,
  /** The admin listener: a change without the right bearer token. */
  "bad-token": 401,
  forbidden: 403,
  "not-found": 404,
  "client-timeout": 408,
  /** The admin listener: a change whose body is larger than it takes. */
  "request-too-large": 413,
  "headers-too-large": 431,
  "bad-config": 500,
  /** A bug of ours: logged with its stack, answered without it. */
  internal: 500,
  "backend-protocol": 502,
  "backend-aborted": 502,
  "bridge-unavailable": 502,
  "no-member": 503,
  /** max_connections reached: the connection is answered and closed before it is read. */
  "over-capacity": 503,
  "connect-failed": 503,
  "pool-exhausted": 503,
  "backend-timeout": 504,
  // Never sent (the client is gone); the status only labels the log line, as nginx's 499 does.
  "client-aborted": 499,
} as const;

export type ErrorKind = keyof typeof ERROR_STATUS;

export class OxError extends Error {
  readonly kind: ErrorKind;
  /** Seconds a client should wait before retrying (503 only). */
  readonly retryAfter?: number;
  constructor(kind: ErrorKind, message: string, opts: { retryAfter?: number; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = "OxError";
    this.kind = kind;
    this.retryAfter = opts.retryAfter;
  }
  get status(): number {
    return ERROR_STATUS[this.kind];
  }
}

/** One bad field of a configuration: which, what it held (as shown to the operator), what is allowed. */
export interface ConfigProblem {
  field: string;
  value: string;
  rule: string;
}

/** How a problem reads wherever it is shown: at start, on reload, in --check, check:worker and the import report. */
export function formatProblem(p: ConfigProblem): string {
  return `${p.field} = ${p.value}: ${p.rule}`;
}

/** A configuration that cannot be used, with every bad field at once (worker vars or the bridge's file). */
export class ConfigError extends OxError {
  readonly problems: readonly ConfigProblem[];
  constructor(what: string, problems: ConfigProblem[]) {
    super("bad-config", `${what}:\n${problems.map((p) => `  ${formatProblem(p)}`).join("\n")}`);
    this.name = "ConfigError";
    this.problems = problems;
  }
  /** The first bad field (the one an operator is told to fix first). */
  get field(): string {
    return this.problems[0]?.field ?? "";
  }
}

export function statusOf(kind: ErrorKind): number {
  return ERROR_STATUS[kind];
}

export function isOxError(e: unknown): e is OxError {
  return e instanceof OxError;
}

/** The short body every error response carries: no stack traces, no internals. */
export function errorBody(kind: ErrorKind, requestId: string): string {
  return `${statusOf(kind)} ${kind}\nrequest id: ${requestId}\n`;
}
