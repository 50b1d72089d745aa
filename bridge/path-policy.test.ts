import { describe, expect, it } from "vitest";
import { buildConfig } from "./config.ts";
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

describe("the bridge's check with the path map", () => {
  const config = (extra: Record<string, unknown>) => buildConfig({ members: [{ route: "OX1", address: "http://127.0.0.1:8009" }], ...extra }, { OXEDGE_BRIDGE_SECRET: "0123456789abcdef0123456789abcdef" });
  const p = new PathPolicy(config({ paths: "appsuite7", provisioning: { allow: ["192.0.2.0/24"] } }).paths);
  const OUTSIDER = "203.0.113.9";
  const ADMIN = "192.0.2.7";

  it.each([
    ["/ajax/login", "forwards"],
    ["/drive/x", "forwards"],
    ["/socket.io/", "forwards"],
    ["/servlet/dav/", "forwards"],
    ["/appsuite", "not-found"],
    ["/ajaxfoo", "not-found"],
    ["/Drive/x", "not-found"],
    ["/.well-known/caldav", "not-found"],
    ["/balancer-manager", "not-found"],
    ["/webservices/OXUserService", "forbidden"],
    ["/WebServices/x", "not-found"],
    ["/webservicesX/x", "not-found"],
    ["/servlet/axis2/services/x", "forbidden"],
    ["/servlet/AXIS2/x/services/y", "forbidden"],
    ["/servlet/axis2foo", "forbidden"],
    ["/preliminary/x", "forbidden"],
    ["/webservices/%2e%2e/ajax", "bad-path"],
    ["/webservices;x=y/z", "bad-path"],
  ])("%s from an outsider: %s", (path, want) => {
    const v = p.judge(path, OUTSIDER);
    expect(v.ok ? "forwards" : v.kind).toBe(want);
  });

  it("internal paths pass for the allow-list", () => {
    for (const path of ["/webservices/OXUserService", "/servlet/axis2/services/x", "/preliminary/x"]) expect(p.judge(path, ADMIN)).toMatchObject({ ok: true, path });
  });

  it("a rewritten-from prefix reaching the bridge is not a cluster path: the edge rewrites it before signing", () => {
    expect(p.judge("/appsuite/api/login", ADMIN)).toEqual({ ok: false, kind: "not-found", reason: "/appsuite/api is rewritten to /ajax at the edge, never forwarded as it is" });
  });

  it("the verdict carries the prefix's WebSocket flag, reply timeout and deadline", () => {
    expect(p.judge("/socket.io/", OUTSIDER)).toEqual({ ok: true, path: "/socket.io/", websocket: true, replyTimeoutMs: undefined, deadlineMs: 0 });
    expect(p.judge("/Microsoft-Server-ActiveSync", OUTSIDER)).toEqual({ ok: true, path: "/Microsoft-Server-ActiveSync", websocket: false, replyTimeoutMs: 1_900_000, deadlineMs: 0 });
    const legacy = new PathPolicy(config({ timeouts: [{ prefix: "/ajax/slow", timeout: 300, deadline: 600 }] }).paths);
    expect(legacy.judge("/ajax/slow/x", OUTSIDER)).toMatchObject({ ok: true, replyTimeoutMs: 300_000, deadlineMs: 600_000 });
    expect(legacy.judge("/ajax/x", OUTSIDER)).toMatchObject({ ok: true, replyTimeoutMs: undefined, deadlineMs: 0 });
  });

  it("every internal prefix a path lies under must allow the client", () => {
    const both = new PathPolicy(config({ paths: ["ox6", { prefix: "/servlet/axis2/services", internal: true, allow: ["192.0.2.7"] }], provisioning: { allow: ["192.0.2.0/24"] } }).paths);
    expect(both.judge("/servlet/axis2/services/x", "192.0.2.7")).toMatchObject({ ok: true });
    expect(both.judge("/servlet/axis2/services/x", "192.0.2.8")).toMatchObject({ ok: false, kind: "forbidden", reason: "internal path /servlet/axis2/services from 192.0.2.8" });
    expect(both.judge("/servlet/axis2/other", "192.0.2.8")).toMatchObject({ ok: true });
  });

  it("the default map judges as the six prefixes and the provisioning path did", () => {
    const d = new PathPolicy(config({ provisioning: { allow: ["192.0.2.0/24"] } }).paths);
    const old = new PathPolicy(["/ajax", "/servlet", "/infostore", "/publications", "/Microsoft-Server-ActiveSync", "/usm-json"], "/servlet/axis2", ["192.0.2.0/24"]);
    for (const path of ["/ajax/x", "/servlet/axis2/x", "/SERVLET/axis2", "/servlet/Axis2/x", "/usm-json", "/usm-jsonx", "/drive/x", "/webservices/x", "/socket.io/", "/"]) {
      for (const ip of [OUTSIDER, ADMIN]) {
        const a = d.judge(path, ip);
        const b = old.judge(path, ip);
        expect(a.ok ? "ok" : a.kind, `${path} from ${ip}`).toBe(b.ok ? "ok" : b.kind);
      }
    }
  });
});
