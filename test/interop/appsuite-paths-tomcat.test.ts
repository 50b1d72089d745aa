/**
 * The appsuite7 path map through the whole chain, worker (Miniflare) → bridge → real Tomcat 10
 * over HTTP, with the same preset on both sides: what the node is asked for is what its servlet
 * reports, so the rewrite is checked where it matters, and an internal path is refused before
 * any node answer can reach an outsider (at the worker, and at the bridge on its own).
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { HANDOFF_HEADERS } from "../../common/signing.ts";
import { checkInteropPrereqs } from "../../peers/prereqs.ts";
import { startTomcat, type TomcatEcho, type TomcatNode } from "../../peers/tomcat.ts";
import type { Env } from "../../worker/config.ts";
import app from "../../worker/index.ts";
import { accountingAfterEach } from "../support/accounting.ts";
import { bridgeRequest, startTestBridge, tomcatMember, type TestBridge } from "../support/bridge.ts";
import { startWorker, TEST_SECRET, type WorkerHandle } from "../../peers/miniflare.ts";
import { internalSpellings } from "../support/spellings.ts";
import { rawRequest } from "../support/raw-request.ts";

accountingAfterEach();

const prereqs = checkInteropPrereqs();
const HOST = "https://ox.example.com";
const ALLOWED = "198.51.100.7";
const OUTSIDER = "203.0.113.9";

describe.runIf(prereqs.ok)("appsuite7: worker → bridge → real Tomcat 10", () => {
  let node: TomcatNode;
  let bridge: TestBridge;
  let w: WorkerHandle;
  let env: Env;

  beforeAll(async () => {
    // The worker logs a line per refused request, and the appsuite7 warnings; expected here.
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    vi.spyOn(console, "warn").mockImplementation(() => undefined);
    node = await startTomcat({ route: "OX1", secret: "oxedge-test-appsuite-paths" });
    bridge = await startTestBridge(
      // App Suite's members are HTTP (Grizzly; Tomcat's HTTP connector here): its preset pushes over WebSockets, which AJP cannot carry.
      [tomcatMember(node, "http")],
      { balancer: { healthcheck: 0 }, paths: "appsuite7", provisioning: { allow: [ALLOWED] } },
      TEST_SECRET,
    );
    w = await startWorker({ BRIDGE_URLS: bridge.url, PATH_MAP: "appsuite7", PROVISIONING_ALLOW: ALLOWED });
    env = {
      BRIDGE_URLS: bridge.url,
      BRIDGE_SECRET: TEST_SECRET,
      PATH_MAP: "appsuite7",
      PROVISIONING_ALLOW: ALLOWED,
      DEBUG_HEADERS: "true",
      ASSETS: { fetch: async () => new Response("static asset", { status: 404, headers: { "x-test-asset": "1" } }) },
    };
  });
  afterAll(async () => {
    vi.restoreAllMocks();
    await w?.dispose();
    await bridge?.close();
    await node?.stop();
  });

  const get = (path: string, ip = OUTSIDER, headers: Record<string, string> = {}) => w.fetch(HOST + path, { headers: { "cf-connecting-ip": ip, ...headers } });

  it("/appsuite/api/login reaches the node as /ajax/login, and the session it starts works under /appsuite/api", async () => {
    const login = await get("/appsuite/api/login?action=login");
    expect(login.status).toBe(200);
    expect(login.headers.get(HANDOFF_HEADERS.servedBy)).toBe("OX1");
    const body = (await login.json()) as { node: string; sessionId: string; requestURI: string; servletPath: string; pathInfo: string; servletName: string };
    expect(body).toMatchObject({ node: "OX1", requestURI: "/ajax/login", servletPath: "/ajax", pathInfo: "/login", servletName: "ox" });
    const cookie = login.headers
      .getSetCookie()
      .map((c) => c.split(";")[0])
      .join("; ");
    expect(cookie).toMatch(new RegExp(`JSESSIONID=${body.sessionId}`));
    expect(body.sessionId).toMatch(/\.OX1$/);
    const session = await get("/appsuite/api/session", OUTSIDER, { cookie });
    expect(await session.json()).toEqual({ node: "OX1", requestedSessionId: body.sessionId, valid: true });
  });

  it("the node's echo shows the rewritten path and the query unchanged", async () => {
    const echo = (await (await get("/appsuite/api/echo?action=all&x=%2F")).json()) as TomcatEcho;
    expect(echo).toMatchObject({ requestURI: "/ajax/echo", servletPath: "/ajax", pathInfo: "/echo", queryString: "action=all&x=%2F", remoteAddr: OUTSIDER });
  });

  it("/webservices/… from a non-allowed client never yields the node's body, however it is spelled", async () => {
    const seen: string[] = [];
    for (const p of internalSpellings("/webservices", "echo")) {
      // Through workerd (its fetch client normalises the URL first), and the URL exactly as written.
      const viaMiniflare = await get(p);
      const viaMiniflareBody = await viaMiniflare.text();
      const raw = await app.fetch(rawRequest(HOST + p, { headers: { "cf-connecting-ip": OUTSIDER } }), env);
      const rawBody = await raw.text();
      for (const [r, b] of [
        [viaMiniflare, viaMiniflareBody],
        [raw, rawBody],
      ] as const) {
        expect([400, 403, 404], `${p} -> ${r.status}`).toContain(r.status);
        expect(r.headers.get(HANDOFF_HEADERS.servedBy), p).toBeNull();
        expect(b, p).not.toContain("servletName");
      }
      seen.push(`${raw.status}`);
    }
    // Most spellings are the internal path itself and get 403; the undecidable ones 400.
    expect(seen).toContain("403");
    expect(seen).toContain("400");
  });

  it("the bridge refuses it on its own, from the signed client address", async () => {
    const r = await bridgeRequest(bridge.url, { target: "/webservices/echo", clientIp: OUTSIDER, secret: TEST_SECRET });
    expect(r.status).toBe(403);
    expect(r.headers["x-oxedge-error"]).toBe("forbidden");
    expect(r.servedBy).toBeUndefined();
    expect(r.body.toString()).not.toContain("servletName");
  });

  it("an allowed client gets the node's answer for /webservices", async () => {
    const r = await get("/ajax/../webservices//echo?wsdl", ALLOWED);
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ node: "OX1", requestURI: "/webservices/echo", servletName: "ox", queryString: "wsdl", remoteAddr: ALLOWED });
  });

  it("a signed /appsuite/api/… at the bridge (a worker without the rewrite) is not forwarded", async () => {
    const r = await bridgeRequest(bridge.url, { target: "/appsuite/api/echo", clientIp: ALLOWED, secret: TEST_SECRET });
    expect(r.status).toBe(404);
    expect(r.headers["x-oxedge-error"]).toBe("not-found");
    expect(r.servedBy).toBeUndefined();
  });
});
