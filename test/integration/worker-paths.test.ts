// The path map in the worker (workerd under Miniflare) against the stub bridge, which checks the
// hand-off signature over the target it receives: a rewritten path that arrives with a valid
// signature was rewritten before signing.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWorker, TEST_SECRET, type WorkerHandle } from "../../peers/miniflare.ts";
import { internalSpellings } from "../support/spellings.ts";
import { startStubBridge, type StubBridge } from "../support/stub-bridge.ts";

const HOST = "https://app.example.com";
const ALLOWED = "198.51.100.7";
const OUTSIDER = "203.0.113.9";

interface Echo {
  node: string;
  target: string;
  route: string;
  headers: Record<string, string>;
}

let stub: StubBridge;
let w: WorkerHandle;

function get(path: string, headers: Record<string, string> = {}, init: RequestInit = {}, worker = w) {
  return worker.fetch(HOST + path, { ...init, headers: { "cf-connecting-ip": OUTSIDER, ...headers } });
}

beforeAll(async () => {
  stub = await startStubBridge({ secret: TEST_SECRET });
  w = await startWorker({ BRIDGE_URLS: stub.url, PATH_MAP: "appsuite7", PROVISIONING_ALLOW: ALLOWED });
});

afterAll(async () => {
  await w?.dispose();
  await stub?.close();
});

describe("PATH_MAP = appsuite7: rewrite", () => {
  it("/appsuite/api/login reaches the bridge as /ajax/login, signed as such, and the login answer comes back", async () => {
    const r = await get("/appsuite/api/login?action=login", {}, { method: "POST", body: "name=u&password=p" });
    expect(r.status).toBe(200);
    const echo = (await r.json()) as Echo;
    expect(echo.target).toBe("/ajax/login?action=login");
    expect(stub.requests.at(-1)).toMatchObject({ target: "/ajax/login?action=login", signatureOk: true, method: "POST" });
    expect(r.headers.getSetCookie()[0]).toMatch(/^JSESSIONID=[0-9a-f]+\.OX[12]; Path=\/; HttpOnly$/);
  });

  it.each([
    ["/appsuite/api", "/ajax"],
    ["/appsuite/api/", "/ajax/"],
    ["/appsuite/api/config/x?a=1&b=%2F", "/ajax/config/x?a=1&b=%2F"],
    ["/appsuite//api/./x/../mail;foo=bar", "/ajax/mail"],
    ["/appsuite/api/caf%C3%A9", "/ajax/caf%C3%A9"],
  ])("%s → %s", async (path, target) => {
    const echo = (await (await get(path)).json()) as Echo;
    expect(echo.target).toBe(target);
    expect(stub.requests.at(-1)?.signatureOk).toBe(true);
  });

  it("keeps the URL-rewritten session on the rewritten path and routes by it", async () => {
    const echo = (await (await get("/appsuite/api/session;jsessionid=abc.OX2?x=1")).json()) as Echo;
    expect(echo.target).toBe("/ajax/session;jsessionid=abc.OX2?x=1");
    expect(echo.route).toBe("OX2");
  });

  it.each(["/appsuite/apix", "/appsuite/", "/APPSUITE/api/x", "/appsuite/Api/x", "/ajax/../appsuite/apifoo"])("%s is not rewritten and does not reach the bridge", async (p) => {
    const before = stub.requests.length;
    const body = await (await get(p)).text();
    expect(body).not.toContain('"node"');
    expect(stub.requests.length).toBe(before);
  });
});

describe("PATH_MAP = appsuite7: cluster prefixes", () => {
  it.each(["/ajax", "/drive", "/infostore", "/publications", "/realtime", "/servlet", "/usm-json", "/Microsoft-Server-ActiveSync", "/socket.io"])(
    "%s reaches the bridge unchanged",
    async (prefix) => {
      for (const p of [prefix, `${prefix}/`, `${prefix}/x?EIO=4&transport=polling`]) {
        const r = await get(p);
        expect(r.status, p).toBe(200);
        expect(((await r.json()) as Echo).target).toBe(p);
      }
    },
  );

  it.each([
    ["/Drive/x", 404],
    ["/realtimex", 404],
    ["/socket.io.x/y", 404],
    ["/balancer-manager", 404],
    // Internal: an outsider is refused before anything else is decided.
    ["/preliminary/y", 403],
  ])("%s does not reach the bridge (%d)", async (p, status) => {
    const before = stub.requests.length;
    const r = await get(p);
    await r.arrayBuffer();
    expect(r.status).toBe(status);
    expect(stub.requests.length).toBe(before);
  });
});

describe("PATH_MAP = appsuite7: internal paths", () => {
  const cases = [...internalSpellings("/webservices"), ...internalSpellings("/preliminary", "http-notify/v1/notify"), ...internalSpellings("/servlet/axis2/services")];

  it.each(cases)("%s from an outsider never yields the backend", async (p) => {
    const before = stub.requests.length;
    const r = await get(p);
    const body = await r.text();
    expect([400, 403, 404], `${p} -> ${r.status}`).toContain(r.status);
    expect(body).not.toContain('"node"');
    expect(stub.requests.length).toBe(before);
  });

  it("the stub never saw an internal path from the outsider", () => {
    const internal = /^\/(webservices|preliminary|servlet\/axis2)/i;
    expect(stub.requests.filter((r) => internal.test(r.target) && r.headers["x-oxedge-client-ip"] === OUTSIDER)).toEqual([]);
  });

  it("an allowed client reaches them, with the canonical target", async () => {
    for (const [p, target] of [
      ["/webservices/OXUserService?wsdl", "/webservices/OXUserService?wsdl"],
      ["/ajax/../webservices//OXUserService", "/webservices/OXUserService"],
      ["/preliminary/http-notify/v1/notify", "/preliminary/http-notify/v1/notify"],
      ["/servlet/axis2/services/OXUserService", "/servlet/axis2/services/OXUserService"],
    ]) {
      const r = await get(p, { "cf-connecting-ip": ALLOWED });
      expect(r.status, p).toBe(200);
      const echo = (await r.json()) as Echo;
      expect(echo.target).toBe(target);
      expect(echo.headers["x-oxedge-client-ip"]).toBe(ALLOWED);
    }
  });
});

describe("PATH_MAP = appsuite7: CalDAV / CardDAV discovery", () => {
  it.each([
    ["GET", "/.well-known/caldav", "/servlet/dav/"],
    ["PROPFIND", "/.well-known/caldav", "/servlet/dav/"],
    ["GET", "/.well-known/carddav", "/servlet/dav/"],
    ["PROPFIND", "/.well-known/carddav/", "/servlet/dav/"],
    ["GET", "/.well-known/caldav?x=1", "/servlet/dav/?x=1"],
    ["GET", "/.well-known//caldav;x=y", "/servlet/dav/"],
  ])("%s %s → 302 to %s, answered at the edge", async (method, path, target) => {
    const before = stub.requests.length;
    const r = await get(path, {}, { method });
    expect(r.status).toBe(302);
    expect(r.headers.get("location")).toBe(HOST + target);
    expect(r.headers.get("strict-transport-security")).toBe("max-age=31536000");
    await r.arrayBuffer();
    expect(stub.requests.length).toBe(before);
  });

  it("plain http is sent to https first, and /.well-known/caldavx is not a discovery URI", async () => {
    const http = await w.fetch("http://app.example.com/.well-known/caldav");
    expect(http.status).toBe(301);
    expect(http.headers.get("location")).toBe("https://app.example.com/.well-known/caldav");
    const other = await get("/.well-known/caldavx");
    expect(other.status).toBe(404);
    await other.arrayBuffer();
  });
});

describe("edge timeouts", () => {
  it("are warned about once per isolate, on the first request", () => {
    const lines = w.logs.filter((l) => l.includes("oxedge-worker warning"));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain("/usm-json: reply timeout 1900 s (preset appsuite7) is longer than the 100 s Cloudflare waits for an origin");
    expect(lines[1]).toContain("/Microsoft-Server-ActiveSync: reply timeout 1900 s");
  });

  it("a map with timeouts within the limit warns about nothing", async () => {
    const list = JSON.stringify(["appsuite7", { prefix: "/Microsoft-Server-ActiveSync", timeout: 95 }, { prefix: "/usm-json", timeout: 95 }]);
    const w2 = await startWorker({ BRIDGE_URLS: stub.url, PATH_MAP: list });
    try {
      const r = await get("/appsuite/api/x", {}, {}, w2);
      expect(((await r.json()) as Echo).target).toBe("/ajax/x");
      expect(w2.logs.filter((l) => l.includes("oxedge-worker warning"))).toEqual([]);
    } finally {
      await w2.dispose();
    }
  });
});

describe("ox6 and the old vars", () => {
  it("PATH_MAP = ox6 with CLUSTER_PREFIXES and PROVISIONING_PATH: they replace its parts, nothing of appsuite7 applies", async () => {
    const w2 = await startWorker({ BRIDGE_URLS: stub.url, PATH_MAP: "ox6", CLUSTER_PREFIXES: "/ajax,/drive", PROVISIONING_PATH: "/drive/admin", PROVISIONING_ALLOW: ALLOWED });
    try {
      expect(((await (await get("/drive/x", {}, {}, w2)).json()) as Echo).target).toBe("/drive/x");
      for (const [p, status] of [
        ["/servlet/x", 404],
        ["/appsuite/api/x", 404],
        ["/.well-known/caldav", 404],
        ["/DRIVE/Admin/x", 403],
      ] as const) {
        const before = stub.requests.length;
        const r = await get(p, {}, {}, w2);
        expect(r.status, p).toBe(status);
        await r.arrayBuffer();
        expect(stub.requests.length).toBe(before);
      }
      expect((await get("/drive/admin/x", { "cf-connecting-ip": ALLOWED }, {}, w2)).status).toBe(200);
    } finally {
      await w2.dispose();
    }
  });

  it("CLUSTER_PREFIXES with another preset is a bad config naming it", async () => {
    const w2 = await startWorker({ BRIDGE_URLS: stub.url, PATH_MAP: "appsuite7", CLUSTER_PREFIXES: "/ajax" });
    try {
      const r = await get("/ajax/x", {}, {}, w2);
      expect(r.status).toBe(500);
      expect(await r.text()).toMatch(/\nconfig field: CLUSTER_PREFIXES\n$/);
      expect(w2.logs.find((l) => l.includes("kind=bad-config"))).toContain('cannot be combined with PATH_MAP = \\"appsuite7\\"');
    } finally {
      await w2.dispose();
    }
  });
});
