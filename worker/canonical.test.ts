import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { MAX_PATH_LENGTH, canonicalPath, splitRawUrl, underPrefix } from "./canonical.ts";

type Ok = { path: string; decoded?: string; session?: string };

// [raw input, expected]. `decoded` defaults to `path`.
const OK_CASES: Array<[string, Ok]> = [
  ["", { path: "/" }],
  ["/", { path: "/" }],
  ["/ajax", { path: "/ajax" }],
  ["/ajax/", { path: "/ajax/" }],
  ["//ajax", { path: "/ajax" }],
  ["/ajax//login", { path: "/ajax/login" }],
  ["/ajax///", { path: "/ajax/" }],
  ["/%61jax", { path: "/ajax" }],
  ["/%61%6A%61%78/login", { path: "/ajax/login" }],
  ["/%41JAX", { path: "/AJAX" }],
  ["/%7euser/%2D%2E%5F", { path: "/~user/-._" }],
  ["/ajax/./login", { path: "/ajax/login" }],
  ["/ajax/.", { path: "/ajax/" }],
  ["/ajax/..", { path: "/" }],
  ["/./ajax", { path: "/ajax" }],
  ["/a/b/../../c", { path: "/c" }],
  ["/ajax/../servlet/axis2/services", { path: "/servlet/axis2/services" }],
  ["/ajax/%2e%2e/servlet", { path: "/servlet" }],
  ["/ajax/%2E%2e/servlet", { path: "/servlet" }],
  ["/ajax/.%2e/servlet", { path: "/servlet" }],
  ["/ajax/%2e./servlet", { path: "/servlet" }],
  ["/ajax/%2e/login", { path: "/ajax/login" }],
  ["/servlet/./axis2//services", { path: "/servlet/axis2/services" }],
  ["/servlet/axis2/services;x=y/x", { path: "/servlet/axis2/services/x" }],
  ["/servlet/axis2;jsessionid=1.OX1/services/x", { path: "/servlet/axis2/services/x", session: "1.OX1" }],
  ["/ajax/login;jsessionid=abc.OX2", { path: "/ajax/login", session: "abc.OX2" }],
  ["/ajax/..;/servlet", { path: "/servlet" }],
  ["/ajax/..;x=y/servlet", { path: "/servlet" }],
  ["/ajax;a=1;b=2/x", { path: "/ajax/x" }],
  ["/ajax;a=1;jsessionid=s.OX1;b=2/x", { path: "/ajax/x", session: "s.OX1" }],
  ["/;x=y/ajax", { path: "/ajax" }],
  ["/ajax;/x", { path: "/ajax/x" }],
  ["/ajax;novalue/x", { path: "/ajax/x" }],
  ["/ajax;JSESSIONID=abc.OX1/x", { path: "/ajax/x" }],
  ["/a;jsessionid=1.OX1/b;jsessionid=2.OX2", { path: "/a/b", session: "1.OX1" }],
  ["/a;jsessionid=;jsessionid=2.OX2", { path: "/a", session: "2.OX2" }],
  ["/ajax;jsessionid=", { path: "/ajax" }],
  ["/a;jsessionid=1.OX1/../b", { path: "/b", session: "1.OX1" }],
  ["/a%20b", { path: "/a%20b", decoded: "/a b" }],
  ["/a+b", { path: "/a+b" }],
  ["/a%25b", { path: "/a%25b", decoded: "/a%b" }],
  ["/a%252F", { path: "/a%252F", decoded: "/a%2F" }],
  ["/caf%C3%A9", { path: "/caf%C3%A9", decoded: "/café" }],
  ["/caf%c3%a9", { path: "/caf%C3%A9", decoded: "/café" }],
  ["/%F0%9F%98%80", { path: "/%F0%9F%98%80", decoded: "/😀" }],
  ["/a:b@c!$&'()*+,=", { path: "/a:b@c!$&'()*+,=" }],
  ["/a%3Ab%40c", { path: "/a:b@c" }],
  ["/a|b^c[d]", { path: "/a%7Cb%5Ec%5Bd%5D", decoded: "/a|b^c[d]" }],
  ["/a%3Fb%23c", { path: "/a%3Fb%23c", decoded: "/a?b#c" }],
  ["/...", { path: "/..." }],
  ["/.../..", { path: "/" }],
  ["/.a/a.", { path: "/.a/a." }],
  ["/%EF%BB%BFajax", { path: "/%EF%BB%BFajax", decoded: "/\uFEFFajax" }],
];

const BAD_CASES: Array<[string, RegExp]> = [
  ["ajax", /start with \//],
  ["/servlet%2faxis2/services", /encoded slash/],
  ["/servlet/axis2%2Fservices", /encoded slash/],
  ["/servlet/axis2/services%2f..", /encoded slash/],
  ["/a;x=%2F", /encoded slash/],
  ["/a%5Cb", /encoded backslash/],
  ["/a%5cb", /encoded backslash/],
  ["/a\\b", /backslash/],
  ["/servlet\\axis2\\services", /backslash/],
  ["/a%00b", /NUL/],
  ["/a%3Bb", /semicolon/],
  ["/a%3bx=y/b", /semicolon/],
  ["/a;x=%3B", /semicolon/],
  ["/%", /percent escape/],
  ["/%4", /percent escape/],
  ["/%zz", /percent escape/],
  ["/%%41", /percent escape/],
  ["/a%G1", /percent escape/],
  ["/..", /above the root/],
  ["/../a", /above the root/],
  ["/a/../..", /above the root/],
  ["/a/../../b", /above the root/],
  ["/%2e%2e", /above the root/],
  ["/%2E%2E/etc/passwd", /above the root/],
  ["//..", /above the root/],
  ["/./..", /above the root/],
  ["/..;x=y/a", /above the root/],
  ["/a%C3", /UTF-8/],
  ["/%C0%AF", /UTF-8/],
  ["/%C0%AE%C0%AE/a", /UTF-8/],
  ["/%ED%A0%80", /UTF-8/],
  ["/%FF", /UTF-8/],
  ["/%E2%82", /UTF-8/],
  ["/a%0Ab", /control/],
  ["/a%0d%0aX-Injected:%201", /control/],
  ["/a%09", /control/],
  ["/a%7F", /control/],
  ["/a%C2%85", /control/],
  ["/a b", /space, control or non-ASCII/],
  ["/a\tb", /space, control or non-ASCII/],
  ["/a\u0000b", /space, control or non-ASCII/],
  ["/café", /space, control or non-ASCII/],
  ["/a;jsessionid=a'b", /session/],
  ["/a;jsessionid=a%41", /session/],
  ["/" + "a".repeat(MAX_PATH_LENGTH), /too long/],
];

describe("canonicalPath: accepted paths", () => {
  it.each(OK_CASES)("%j", (raw, want) => {
    const r = canonicalPath(raw);
    expect(r).toEqual({
      ok: true,
      path: want.path,
      decoded: want.decoded ?? want.path,
      ...(want.session !== undefined ? { session: want.session } : {}),
    });
  });
});

describe("canonicalPath: refused paths", () => {
  it.each(BAD_CASES)("%j", (raw, reason) => {
    const r = canonicalPath(raw);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(reason);
  });
});

describe("canonicalPath: session parameter name", () => {
  it("keeps no parameter when the name is empty", () => {
    expect(canonicalPath("/a;jsessionid=1.OX1", "")).toEqual({ ok: true, path: "/a", decoded: "/a" });
  });
  it("compares the name case-sensitively, as Tomcat does", () => {
    expect(canonicalPath("/a;jsessionid=1.OX1", "JSESSIONID")).toEqual({ ok: true, path: "/a", decoded: "/a" });
    expect(canonicalPath("/a;JSESSIONID=1.OX1", "JSESSIONID")).toMatchObject({ session: "1.OX1" });
  });
  it("does not judge the value of other parameters (they are dropped)", () => {
    expect(canonicalPath("/a;x=a'b;y=%41/c")).toEqual({ ok: true, path: "/a/c", decoded: "/a/c" });
  });
});

describe("underPrefix", () => {
  it.each([
    ["/ajax", "/ajax", true],
    ["/ajax/", "/ajax", true],
    ["/ajax/login", "/ajax", true],
    ["/ajaxfoo", "/ajax", false],
    ["/AJAX", "/ajax", false],
    ["/aja", "/ajax", false],
    ["/x/ajax", "/ajax", false],
    ["/servlet/axis2/services/x", "/servlet/axis2/services", true],
  ])("%j under %j = %j", (path, prefix, want) => {
    expect(underPrefix(path, prefix)).toBe(want);
  });
});

describe("splitRawUrl", () => {
  it.each([
    ["https://h/a/b?x=1", "/a/b", "x=1"],
    ["https://h/a/../b?x=1", "/a/../b", "x=1"],
    ["https://h:8443/a%2fb", "/a%2fb", ""],
    ["https://h/a\\b?x", "/a\\b", "x"],
    ["https://h", "/", ""],
    ["https://h?x=/y", "/", "x=/y"],
    ["https://h/a?b?c#frag", "/a", "b?c"],
    ["https://h/a#frag?x", "/a", ""],
    ["https://h/?", "/", ""],
    ["https://h//ajax", "//ajax", ""],
  ])("%j", (url, path, query) => {
    expect(splitRawUrl(url)).toEqual({ path, query });
  });
});

// Path-like strings built from the pieces that matter to a canonicaliser.
const PIECES = [
  "/", "/", "/", ".", "..", ";", "=", "%", "%2e", "%2E", "%2f", "%3B", "%5c", "%00", "%61", "%25", "%20",
  "%C3%A9", "%C3", "%FF", "\\", " ", "a", "b", "ajax", "servlet", "jsessionid", "jsessionid=1.OX1", "~", "-", "?",
  "%0a", "é", ":", "@",
];
const pathish = fc.array(fc.constantFrom(...PIECES), { maxLength: 30 }).map((p) => "/" + p.join(""));
const anything = fc.oneof(pathish, fc.string({ maxLength: 60 }), fc.string({ unit: "binary", maxLength: 60 }).map((s) => "/" + s));

describe("canonicalPath: properties", () => {
  it("never throws, and its output is canonical and idempotent", () => {
    fc.assert(
      fc.property(anything, (raw) => {
        const r = canonicalPath(raw);
        if (!r.ok) return;
        for (const out of [r.path, r.decoded]) {
          expect(out.startsWith("/")).toBe(true);
          expect(out).not.toContain("//");
          expect(out).not.toContain("/./");
          expect(out).not.toContain("/../");
          expect(out).not.toContain(";");
          expect(out.endsWith("/.") || out.endsWith("/..")).toBe(false);
        }
        const again = canonicalPath(r.path);
        expect(again).toEqual({ ok: true, path: r.path, decoded: r.decoded });
      }),
      { numRuns: 5000 },
    );
  });

  it("one percent-decode of the forwarded path gives exactly the path that was judged", () => {
    fc.assert(
      fc.property(anything, (raw) => {
        const r = canonicalPath(raw);
        if (!r.ok) return;
        expect(r.path.split("/").map(decodeURIComponent).join("/")).toBe(r.decoded);
        expect(r.path).toMatch(/^[A-Za-z0-9\-._~!$&'()*+,=:@%/]*$/);
      }),
      { numRuns: 5000 },
    );
  });

  it("a session parameter never changes the path", () => {
    fc.assert(
      fc.property(pathish, fc.stringMatching(/^[A-Za-z0-9]{1,12}\.OX[0-9]$/), (raw, sid) => {
        const plain = canonicalPath(raw);
        const withSid = canonicalPath(`${raw};jsessionid=${sid}`);
        if (!plain.ok || raw.includes(";")) return;
        expect(withSid).toMatchObject({ ok: true, path: plain.path, decoded: plain.decoded, session: sid });
      }),
      { numRuns: 2000 },
    );
  });
});
