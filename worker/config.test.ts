import { afterEach, describe, expect, it, vi } from "vitest";
import { ConfigError, configFor, parseConfig, type Env } from "./config.ts";

const SECRET = "5f0c3e1a9b7d4c2e8f6a1b3d5c7e9f0a2b4c6d8e";
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
    const c = parseConfig(base);
    expect(c).toMatchObject({
      bridgeUrls: ["https://bridge.example.net"],
      bridges: [{ url: "https://bridge.example.net", weight: 1 }],
      access: undefined,
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
    // The ox6 preset: what the six prefixes and PROVISIONING_PATH always were.
    expect(c.paths.rules.map((r) => [r.prefix, r.cluster, r.internal])).toEqual([
      ["/ajax", true, false],
      ["/servlet", true, false],
      ["/infostore", true, false],
      ["/publications", true, false],
      ["/Microsoft-Server-ActiveSync", true, false],
      ["/usm-json", true, false],
      ["/servlet/axis2", false, true],
    ]);
    expect(c.warnings).toEqual([expect.stringMatching(/^\/Microsoft-Server-ActiveSync: reply timeout 900 s \(preset ox6\)/)]);
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
    expect(c.bridges.map((b) => b.weight)).toEqual([1, 1]);
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
    ["BRIDGE_URLS", "https://b1.example.net 101"],
    ["BRIDGE_URLS", "https://b1.example.net 0"],
    ["BRIDGE_URLS", "https://b1.example.net 2, https://B1.example.net 1"],
    ["CLUSTER_PREFIXES", "ajax"],
    ["CLUSTER_PREFIXES", "/ajax/"],
    ["CLUSTER_PREFIXES", "/%61jax"],
    ["CLUSTER_PREFIXES", "/a/../b"],
    ["CLUSTER_PREFIXES", "/"],
    ["CLUSTER_PREFIXES", ""],
    ["PROVISIONING_PATH", "/servlet;x=y/axis2"],
    ["PATH_MAP", "appsuite8"],
    ["PATH_MAP", "[{]"],
    ["PATH_MAP", 7],
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
    expect(short.message).toContain("the secret is 14 characters; it must be at least 32 characters");
    expect(errorOf({ ...base, BRIDGE_SECRET: "x".repeat(40) }).message).toContain("only 1 different characters");
  });

  it("reads weights from BRIDGE_URLS; weight 0 is a standby", () => {
    const c = parseConfig({ ...base, BRIDGE_URLS: "https://b1.example.net 3, https://b2.example.net, https://b3.example.net 0" });
    expect(c.bridges).toEqual([
      { url: "https://b1.example.net", weight: 3 },
      { url: "https://b2.example.net", weight: 1 },
      { url: "https://b3.example.net", weight: 0 },
    ]);
    expect(errorOf({ ...base, BRIDGE_URLS: "https://b1.example.net 3, https://b2.example.net x" }).message).toContain('item "https://b2.example.net x": weight "x" is not a whole number from 0 to 100');
  });

  it("takes a Cloudflare Access service token as a pair only", () => {
    const c = parseConfig({ ...base, ACCESS_CLIENT_ID: "abc.access", ACCESS_CLIENT_SECRET: "s3cr3t" });
    expect(c.access).toEqual({ clientId: "abc.access", clientSecret: "s3cr3t" });
    const half = errorOf({ ...base, ACCESS_CLIENT_SECRET: "s3cr3t" });
    expect(half.field).toBe("ACCESS_CLIENT_ID");
    expect(half.message).not.toContain("s3cr3t");
    expect(errorOf({ ...base, ACCESS_CLIENT_ID: "", ACCESS_CLIENT_SECRET: "s3cr3t" }).message).toContain("ACCESS_CLIENT_ID = (secret, 0 chars): empty");
  });

  it("names every bad field at once, and may leave the secret unset for check:worker", () => {
    const e = errorOf({ BRIDGE_URLS: "nope", HSTS_MAX_AGE: "soon" });
    expect(e.problems.map((p) => p.field)).toEqual(["BRIDGE_URLS", "BRIDGE_SECRET", "HSTS_MAX_AGE"]);
    expect(parseConfig({ BRIDGE_URLS: "https://b.example.net" }, { secretMayBeUnset: true }).bridgeSecret).toBe("");
    expect(errorOf({ BRIDGE_URLS: "https://b.example.net" }).field).toBe("BRIDGE_SECRET");
  });
});

describe("PATH_MAP", () => {
  it("names a preset; the old prefixes and provisioning vars are views of it", () => {
    const c = parseConfig({ ...base, PATH_MAP: " appsuite7 ", PROVISIONING_ALLOW: "10.0.0.0/8" });
    expect(c.paths.route("/appsuite/api/login")).toMatchObject({ rewrite: "/ajax" });
    expect(c.clusterPrefixes).toContain("/webservices");
    expect(c.provisioningPaths).toEqual(["/webservices", "/servlet/axis2", "/preliminary"]);
    // PROVISIONING_ALLOW is the allow-list of every internal rule that has none of its own.
    expect(c.paths.internal("/webservices/x").map((r) => r.allow)).toEqual([["10.0.0.0/8"]]);
    expect(c.warnings).toHaveLength(2);
  });

  it("takes a list as JSON text or, from wrangler.toml, as the array wrangler passes on", () => {
    const list = ["appsuite7", { prefix: "/Microsoft-Server-ActiveSync", timeout: 95 }, { prefix: "/usm-json", timeout: 95 }];
    for (const PATH_MAP of [JSON.stringify(list), list]) {
      const c = parseConfig({ ...base, PATH_MAP });
      expect(c.paths.route("/Microsoft-Server-ActiveSync")).toMatchObject({ cluster: true, timeout: 95 });
      expect(c.warnings).toEqual([]);
    }
    expect(parseConfig({ ...base, PATH_MAP: '[{"prefix":"/ajax","cluster":true}]' }).clusterPrefixes).toEqual(["/ajax"]);
  });

  it("empty is the ox6 preset", () => {
    expect(parseConfig({ ...base, PATH_MAP: "" }).paths.rules).toEqual(parseConfig(base).paths.rules);
    expect(parseConfig({ ...base, PATH_MAP: "ox6" }).paths.rules).toEqual(parseConfig(base).paths.rules);
  });

  it("a bad rule is named by its place in the list", () => {
    const e = errorOf({ ...base, PATH_MAP: '[{"prefix":"/ajax","cluster":true},{"prefix":"/x","rewrite":"/nope"}]' });
    expect(e.field).toBe("PATH_MAP[1].rewrite");
    expect(e.message).toContain('PATH_MAP[1].rewrite = "/nope": the target /nope is not a cluster path of this map');
    expect(errorOf({ ...base, PATH_MAP: "[1" }).message).toMatch(/PATH_MAP = "\[1": not valid JSON/);
  });

  it("CLUSTER_PREFIXES and PROVISIONING_PATH keep working with ox6 (unset or by name) and replace its parts", () => {
    for (const PATH_MAP of [undefined, "ox6"]) {
      const c = parseConfig({ ...base, PATH_MAP, CLUSTER_PREFIXES: "/ajax,/drive", PROVISIONING_PATH: "/ajax/admin", PROVISIONING_ALLOW: "10.0.0.1" });
      expect(c.clusterPrefixes).toEqual(["/ajax", "/drive"]);
      expect(c.provisioningPaths).toEqual(["/ajax/admin"]);
      expect(c.paths.internal("/AJAX/Admin/x").map((r) => r.allow)).toEqual([["10.0.0.1"]]);
      expect(c.paths.route("/servlet/x")).toBeUndefined();
    }
  });

  it("… and contradict any other map, which is refused naming the old var as written", () => {
    const e = errorOf({ ...base, PATH_MAP: "appsuite7", CLUSTER_PREFIXES: "/ajax,/servlet" });
    expect(e.field).toBe("CLUSTER_PREFIXES");
    expect(e.message).toContain('CLUSTER_PREFIXES = "/ajax,/servlet": cannot be combined with PATH_MAP = "appsuite7"');
    expect(errorOf({ ...base, PATH_MAP: '["ox6"]', PROVISIONING_PATH: "/servlet/axis2" }).field).toBe("PROVISIONING_PATH");
  });
});

describe("configFor", () => {
  afterEach(() => vi.restoreAllMocks());

  it("logs the warnings once per env object, i.e. once per isolate", () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    const env = { ...base, PATH_MAP: "appsuite7" };
    for (let i = 0; i < 3; i++) configFor(env);
    expect(warn.mock.calls.map((c) => String(c[0]))).toEqual([
      expect.stringMatching(/^oxedge-worker warning \/usm-json: reply timeout 1900 s/),
      expect.stringMatching(/^oxedge-worker warning \/Microsoft-Server-ActiveSync: reply timeout 1900 s/),
    ]);
    configFor({ ...env });
    expect(warn).toHaveBeenCalledTimes(4);
  });

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
