import { describe, expect, it } from "vitest";
import { burstLogger, createLogger, type LogFields } from "./log.ts";

/** What pino writes, one string per record, as a stream would receive it. */
function capture(): { lines: string[]; write(s: string): void } {
  const lines: string[] = [];
  return { lines, write: (s: string) => void lines.push(s) };
}

describe("the production logger", () => {
  it("writes one JSON object per line with time, level as a word, msg and the fields", () => {
    const out = capture();
    const log = createLogger("info", out);
    log("warn", "member down", { route: "OX1", cause: "connect-refused", retry_s: 60, gone: undefined, ok: false });
    log("info", "bridge listening");
    expect(out.lines).toHaveLength(2);
    for (const l of out.lines) expect(l.endsWith("\n") && !l.slice(0, -1).includes("\n")).toBe(true);
    const [a, b] = out.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(a).toMatchObject({ level: "warn", msg: "member down", route: "OX1", cause: "connect-refused", retry_s: 60, ok: false });
    expect("gone" in a).toBe(false);
    expect(new Date(a.time as string).toISOString()).toBe(a.time);
    expect(Math.abs(Date.parse(a.time as string) - Date.now())).toBeLessThan(5000);
    expect(b).toMatchObject({ level: "info", msg: "bridge listening" });
  });

  it("drops what is below its level", () => {
    const out = capture();
    const log = createLogger("warn", out);
    log("debug", "member still down");
    log("info", "request");
    log("warn", "w");
    log("error", "e");
    expect(out.lines.map((l) => JSON.parse(l).msg)).toEqual(["w", "e"]);
    const debug = capture();
    createLogger("debug", debug)("debug", "member still down", { route: "OX1" });
    expect(JSON.parse(debug.lines[0])).toMatchObject({ level: "debug", route: "OX1" });
  });

  it("keeps a value that looks like JSON or has newlines inside its field", () => {
    const out = capture();
    createLogger("info", out)("info", 'say "hi"\nthere', { user_agent: 'Mozilla/5.0 "x"\r\n{"level":"error"}' });
    expect(out.lines).toHaveLength(1);
    expect(JSON.parse(out.lines[0])).toMatchObject({ level: "info", msg: 'say "hi"\nthere', user_agent: 'Mozilla/5.0 "x"\r\n{"level":"error"}' });
  });
});

describe("burstLogger", () => {
  it("logs the first at once, then at most once per interval with the number suppressed", () => {
    const seen: [string, LogFields | undefined][] = [];
    let t = 0;
    const burst = burstLogger((_l, msg, f) => void seen.push([msg, f]), "warn", "flood", 1000, () => t);
    burst({ n: 1 });
    t = 10;
    burst({ n: 2 });
    burst({ n: 3 });
    t = 1010;
    burst({ n: 4 });
    expect(seen).toEqual([["flood", { n: 1, suppressed: undefined }], ["flood", { n: 4, suppressed: 2 }]]);
  });
});
