import { describe, expect, it } from "vitest";
import { MAX_ROUTE_LENGTH, cookieValue, queryValue, routeOf, stickyRoute } from "./sticky.ts";

describe("cookieValue (mod_proxy_balancer get_cookie_param)", () => {
  it.each<[string | null, string | undefined]>([
    ["JSESSIONID=abc.OX1", "abc.OX1"],
    ["a=b; JSESSIONID=abc.OX1; c=d", "abc.OX1"],
    ["a=b;JSESSIONID=abc.OX1", "abc.OX1"],
    ["a=b,JSESSIONID=x.OX2", "x.OX2"],
    ["a=b, JSESSIONID=x.OX2", "x.OX2"],
    ["\tJSESSIONID=x.OX1", "x.OX1"],
    ["a=b;\nJSESSIONID=x.OX1", "x.OX1"],
    ["JSESSIONID=x.OX1, other=1", "x.OX1"],
    ["JSESSIONID=x.OX1,JSESSIONID=y.OX2", "x.OX1"],
    ["JSESSIONID=a.OX1; JSESSIONID=b.OX2", "a.OX1"],
    // Left boundary: a longer name ending in JSESSIONID is not it.
    ["XJSESSIONID=x.OX1", undefined],
    ["XJSESSIONID=x.OX1; JSESSIONID=y.OX2", "y.OX2"],
    ["my_JSESSIONID=x.OX1", undefined],
    // Right side: the name must be followed (after optional whitespace) by '='.
    ["JSESSIONIDX=1.OX1", undefined],
    ["JSESSIONIDX=1.OX1; JSESSIONID=2.OX2", "2.OX2"],
    ["JSESSIONID =x.OX1", "x.OX1"],
    ["JSESSIONID= x.OX1", " x.OX1"],
    ["JSESSIONID", undefined],
    ["JSESSIONID=", undefined],
    // httpd returns the first match even when its value is empty.
    ["JSESSIONID=; JSESSIONID=b.OX2", ""],
    // Case-sensitive name.
    ["jsessionid=x.OX1", undefined],
    ["Jsessionid=x.OX1", undefined],
    // No un-quoting, no trimming.
    ['JSESSIONID="x.OX1"', '"x.OX1"'],
    ["JSESSIONID=x.OX1 ; a=b", "x.OX1 "],
    // The name inside another cookie's value, after a separator, counts (as in httpd).
    ["a=1,JSESSIONID=v.OX2", "v.OX2"],
    ["a=xJSESSIONID=v.OX2", undefined],
    [null, undefined],
    ["", undefined],
  ])("%j", (header, want) => {
    expect(cookieValue(header, "JSESSIONID")).toBe(want);
  });
});

describe("routeOf: text after the FIRST dot", () => {
  it.each([
    ["0f3c9a.OX1", "OX1"],
    // httpd would look for a member "def.OX1"; none can have that route (no "." in routes).
    ["abc.def.OX1", ""],
    ["abc", ""],
    ["abc.", ""],
    [".OX1", "OX1"],
    ["", ""],
    [" x.OX1", "OX1"],
    ["x.OX1 ", ""],
    ['"x.OX1"', ""],
    ["x.OX 1", ""],
    ["x.OX1;y", ""],
    ["x." + "R".repeat(MAX_ROUTE_LENGTH), "R".repeat(MAX_ROUTE_LENGTH)],
    ["x." + "R".repeat(MAX_ROUTE_LENGTH + 1), ""],
    ["x.ox1", "ox1"],
  ])("%j -> %j", (value, route) => {
    expect(routeOf(value)).toBe(route);
  });
});

describe("queryValue", () => {
  it.each<[string, string | undefined]>([
    ["jsessionid=x.OX1", "x.OX1"],
    ["a=1&jsessionid=x.OX2&b=2", "x.OX2"],
    ["jsessionid=x.OX1&jsessionid=y.OX2", "x.OX1"],
    ["JSESSIONID=x.OX1", undefined],
    ["xjsessionid=x.OX1", undefined],
    ["jsessionid", undefined],
    ["jsessionid=", ""],
    ["", undefined],
  ])("%j", (q, want) => {
    expect(queryValue(q, "jsessionid")).toBe(want);
  });
});

describe("stickyRoute: sources and their order", () => {
  const opts = { cookies: ["JSESSIONID"], queryParam: "jsessionid" };
  it.each([
    [{ cookie: "JSESSIONID=a.OX1", query: "" }, "OX1", "cookie"],
    [{ cookie: "JSESSIONID=a.OX1", pathSession: "b.OX2", query: "jsessionid=c.OX3" }, "OX1", "cookie"],
    [{ cookie: null, pathSession: "b.OX2", query: "jsessionid=c.OX3" }, "OX2", "path"],
    [{ cookie: null, query: "jsessionid=c.OX3" }, "OX3", "query"],
    [{ cookie: "other=1", query: "a=b" }, "", "none"],
    [{ cookie: null, query: "" }, "", "none"],
    // The first source with a value decides, even without a route (httpd: no sticky info).
    [{ cookie: "JSESSIONID=noroute", pathSession: "b.OX2", query: "" }, "", "cookie"],
    // An empty value is no value: fall through.
    [{ cookie: "JSESSIONID=; x=1", pathSession: "b.OX2", query: "" }, "OX2", "path"],
    [{ cookie: null, query: "jsessionid=&x=1" }, "", "none"],
  ])("%j -> %j (%s)", (input, route, source) => {
    expect(stickyRoute(input, opts)).toEqual({ route, source });
  });

  it("tries cookie names in configured order", () => {
    const o = { cookies: ["OXROUTE", "JSESSIONID"], queryParam: "" };
    expect(stickyRoute({ cookie: "JSESSIONID=a.OX1; OXROUTE=b.OX2", query: "" }, o)).toEqual({ route: "OX2", source: "cookie" });
    expect(stickyRoute({ cookie: "JSESSIONID=a.OX1", query: "" }, o)).toEqual({ route: "OX1", source: "cookie" });
  });

  it("ignores the query when its parameter name is empty", () => {
    expect(stickyRoute({ cookie: null, query: "jsessionid=c.OX3" }, { cookies: ["JSESSIONID"], queryParam: "" })).toEqual({
      route: "",
      source: "none",
    });
  });
});
