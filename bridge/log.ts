/**
 * One line per event, key=value, to stderr: greppable, and a log shipper can
 * split it without a JSON parser. Values with spaces are quoted.
 */
export type LogFields = Record<string, string | number | boolean | undefined | null>;

export type Logger = (level: "info" | "warn" | "error", msg: string, fields?: LogFields) => void;

function fmt(v: string | number | boolean): string {
  const s = String(v);
  return /[\s"=]/.test(s) || s === "" ? JSON.stringify(s) : s;
}

export function createLogger(write: (line: string) => void = (l) => process.stderr.write(l + "\n")): Logger {
  return (level, msg, fields = {}) => {
    let line = `${new Date().toISOString()} ${level} ${fmt(msg)}`;
    for (const k in fields) {
      const v = fields[k];
      if (v !== undefined && v !== null) line += ` ${k}=${fmt(v)}`;
    }
    write(line);
  };
}

/**
 * A logger for events that can come by the thousand (a flood of half-open
 * connections): the first is logged at once, later ones at most once per
 * interval with the count of those not logged since.
 */
export function burstLogger(log: Logger, level: "info" | "warn" | "error", msg: string, intervalMs: number, now: () => number = Date.now): (fields?: LogFields) => void {
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
