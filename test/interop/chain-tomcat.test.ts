/**
 * The full chain against real Tomcat: a user logs in through the worker, stays
 * on the node that created the session, and is moved when that node stops.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkInteropPrereqs } from "../../peers/prereqs.ts";
import { startTomcatCluster, type TomcatNode } from "../../peers/tomcat.ts";
import { startTestBridge, type TestBridge } from "../support/bridge.ts";
import { startWorker, TEST_SECRET, type WorkerHandle } from "../../peers/miniflare.ts";
import { accountingAfterEach } from "../support/accounting.ts";

accountingAfterEach();

const prereqs = checkInteropPrereqs();
const HOST = "https://ox.example.com";

describe.runIf(prereqs.ok)("worker → bridge → real Tomcat 10", () => {
  let nodes: TomcatNode[];
  let bridge: TestBridge;
  let w: WorkerHandle;

  beforeAll(async () => {
    nodes = await startTomcatCluster(["OX1", "OX2"]);
    bridge = await startTestBridge(
      nodes.map((n) => ({ route: n.route, port: n.ajpPort, node: n, secret: n.secret, loadfactor: 50, connectiontimeout: 1 })),
      { balancer: { healthcheck: 0, retry: 60 } },
      TEST_SECRET,
    );
    w = await startWorker({ BRIDGE_URLS: bridge.url });
  });
  afterAll(async () => {
    await w?.dispose();
    await bridge?.close();
    await Promise.all((nodes ?? []).map((n) => n.stop()));
  });

  const get = (path: string, cookie?: string) => w.fetch(HOST + path, { headers: { "cf-connecting-ip": "203.0.113.50", ...(cookie ? { cookie } : {}) } });

  it("login through the worker, 50 requests on the same node, then failover when it stops", async () => {
    const login = await get("/ajax/login");
    expect(login.status).toBe(200);
    const cookies = login.headers.getSetCookie();
    expect(cookies.length).toBe(3);
    const id = /JSESSIONID=([^;]+)/.exec(cookies.join("\n"))![1];
    const route = id.slice(id.indexOf(".") + 1);
    expect(["OX1", "OX2"]).toContain(route);
    const cookie = cookies.map((c) => c.split(";")[0]).join("; ");
    for (let i = 0; i < 50; i++) {
      const r = await get("/ajax/session", cookie);
      expect(await r.json()).toMatchObject({ node: route, requestedSessionId: id, valid: true });
    }
    const echo = (await (await get("/ajax/echo", cookie)).json()) as { remoteAddr: string; isSecure: boolean; serverName: string; serverPort: number };
    expect(echo).toMatchObject({ remoteAddr: "203.0.113.50", isSecure: true, serverName: "ox.example.com", serverPort: 443 });

    const home = nodes.find((n) => n.route === route)!;
    await home.stop();
    const moved = await get("/ajax/session", cookie);
    expect(moved.status).toBe(200);
    const other = route === "OX1" ? "OX2" : "OX1";
    expect(await moved.json()).toMatchObject({ node: other, valid: false });
  });
});
