import { describe, expect, it } from "vitest";
import { isCanonicalPath, PathPolicy } from "./path-policy.ts";

describe("the bridge's own path check", () => {
  it.each([
    ["/ajax/%c0%ae%c0%ae/servlet/axis2/services/x", "percent escapes that are not UTF-8"],
    ["/ajax/%e0%80%ae%e0%80%ae/servlet/axis2", "percent escapes that are not UTF-8"],
    ["/ajax/..%c0%afservlet/axis2/services/x", "percent escapes that are not UTF-8"],
    ["/ajax/%ff", "percent escapes that are not UTF-8"],
    ["/ajax/%2e%2e/x", "escaped character that must not be escaped"],
    ["/ajax/../x", "dot segment"],
    ["/ajax//x", "empty segment"],
    ["/ajax/a;x=y/b", "path parameter"],
    ["/ajax/%zz", "bad percent escape"],
  ])("refuses %s (%s)", (path, why) => {
    expect(isCanonicalPath(path)).toBe(why);
  });

  it.each(["/ajax/mail", "/ajax/caf%C3%A9", "/infostore/%E2%82%AC%20x", "/ajax/x;jsessionid=abc.OX1"])("accepts %s", (path) => {
    expect(isCanonicalPath(path)).toBeUndefined();
  });

  it("refuses the provisioning API from outside the allow-list, in any case", () => {
    const p = new PathPolicy(["/ajax", "/servlet"], "/servlet/axis2", ["192.0.2.0/24"]);
    expect(p.judge("/servlet/AXIS2/services/x", "203.0.113.9")).toMatchObject({ ok: false, kind: "forbidden" });
    expect(p.judge("/servlet/axis2/services/x", "192.0.2.7")).toMatchObject({ ok: true });
    expect(p.judge("/other", "192.0.2.7")).toMatchObject({ ok: false, kind: "not-found" });
  });
});
