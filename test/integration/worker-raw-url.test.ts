// The worker's Hono app run in Node with request URLs exactly as written.
//
// Every fetch() client, Miniflare included, parses the URL first: that resolves
// `..`, `%2e%2e` and turns `\` into `/` before the worker sees it. Cloudflare's
// edge may or may not normalise the same way (it is a zone setting), so the
// worker must be right on raw input. Here a Request whose `url` is the raw
// string reaches the app directly; the hand-off goes to the stub bridge over
// real HTTP.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import app from "../../worker/index.ts";
import type { Env } from "../../worker/config.ts";
import { TEST_SECRET } from "../../peers/miniflare.ts";
import { startStubBridge, type StubBridge } from "../support/stub-bridge.ts";
import { rawRequest } from "../support/raw-request.ts";

const ALLOWED = "198.51.100.7";
const OUTSIDER = "203.0.113.9";

let stub: StubBridge;
let env: Env;
const assetPaths: string[] = [];
const logLines: string[] = [];

async function call(rawUrl: string, ip: string, init: RequestInit = {}) {
  const headers = new Headers(init.headers);
  headers.set("cf-connecting-ip", ip);
  return app.fetch(rawRequest(rawUrl, { ...init, headers }), env);
}

beforeAll(async () => {
  vi.spyOn(console, "error").mockImplementation((...args: unknown[]) => void logLines.push(args.join(" ")));
  stub = await startStubBridge({ secret: TEST_SECRET });
  env = {
    BRIDGE_URLS: stub.url,
    BRIDGE_SECRET: TEST_SECRET,
    PROVISIONING_ALLOW: ALLOWED,
    DEBUG_HEADERS: "true",
    ASSETS: {
      async fetch(req: Request) {
        assetPaths.push(new URL(req.url).pathname);
        return new Response("no such asset", { status: 404 });
      },
    },
  };
});

afterAll(async () => {
  vi.restoreAllMocks();
  await stub?.close();
});

// [raw path, what an allowed client's request must arrive as, or null = refused (400)]
const RAW: Array<[string, string | null]> = [
  ["/servlet/axis2/services/X", "/servlet/axis2/services/X"],
  ["/ajax/../servlet/axis2/services/X", "/servlet/axis2/services/X"],
  ["/ajax/%2e%2e/servlet/axis2/services/X", "/servlet/axis2/services/X"],
  ["/ajax/%2E%2E/servlet/axis2/services/X", "/servlet/axis2/services/X"],
  ["/ajax/.%2e/servlet/axis2/services/X", "/servlet/axis2/services/X"],
  ["/ajax/..;/servlet/axis2/services/X", "/servlet/axis2/services/X"],
  ["/ajax/..;x=y/servlet/axis2/services/X", "/servlet/axis2/services/X"],
  ["/servlet/./axis2//services/X", "/servlet/axis2/services/X"],
  ["/servlet/%2e/axis2/services/X", "/servlet/axis2/services/X"],
  ["//servlet//axis2//services//X", "/servlet/axis2/services/X"],
  ["/servlet/axis2/services;x=y/X", "/servlet/axis2/services/X"],
  ["/servlet;a=1/axis2;b=2/services;c=3/X;d=4", "/servlet/axis2/services/X"],
  ["/servlet/axis2;jsessionid=1.OX1/services/X", "/servlet/axis2/services/X;jsessionid=1.OX1"],
  ["/servlet/%61xis2/services/X", "/servlet/axis2/services/X"],
  ["/%73%65%72%76%6C%65%74/axis2/services/X", "/servlet/axis2/services/X"],
  ["/servlet/axis2/x/../services/X", "/servlet/axis2/services/X"],
  ["/servlet/axis2/x/services/X", "/servlet/axis2/x/services/X"],
  ["/servlet/axis2/servicesX", "/servlet/axis2/servicesX"],
  ["/servlet/AXIS2/services/X", "/servlet/AXIS2/services/X"],
  ["/servlet%2faxis2/services/X", null],
  ["/servlet/axis2%2Fservices/X", null],
  ["/servlet/axis2/services/X%2f..", null],
  ["/servlet/axis2/services%3Bx=y/X", null],
  ["/servlet\\axis2\\services\\X", null],
  ["/servlet/axis2/services/X%5c..", null],
  ["/servlet/axis2/services/X%00", null],
  ["/servlet/axis2/services/%C0%AE%C0%AE/X", null],
  ["/../servlet/axis2/services/X", null],
];

describe("raw URLs: provisioning API", () => {
  it.each(RAW)("%s from an outsider: refused, nothing reaches the bridge", async (path) => {
    const before = stub.requests.length;
    const r = await call(`https://app.example.com${path}?wsdl`, OUTSIDER);
    expect([400, 403]).toContain(r.status);
    expect(await r.text()).not.toContain('"node"');
    expect(stub.requests.length).toBe(before);
  });

  it.each(RAW)("%s from an allowed client arrives canonical (or is refused)", async (path, want) => {
    const r = await call(`https://app.example.com${path}?wsdl`, ALLOWED);
    if (want === null) {
      expect(r.status).toBe(400);
      expect(await r.text()).toMatch(/^400 bad-path\n/);
      return;
    }
    expect(r.status).toBe(200);
    const echo = (await r.json()) as { target: string };
    expect(echo.target).toBe(`${want}?wsdl`);
  });

  it("no outsider request ever reached the provisioning servlet", () => {
    expect(
      stub.requests.filter((r) => r.target.toLowerCase().startsWith("/servlet/axis2") && r.headers["x-oxedge-client-ip"] === OUTSIDER),
    ).toEqual([]);
  });
});

describe("client address", () => {
  it.each(["not-an-ip", "198.51.100.7, 10.0.0.1", "::ffff:zz", "999.1.1.1"])(
    "an unparsable CF-Connecting-IP %j is refused on the provisioning path",
    async (ip) => {
      const before = stub.requests.length;
      const r = await call("https://app.example.com/servlet/axis2/services/X", ip);
      expect(r.status).toBe(403);
      expect(await r.text()).toMatch(/^403 forbidden\n/);
      expect(stub.requests.length).toBe(before);
    },
  );

  it("an IPv4-mapped IPv6 form of an allowed address is allowed", async () => {
    const r = await call("https://app.example.com/servlet/axis2/services/X", `::ffff:${ALLOWED}`);
    expect(r.status).toBe(200);
    await r.arrayBuffer();
  });
});

describe("raw URLs: routing", () => {
  it("a raw dot segment cannot move a static path into the cluster or back", async () => {
    const r1 = await call("https://app.example.com/static/../ajax/x", OUTSIDER);
    expect(((await r1.json()) as { target: string }).target).toBe("/ajax/x");
    const before = stub.requests.length;
    const r2 = await call("https://app.example.com/ajax/../index.html", OUTSIDER);
    expect(r2.status).toBe(404);
    await r2.arrayBuffer();
    expect(stub.requests.length).toBe(before);
    expect(assetPaths.at(-1)).toBe("/index.html");
  });

  it("the redirect keeps the raw path; the https request is then judged canonically", async () => {
    const r = await call("http://app.example.com/ajax/../servlet/axis2/services?x", OUTSIDER);
    expect(r.status).toBe(301);
    expect(r.headers.get("location")).toBe("https://app.example.com/ajax/../servlet/axis2/services?x");
  });
});

describe("error log lines", () => {
  it("name kind, request id and the raw path, quoted", async () => {
    const r = await call("https://app.example.com/a%0d%0aforged=1", OUTSIDER);
    expect(r.status).toBe(400);
    const id = r.headers.get("x-request-id");
    const line = logLines.find((l) => l.includes(`request=${id}`));
    expect(line).toMatch(/^oxedge-worker error kind=bad-path status=400 request=[0-9a-f-]{36} route= method=GET path="\/a%0d%0aforged=1" msg="control character in path"$/);
  });
});

describe("raw headers", () => {
  it("drops headers named in Connection and other hop-by-hop headers", async () => {
    const r = await call("https://app.example.com/ajax/h", OUTSIDER, {
      headers: { connection: "keep-alive, X-Hop", "x-hop": "1", "keep-alive": "timeout=5", te: "trailers", upgrade: "h2c", "x-kept": "1" },
    });
    const echo = (await r.json()) as { headers: Record<string, string> };
    expect(echo.headers["x-hop"]).toBeUndefined();
    expect(echo.headers["keep-alive"]).toBeUndefined();
    expect(echo.headers.te).toBeUndefined();
    expect(echo.headers.upgrade).toBeUndefined();
    expect(echo.headers["x-kept"]).toBe("1");
  });
});
