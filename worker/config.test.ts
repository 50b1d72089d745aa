import { describe, expect, it } from "vitest";
import { ConfigError, configFor, parseConfig, type Env } from "./config.ts";

const SECRET = "s".repeat(40);
const base: Env = { BRIDGE_URLS: "https://bridge.example.net", BRIDGE_SECRET: SECRET };

function errorOf(env: Env): ConfigError {
  try {
    parseConfig(env);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error("expected a ConfigError");
}

describe("parseConfig", () => {
  it("fills defaults", () => {
    expect(parseConfig(base)).toEqual({
      bridgeUrls: ["https://bridge.example.net"],
      bridgeSecret: SECRET,
      clusterPrefixes: ["/ajax", "/servlet", "/infostore", "/publications", "/Microsoft-Server-ActiveSync", "/usm-json"],
      provisioningPaths: ["/servlet/axis2"],
      provisioningAllow: [],
      stickyCookies: ["JSESSIONID"],
      stickyPathParam: "jsessionid",
      stickyQueryParam: "jsessionid",
      hstsMaxAge: 31536000,
      hstsIncludeSubdomains: false,
      debugHeaders: false,
      bridgeRetrySkipSeconds: 10,
      staticMaxAge: 3600,
    });
  });

  it("parses lists, numbers and flags, including TOML numbers and booleans", () => {
    const c = parseConfig({
      ...base,
      BRIDGE_URLS: " https://b1.example.net/ , http://10.0.0.5:8081 ",
      PROVISIONING_ALLOW: "127.0.0.1, 10.0.0.0/8,::1,2001:db8::/32",
      STICKY_COOKIES: "JSESSIONID,OXROUTE",
      STICKY_PATH_PARAM: "",
      HSTS_MAX_AGE: 600,
      DEBUG_HEADERS: true,
      HSTS_INCLUDE_SUBDOMAINS: "ON",
    });
    expect(c.bridgeUrls).toEqual(["https://b1.example.net", "http://10.0.0.5:8081"]);
    expect(c.provisioningAllow).toEqual(["127.0.0.1", "10.0.0.0/8", "::1", "2001:db8::/32"]);
    expect(c.stickyCookies).toEqual(["JSESSIONID", "OXROUTE"]);
    expect(c.stickyPathParam).toBe("");
    expect(c.hstsMaxAge).toBe(600);
    expect(c.debugHeaders).toBe(true);
    expect(c.hstsIncludeSubdomains).toBe(true);
  });

  it.each<[string, unknown]>([
    ["BRIDGE_URLS", undefined],
    ["BRIDGE_URLS", ""],
    ["BRIDGE_URLS", "bridge.example.net"],
    ["BRIDGE_URLS", "https://bridge.example.net/edge"],
    ["BRIDGE_URLS", "https://u:p@bridge.example.net"],
    ["BRIDGE_URLS", "ftp://bridge.example.net"],
    ["CLUSTER_PREFIXES", "ajax"],
    ["CLUSTER_PREFIXES", "/ajax/"],
    ["CLUSTER_PREFIXES", "/%61jax"],
    ["CLUSTER_PREFIXES", "/a/../b"],
    ["CLUSTER_PREFIXES", "/"],
    ["CLUSTER_PREFIXES", ""],
    ["PROVISIONING_PATH", "/servlet;x=y/axis2"],
    ["PROVISIONING_ALLOW", "not-an-ip"],
    ["PROVISIONING_ALLOW", "10.0.0.0/33"],
    ["PROVISIONING_ALLOW", "*"],
    ["STICKY_COOKIES", "JSESSION ID"],
    ["STICKY_COOKIES", ""],
    ["STICKY_PATH_PARAM", "js;id"],
    ["HSTS_MAX_AGE", "soon"],
    ["HSTS_MAX_AGE", "-1"],
    ["HSTS_MAX_AGE", "1.5"],
    ["DEBUG_HEADERS", "maybe"],
    ["BRIDGE_RETRY_SKIP_SECONDS", "99999"],
    ["STATIC_MAX_AGE", "1e3"],
  ])("%s=%j is refused and named", (field, value) => {
    const e = errorOf({ ...base, [field]: value });
    expect(e.field).toBe(field);
    expect(e.kind).toBe("bad-config");
    expect(e.message).toContain(field);
    expect(e.message).toContain("allowed:");
    if (value !== undefined) expect(e.message).toContain(JSON.stringify(value));
  });

  it("names the bad item of a list", () => {
    expect(errorOf({ ...base, PROVISIONING_ALLOW: "10.0.0.1, nope ,::1" }).message).toContain('item "nope": not an IP address or CIDR');
  });

  it("names a missing or short secret without showing it", () => {
    const missing = errorOf({ BRIDGE_URLS: "https://b.example.net" });
    expect(missing.field).toBe("BRIDGE_SECRET");
    expect(missing.message).toContain("(unset)");
    const short = errorOf({ ...base, BRIDGE_SECRET: "hunter2hunter2" });
    expect(short.field).toBe("BRIDGE_SECRET");
    expect(short.message).not.toContain("hunter2");
    expect(short.message).toContain("secret, 14 chars");
  });
});

describe("configFor", () => {
  it("parses once per env object", () => {
    const env = { ...base };
    const a = configFor(env);
    env.HSTS_MAX_AGE = "nonsense"; // not re-read: env objects don't change within an isolate
    expect(configFor(env)).toBe(a);
  });
  it("keeps failing for a bad env object", () => {
    const env = { ...base, DEBUG_HEADERS: "maybe" };
    expect(() => configFor(env)).toThrow(ConfigError);
    expect(() => configFor(env)).toThrow(/DEBUG_HEADERS/);
  });
});
