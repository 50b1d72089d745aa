import { describe, expect, it } from "vitest";
import * as z from "zod/mini";
import { OX_PREFIXES } from "./prefixes.ts";
import { EDGE_TIMEOUT_S, prefixProblem, resolvePaths, type PathMap, type PathsSource } from "./path-map.ts";

// Accepts what looks like an address; each side passes its real validator.
const ip = z.string().check(z.regex(/^[0-9a-f.:]+(\/\d+)?$/i, "not an address"));

function resolve(src: Partial<PathsSource> = {}) {
  return resolvePaths({ field: "paths", value: undefined, ip, defaultAllow: ["192.0.2.1"], ...src });
}

function mapOf(src: Partial<PathsSource> = {}): PathMap {
  const r = resolve(src);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.map;
}

function problemsOf(src: Partial<PathsSource>) {
  const r = resolve(src);
  if (r.ok) throw new Error("accepted");
  return r.problems;
}

/** What a path is to the map, in one word: refused-looking paths are the caller's business. */
function what(map: PathMap, path: string): string {
  const r = map.route(path);
  if (!r) return "static";
  if (r.redirect) return `redirect ${r.redirect}`;
  if (r.rewrite) return `cluster as ${map.rewrite(path, r)}`;
  return r.cluster ? "cluster" : "static";
}

describe("presets", () => {
  it("ox6 (also the default): the six prefixes, the whole Axis2 tree internal, ActiveSync 900 s", () => {
    for (const value of [undefined, "ox6"]) {
      const m = mapOf({ value });
      expect(m.clusterPrefixes).toEqual([...OX_PREFIXES]);
      expect(m.internalPrefixes).toEqual(["/servlet/axis2"]);
      expect(m.route("/Microsoft-Server-ActiveSync/x")).toMatchObject({ timeout: 900, deadline: 0, websocket: false });
      expect(m.route("/ajax/login")).toMatchObject({ prefix: "/ajax", timeout: undefined, deadline: 0 });
      // Only what the six prefixes and the provisioning path did before: no rewrite, redirect or WebSocket.
      expect(m.rules.filter((r) => r.rewrite || r.redirect || r.websocket)).toEqual([]);
      expect(m.internal("/servlet/axis2/services/x").map((r) => r.allow)).toEqual([["192.0.2.1"]]);
    }
  });

  it("appsuite7: OX App Suite 7's proxied paths, its internal ones, the DAV discovery redirects", () => {
    const m = mapOf({ value: "appsuite7" });
    expect(m.clusterPrefixes).toEqual([
      "/ajax",
      "/appsuite/api",
      "/drive",
      "/infostore",
      "/publications",
      "/realtime",
      "/servlet",
      "/usm-json",
      "/Microsoft-Server-ActiveSync",
      "/socket.io",
      "/webservices",
      "/preliminary",
    ]);
    expect(m.internalPrefixes).toEqual(["/webservices", "/servlet/axis2", "/preliminary"]);
    expect(what(m, "/appsuite/api/login")).toBe("cluster as /ajax/login");
    expect(what(m, "/.well-known/caldav")).toBe("redirect /servlet/dav/");
    expect(what(m, "/.well-known/carddav/x")).toBe("redirect /servlet/dav/");
    expect(what(m, "/.well-known/caldavx")).toBe("static");
    expect(m.route("/socket.io/")).toMatchObject({ websocket: true, cluster: true });
    expect(m.route("/ajax/x")).toMatchObject({ websocket: false });
    expect(m.route("/Microsoft-Server-ActiveSync")).toMatchObject({ timeout: 1900 });
    expect(m.route("/usm-json/x")).toMatchObject({ timeout: 1900 });
    // The rewritten prefix behaves as its target.
    expect(m.route("/appsuite/api/x")).toMatchObject({ cluster: true, timeout: undefined, websocket: false });
    expect(what(m, "/appsuite")).toBe("static");
    expect(what(m, "/appsuite/apix")).toBe("static");
  });

  it("an unknown preset is named", () => {
    expect(problemsOf({ value: "appsuite8" })).toEqual([{ field: "paths", value: '"appsuite8"', rule: expect.stringContaining("unknown preset; known: ox6, appsuite7") }]);
    expect(problemsOf({ value: ["appsuite8", { prefix: "/x", cluster: true }] })[0]).toMatchObject({ field: "paths[0]", value: '"appsuite8"' });
  });
});

describe("matching", () => {
  const m = mapOf({
    value: [
      { prefix: "/a", cluster: true, timeout: 30 },
      { prefix: "/a/b", websocket: true },
      { prefix: "/a/b/static", cluster: false },
      { prefix: "/Ab", cluster: true },
    ],
  });

  it.each([
    ["/a", "/a"],
    ["/a/", "/a"],
    ["/a/x", "/a"],
    ["/a;jsessionid=1.OX1", "/a"],
    ["/ab", undefined],
    ["/A/x", undefined],
    ["/a/b", "/a/b"],
    ["/a/bc", "/a"],
    ["/a/b/static/x.png", "/a/b/static"],
    ["/ab/x", undefined],
    ["/Ab/x", "/Ab"],
  ])("%s → %s (longest prefix, whole segments, case as written)", (path, prefix) => {
    expect(m.route(path)?.prefix).toBe(prefix);
  });

  it("a longer rule inherits cluster and WebSocket, not the timeout", () => {
    expect(m.route("/a/b/x")).toMatchObject({ cluster: true, websocket: true, timeout: undefined });
    expect(m.route("/a/b/static/x")).toMatchObject({ cluster: false, websocket: false });
    expect(m.route("/a/x")).toMatchObject({ timeout: 30 });
  });
});

describe("internal paths", () => {
  const m = mapOf({
    value: [
      "ox6",
      { prefix: "/webservices", cluster: true, internal: true, allow: ["10.0.0.0/8"] },
      { prefix: "/servlet/axis2/services", internal: true, allow: ["10.1.0.0/16"] },
    ],
  });

  it.each([
    ["/servlet/axis2", ["/servlet/axis2"]],
    ["/servlet/axis2foo", ["/servlet/axis2"]],
    ["/SERVLET/Axis2/x", ["/servlet/axis2"]],
    ["/servlet/axis2/services/x", ["/servlet/axis2", "/servlet/axis2/services"]],
    ["/servlet/axis", []],
    ["/ajax/servlet/axis2", []],
    ["/WebServices/x", ["/webservices"]],
    ["/webservicesx", ["/webservices"]],
  ])("%s is restricted by %j (case-insensitive string prefixes, all that apply)", (path, prefixes) => {
    expect(m.internal(path).map((r) => r.prefix)).toEqual(prefixes);
  });

  it("each rule keeps its own allow-list, the others take the shared one", () => {
    expect(Object.fromEntries(m.rules.filter((r) => r.internal).map((r) => [r.prefix, r.allow]))).toEqual({
      "/servlet/axis2": ["192.0.2.1"],
      "/webservices": ["10.0.0.0/8"],
      "/servlet/axis2/services": ["10.1.0.0/16"],
    });
  });

  it("an internal-only rule does not change what the path is", () => {
    expect(m.route("/servlet/axis2/services/x")?.prefix).toBe("/servlet");
    const odd = mapOf({ value: [{ prefix: "/ajax", cluster: true }, { prefix: "/private", internal: true }] });
    expect(what(odd, "/private/x")).toBe("static");
  });
});

describe("the old settings", () => {
  it("with ox6 they replace its parts, exactly as they did", () => {
    const m = mapOf({
      cluster: { field: "prefixes", value: ["/ajax", "/a/b"] },
      internal: { field: "provisioning.path", value: ["/ajax/admin"] },
      timeouts: { field: "timeouts", value: [{ prefix: "/a", timeout: 300, deadline: 10 }, { prefix: "/ajax/long", deadline: 5 }, { prefix: "/Microsoft-Server-ActiveSync", timeout: 900 }] },
    });
    expect(m.clusterPrefixes).toEqual(["/ajax", "/a/b"]);
    expect(m.internalPrefixes).toEqual(["/ajax/admin"]);
    // A timeouts entry covers every path under it, cluster rules under it included ...
    expect(m.route("/a/b/x")).toMatchObject({ cluster: true, timeout: 300, deadline: 10 });
    // ... but makes nothing a cluster path that was not one.
    expect(what(m, "/a/x")).toBe("static");
    expect(what(m, "/Microsoft-Server-ActiveSync")).toBe("static");
    // An entry without timeout keeps the member's (it never took a shorter entry's).
    expect(m.route("/ajax/long/x")).toMatchObject({ cluster: true, timeout: undefined, deadline: 5 });
    expect(m.route("/ajax/x")).toMatchObject({ timeout: undefined, deadline: 0 });
  });

  it("an empty timeouts list removes ox6's ActiveSync timeout, as it did", () => {
    expect(mapOf({ timeouts: { field: "timeouts", value: [] } }).route("/Microsoft-Server-ActiveSync")).toMatchObject({ timeout: undefined });
  });

  it("another preset refuses the old lists, and takes timeouts as overrides", () => {
    const both = problemsOf({ value: "appsuite7", cluster: { field: "CLUSTER_PREFIXES", value: ["/ajax"] }, internal: { field: "PROVISIONING_PATH", value: ["/x"] } });
    expect(both.map((p) => p.field)).toEqual(["CLUSTER_PREFIXES", "PROVISIONING_PATH"]);
    expect(both[0].rule).toContain('cannot be combined with paths = "appsuite7"');
    const m = mapOf({ value: "appsuite7", timeouts: { field: "timeouts", value: [{ prefix: "/Microsoft-Server-ActiveSync", timeout: 90 }] } });
    expect(m.route("/Microsoft-Server-ActiveSync")).toMatchObject({ timeout: 90, cluster: true });
    expect(m.route("/usm-json")).toMatchObject({ timeout: 1900 });
  });

  it("a list refuses every old setting but the shared allow-list", () => {
    const p = problemsOf({
      value: ["ox6", { prefix: "/drive", cluster: true }],
      cluster: { field: "prefixes", value: ["/ajax"] },
      timeouts: { field: "timeouts", value: [] },
    });
    expect(p.map((x) => x.field)).toEqual(["prefixes", "timeouts"]);
    expect(p[1].rule).toContain("give timeout and deadline in the rules of paths");
  });
});

describe("lists", () => {
  it("a preset first, then rules that change its rules field by field or add new ones", () => {
    const m = mapOf({ value: ["appsuite7", { prefix: "/Microsoft-Server-ActiveSync", timeout: 90 }, { prefix: "/dav", cluster: true }, { prefix: "/webservices", allow: ["10.0.0.1"] }] });
    expect(m.route("/Microsoft-Server-ActiveSync")).toMatchObject({ timeout: 90, cluster: true, source: "paths[1]" });
    expect(what(m, "/dav/x")).toBe("cluster");
    expect(m.internal("/webservices/x")[0]).toMatchObject({ internal: true, allow: ["10.0.0.1"] });
    expect(mapOf({ value: ["appsuite7", { prefix: "/Microsoft-Server-ActiveSync", timeout: 90 }] }).route("/Microsoft-Server-ActiveSync")).toMatchObject({ timeout: 90 });
  });

  it("a list starting with ox6 keeps its ActiveSync timeout, and can change it", () => {
    expect(mapOf({ value: ["ox6", { prefix: "/drive", cluster: true }] }).route("/Microsoft-Server-ActiveSync")).toMatchObject({ timeout: 900, cluster: true });
    expect(mapOf({ value: ["ox6", { prefix: "/Microsoft-Server-ActiveSync", timeout: 95 }] }).route("/Microsoft-Server-ActiveSync")).toMatchObject({ timeout: 95, cluster: true });
  });

  it("a rewrite replaces the prefix only, and takes the target's timeout and WebSocket flag", () => {
    const m = mapOf({ value: [{ prefix: "/x", cluster: true, websocket: true, timeout: 50 }, { prefix: "/old/x", rewrite: "/x" }] });
    const r = m.route("/old/x/y;jsessionid=1.OX1")!;
    expect(m.rewrite("/old/x/y;jsessionid=1.OX1", r)).toBe("/x/y;jsessionid=1.OX1");
    expect(m.rewrite("/old/x", r)).toBe("/x");
    expect(r).toMatchObject({ cluster: true, websocket: true, timeout: 50 });
  });

  it.each<[string, unknown[], string, string]>([
    ["a path that is not canonical", [{ prefix: "/a/%2e", cluster: true }], "paths[0].prefix", "not a canonical path"],
    ["a trailing slash", [{ prefix: "/ajax/", cluster: true }], "paths[0].prefix", "no trailing /"],
    ["an unknown key", [{ prefix: "/ajax", clustr: true }], "paths[0]", 'unknown key "clustr"'],
    ["a string for a flag", [{ prefix: "/ajax", cluster: "yes" }], "paths[0].cluster", "expected true or false"],
    ["a zero timeout", [{ prefix: "/ajax", cluster: true, timeout: 0 }], "paths[0].timeout", "must be above 0"],
    ["a bad address", [{ prefix: "/ajax", cluster: true, internal: true, allow: ["nope"] }], "paths[0].allow[0]", "not an address"],
    ["not a rule", [{ prefix: "/ajax", cluster: true }, 7], "paths[1]", "expected a rule"],
    ["a rule that says nothing", [{ prefix: "/ajax" }], "paths[0].prefix", "says nothing"],
    ["the same prefix twice", [{ prefix: "/ajax", cluster: true }, { prefix: "/ajax", internal: true }], "paths[1].prefix", "the same prefix as paths[0]"],
    ["allow without internal", [{ prefix: "/ajax", cluster: true, allow: ["10.0.0.1"] }], "paths[0].allow", "only applies to an internal rule"],
    ["a rewrite to a static path", [{ prefix: "/ajax", cluster: true }, { prefix: "/x", rewrite: "/y" }], "paths[1].rewrite", "not a cluster path"],
    ["a rewrite with its own timeout", [{ prefix: "/ajax", cluster: true }, { prefix: "/x", rewrite: "/ajax", timeout: 5 }], "paths[1].timeout", "behaves like it"],
    ["a rewrite into itself", [{ prefix: "/ajax", cluster: true }, { prefix: "/x", rewrite: "/x/y" }], "paths[1].rewrite", "lies under the rewritten prefix"],
    ["a rewrite into another rewrite", [{ prefix: "/ajax", cluster: true }, { prefix: "/x", rewrite: "/ajax" }, { prefix: "/y", rewrite: "/x/z" }], "paths[2].rewrite", "rewritten itself"],
    ["a rule under a rewrite", [{ prefix: "/ajax", cluster: true }, { prefix: "/x", rewrite: "/ajax" }, { prefix: "/x/y", cluster: true }], "paths[2].prefix", "forwarded unrewritten"],
    ["a forwarded redirect", [{ prefix: "/ajax", cluster: true }, { prefix: "/r", redirect: "/ajax/", cluster: true }], "paths[1].cluster", "never forwarded"],
    ["a static WebSocket", [{ prefix: "/ajax", cluster: true }, { prefix: "/ws", websocket: true }], "paths[1].websocket", "must go to the cluster"],
    ["nothing for the cluster", [{ prefix: "/x", internal: true }], "paths[0]", "no rule sends anything to the cluster"],
    ["an empty list", [], "paths", "sends nothing"],
  ])("%s is refused, naming the field", (_what, value, field, rule) => {
    const p = problemsOf({ value });
    expect(p[0].field).toBe(field);
    expect(p[0].rule).toContain(rule);
    expect(p[0].value).not.toBe("");
  });

  it("names the value too", () => {
    expect(problemsOf({ value: [{ prefix: "/ajax", cluster: true, timeout: -3 }] })[0]).toEqual({ field: "paths[0].timeout", value: "-3", rule: "must be above 0" });
    expect(problemsOf({ value: { prefix: "/ajax" } })[0]).toMatchObject({ field: "paths", value: '{"prefix":"/ajax"}' });
  });
});

describe("prefix syntax", () => {
  it.each([
    ["/ajax", undefined],
    ["/Microsoft-Server-ActiveSync", undefined],
    ["/.well-known/caldav", undefined],
    ["/socket.io", undefined],
    ["ajax", "must start with /"],
    ["/", "the root is not a prefix"],
    ["/a//b", "empty segment (//)"],
    ["/a/../b", "dot segment"],
    ["/a;x=y", expect.stringContaining("not canonical")],
    ["/%61jax", expect.stringContaining("not canonical")],
    ["/a b", expect.stringContaining("not canonical")],
  ])("%j: %j", (p, want) => expect(prefixProblem(p)).toEqual(want));

  it("a redirect target may end in / (a DAV root)", () => {
    expect(prefixProblem("/servlet/dav/", true)).toBeUndefined();
    expect(prefixProblem("/", true)).toBeUndefined();
    expect(prefixProblem("/servlet//", true)).toBe("empty segment (//)");
  });
});

describe("timeouts the edge cannot keep", () => {
  it("are warned about, once per rule, naming prefix, value, origin and the way out", () => {
    const r = resolve({ value: "appsuite7" });
    if (!r.ok) throw new Error("refused");
    expect(r.warnings).toHaveLength(2);
    expect(r.warnings[0]).toMatch(/^\/usm-json: reply timeout 1900 s \(preset appsuite7\) is longer than the 100 s Cloudflare waits for an origin/);
    expect(r.warnings[1]).toContain("/Microsoft-Server-ActiveSync: reply timeout 1900 s");
    expect(r.warnings[1]).toContain("com.openexchange.usm.eas.ping.max_heartbeat");
  });

  it("not at the limit, nor for a path the edge does not forward", () => {
    const r = resolve({ value: [{ prefix: "/ajax", cluster: true, timeout: EDGE_TIMEOUT_S }, { prefix: "/s", cluster: false, timeout: 500 }] });
    expect(r.ok && r.warnings).toEqual([]);
    const lowered = resolve({ value: "ox6", timeouts: { field: "timeouts", value: [{ prefix: "/Microsoft-Server-ActiveSync", timeout: 95 }] } });
    expect(lowered.ok && lowered.warnings).toEqual([]);
  });
});
