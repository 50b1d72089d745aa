import { describe, expect, it } from "vitest";
import { loggedPath } from "./request-log.ts";

describe("loggedPath", () => {
  it.each([
    ["https://ox.example.com/ajax/x?session=abc&jsessionid=def", "/ajax/x"],
    ["https://ox.example.com/ajax/x;jsessionid=abc.OX1?x=1", "/ajax/x;jsessionid=(redacted)"],
    ["https://ox.example.com/servlet;JSESSIONID=abc/x;jsessionid=def", "/servlet;jsessionid=(redacted)/x;jsessionid=(redacted)"],
    ["https://ox.example.com/ajax/x;other=1", "/ajax/x;other=1"],
  ])("%s → %s", (url, want) => {
    expect(loggedPath(url)).toBe(want);
  });

  it("keeps a log line bounded", () => {
    expect(loggedPath(`https://ox.example.com/${"a".repeat(2000)}`)).toHaveLength(512);
  });
});
