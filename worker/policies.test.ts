// Unit tests of the small pure helpers behind the middleware.
import { describe, expect, it } from "vitest";
import { isRestricted } from "./access.ts";
import { forwardHeaders } from "./handoff.ts";
import { canonicalPath } from "./canonical.ts";
import { parseConfig } from "./config.ts";
import { cachePolicy, isClusterPath, isVersioned, isWebSocketPath, rewriteCanon } from "./paths.ts";
import type { Canon } from "./types.ts";
import { httpsLocation, redirectStatus } from "./redirect.ts";

describe("redirect helpers", () => {
  it.each([
    ["GET", 301],
    ["HEAD", 301],
    ["POST", 308],
    ["PUT", 308],
    ["DELETE", 308],
    ["OPTIONS", 308],
    ["PROPFIND", 308],
  ])("%s -> %d", (m, s) => expect(redirectStatus(m)).toBe(s));
  it("changes only the scheme", () => {
    expect(httpsLocation("http://app.example.com/a/b?c=d&e")).toBe("https://app.example.com/a/b?c=d&e");
    expect(httpsLocation("http://app.example.com:8080/")).toBe("https://app.example.com:8080/");
  });
});

describe("cluster paths and versioned assets", () => {
  const prefixes = ["/ajax", "/servlet", "/Microsoft-Server-ActiveSync"];
  it.each([
    ["/ajax", true],
    ["/ajax/login", true],
    ["/ajax/", true],
    ["/ajaxfoo", false],
    ["/AJAX/login", false],
    ["/microsoft-server-activesync", false],
    ["/Microsoft-Server-ActiveSync", true],
    ["/", false],
    ["/index.html", false],
  ])("%j cluster=%j", (p, want) => expect(isClusterPath(p, prefixes)).toBe(want));

  it.each([
    ["/app.3f9a1c2e.js", true],
    ["/static/logo-4f3c2a1b0d.svg", true],
    ["/oxedge.3F9A1C2E.css", true],
    ["/appsuite/v=7.10.6-22.20240101/boot.js", true],
    ["/appsuite/v=1/x/y.png", true],
    ["/app.js", false],
    ["/app.deadbeef.js", false], // no digit: a word, not a fingerprint
    ["/app.3f9a1c2.js", false], // 7 hex digits: too short
    ["/v=1.js", false],
    ["/3f9a1c2e12/app.js", false], // the directory is not the file name
    ["/app.3f9a1c2e", false], // no extension after the fingerprint
  ])("%j versioned=%j", (p, want) => expect(isVersioned(p)).toBe(want));

  it("chooses the cache policy by type, then by fingerprint", () => {
    expect(cachePolicy("/", "text/html; charset=utf-8", 3600)).toEqual({ cacheControl: "no-cache" });
    expect(cachePolicy("/x.3f9a1c2e.html", "text/html", 3600)).toEqual({ cacheControl: "no-cache" });
    expect(cachePolicy("/x.3f9a1c2e.js", "text/javascript", 3600)).toEqual({
      cacheControl: "public, max-age=31536000, immutable",
      expiresIn: 31536000,
    });
    expect(cachePolicy("/demo.js", "text/javascript", 120)).toEqual({ cacheControl: "public, max-age=120", expiresIn: 120 });
    // 304 without Content-Type: HTML judged by the path.
    expect(cachePolicy("/docs/", null, 120)).toEqual({ cacheControl: "no-cache" });
    expect(cachePolicy("/a.htm", null, 120)).toEqual({ cacheControl: "no-cache" });
  });
});

describe("provisioning restriction", () => {
  it.each([
    ["/servlet/axis2", true],
    ["/servlet/axis2/services/OXUserService", true],
    ["/servlet/axis2/x/services/OXUserService", true],
    ["/servlet/axis2foo", true], // string prefix, like httpd <Location>
    ["/servlet/axis", false],
    ["/servlet/Axis2/services", true], // case-insensitive: not every node maps like Tomcat
    ["/SERVLET/AXIS2", true],
    ["/ajax/servlet/axis2", false],
  ])("%j restricted=%j", (p, want) => expect(isRestricted(p, ["/servlet/axis2"])).toBe(want));
});

describe("path map in the worker", () => {
  const cfg = parseConfig({ BRIDGE_URLS: "https://b.example.net", BRIDGE_SECRET: "0123456789abcdef".repeat(3), PATH_MAP: "appsuite7" });
  const canon = (raw: string) => canonicalPath(raw) as Canon;

  it.each([
    ["/appsuite/api/login", "/ajax/login", "/ajax/login"],
    ["/appsuite/api", "/ajax", "/ajax"],
    ["/appsuite/api/", "/ajax/", "/ajax/"],
    ["/appsuite//api/./x/%C3%A9;jsessionid=a.OX1", "/ajax/x/%C3%A9", "/ajax/x/é"],
  ])("rewrites %s to %s (decoded %s), the session parameter kept aside", (raw, path, decoded) => {
    const c = canon(raw);
    const out = rewriteCanon(cfg.paths, c, cfg.paths.route(c.decoded)!);
    expect(out).toEqual({ ...c, path, decoded });
  });

  it.each([
    ["/socket.io/", true],
    ["/socket.io", true],
    ["/socket.iox", false],
    ["/ajax/socket.io", false],
    ["/Socket.IO/", false],
    ["/ajax/x", false],
    ["/index.html", false],
  ])("%s accepts a WebSocket: %j", (p, want) => expect(isWebSocketPath(cfg, p)).toBe(want));

  it("ox6 has no WebSocket prefix", () => {
    const ox6 = parseConfig({ BRIDGE_URLS: "https://b.example.net", BRIDGE_SECRET: "0123456789abcdef".repeat(3) });
    expect(ox6.paths.rules.some((r) => r.websocket)).toBe(false);
  });
});

describe("forwardHeaders", () => {
  it("drops hop-by-hop, Connection-named, proxy-*, x-oxedge-*, forwarding, Host and Expect headers", () => {
    const h = new Headers({
      connection: "keep-alive, X-Hop",
      "keep-alive": "timeout=5",
      "x-hop": "1",
      te: "trailers",
      trailer: "x-t",
      upgrade: "websocket",
      "proxy-authorization": "Basic eA==",
      "proxy-connection": "keep-alive",
      "x-oxedge-route": "OX9",
      "X-OxEdge-Sig": "v1=00",
      forwarded: "for=6.6.6.6",
      "x-forwarded-for": "6.6.6.6",
      "x-forwarded-host": "evil.example",
      "x-real-ip": "6.6.6.6",
      "true-client-ip": "6.6.6.6",
      host: "evil.example",
      expect: "100-continue",
      cookie: "JSESSIONID=a.OX1",
      "content-type": "application/json",
      "x-custom": "kept",
      authorization: "Bearer t",
    });
    const out = Object.fromEntries(forwardHeaders(h));
    expect(out).toEqual({
      cookie: "JSESSIONID=a.OX1",
      "content-type": "application/json",
      "x-custom": "kept",
      authorization: "Bearer t",
    });
  });
});
