import { pino, type DestinationStream } from "pino";

/**
 * The bridge logs through one function, `log(level, msg, fields)`, so code
 * that logs does not depend on the library behind it. In production that is
 * pino: one JSON object per line on stderr, `time` in ISO 8601, the level as
 * a word, the fields as they are (docs/observability.md, "Logs").
 */
export type LogFields = Record<string, string | number | boolean | undefined | null>;

export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type Logger = (level: LogLevel, msg: string, fields?: LogFields) => void;

/**
 * The production logger. `destination` defaults to stderr, written
 * asynchronously (pino flushes it at exit): a line per request must not
 * cost a write system call each when access_log is on.
 */
export function createLogger(level: LogLevel = "info", destination: DestinationStream = pino.destination({ dest: 2, sync: false })): Logger {
  const p = pino(
    {
      level,
      timestamp: pino.stdTimeFunctions.isoTime,
      // "warn" rather than 40: read by people and matched by shippers without a table.
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
  return (lvl, msg, fields) => {
    if (fields === undefined) p[lvl](msg);
    else p[lvl](fields, msg);
  };
}

/**
 * A logger for events that can come by the thousand (a flood of half-open
 * connections): the first is logged at once, later ones at most once per
 * interval with the count of those not logged since.
 */
export function burstLogger(log: Logger, level: LogLevel, msg: string, intervalMs: number, now: () => number = Date.now): (fields?: LogFields) => void {
  let last = -Infinity;
  let suppressed = 0;
  return (fields = {}) => {
    const t = now();
    if (t - last < intervalMs) {
      suppressed++;
      return;
    }
    last = t;
    log(level, msg, { ...fields, suppressed: suppressed || undefined });
    suppressed = 0;
  };
}
