/**
 * The worker's path rules checked against the mapper they are meant to predict: real Tomcat 10.
 *
 * The provisioning rule is only as good as the worker's idea of which servlet Tomcat will pick.
 * A spelling the worker passes as "not the provisioning API" but that Tomcat maps to
 * `/servlet/axis2/*` would be a bypass. So every spelling in the table is judged three ways:
 *
 * 1. by the worker's own functions (splitRawUrl → canonicalPath → isRestricted → isClusterPath,
 *    in the order of its middleware), as a pure verdict;
 * 2. by Tomcat alone: the raw bytes written to its HTTP connector over a plain socket, so no
 *    client library normalises anything on the way;
 * 3. through the bridge (AJP), raw from an outsider, and through the whole chain
 *    (worker app → bridge → Tomcat), from an outsider and from an allowed client.
 *
 * The test app maps `/servlet/axis2/*` to a servlet of its own ("axis2"), and every answer of
 * the app names the servlet, servletPath and pathInfo, so Tomcat's choice is visible even for
 * paths that do not end in a known endpoint.
 */
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { HANDOFF_HEADERS } from "../../common/signing.ts";
import { PathPolicy } from "../../bridge/path-policy.ts";
import { isRestricted } from "../../worker/access.ts";
import { canonicalPath, splitRawUrl, underPrefix, type CanonResult } from "../../worker/canonical.ts";
import { parseConfig, type Env } from "../../worker/config.ts";
import app from "../../worker/index.ts";
import { isClusterPath } from "../../worker/paths.ts";
import { bridgeRequest, startTestBridge, type TestBridge } from "../support/bridge.ts";
import { TEST_SECRET } from "../../peers/miniflare.ts";
import { checkInteropPrereqs } from "../../peers/prereqs.ts";
import { startTomcat, type TomcatNode } from "../../peers/tomcat.ts";
import { accountingAfterEach } from "../support/accounting.ts";
import { rawRequest } from "../support/raw-request.ts";

accountingAfterEach();

const prereqs = checkInteropPrereqs();

const ORIGIN = "https://ox.example.com";
const ALLOWED = "198.51.100.7";
const OUTSIDER = "203.0.113.9";
const PROVISIONING = "/servlet/axis2";

// ---------------------------------------------------------------------------------------------
// The table

type WorkerKind = "refused" | "provisioning" | "cluster" | "static";
/** Which app servlet Tomcat ran, or Tomcat's own status when no servlet of the app ran. */
type TomcatKind = "axis2" | "ox" | "400" | "404";

/**
 * [raw path (and query), worker verdict, Tomcat's verdict over HTTP]. Both verdicts are
 * measured, not assumed: a row fails when either side changes its mind, and the safety
 * checks below hold for whatever the verdicts are.
 */
const SPELLINGS: Array<[string, WorkerKind, TomcatKind]> = [
  // The API itself, and what Axis2 also treats as it.
  ["/servlet/axis2/services/echo", "provisioning", "axis2"],
  ["/servlet/axis2", "provisioning", "axis2"],
  ["/servlet/axis2/", "provisioning", "axis2"],
  ["/servlet/axis2/x/services/echo", "provisioning", "axis2"],
  ["/servlet/axis2/services/echo?wsdl", "provisioning", "axis2"],
  // Path parameters: Tomcat strips them from every segment before decoding.
  ["/servlet;x=y/axis2/services/echo", "provisioning", "axis2"],
  ["/servlet/axis2;x=y/services/echo", "provisioning", "axis2"],
  ["/servlet/axis2/services;x=y/echo", "provisioning", "axis2"],
  ["/servlet/axis2/services/echo;x=y", "provisioning", "axis2"],
  ["/;x=y/servlet/axis2/services/echo", "provisioning", "axis2"],
  ["/servlet;/axis2/services/echo", "provisioning", "axis2"],
  ["/servlet;a=1;b=2/axis2;c=3/services/echo", "provisioning", "axis2"],
  ["/servlet/axis2;jsessionid=ABC.OX1/services/echo", "provisioning", "axis2"],
  ["/servlet;jsessionid=1/axis2/services/echo", "provisioning", "axis2"],
  ["/servlet/axis2/services/;x=y", "provisioning", "axis2"],
  // The worker refuses %2F anywhere, even inside a parameter Tomcat would strip unread.
  ["/servlet;x=%2F/axis2/services/echo", "refused", "axis2"],
  // %3B is a literal `;` to Tomcat (decoded after parameters are stripped).
  ["/servlet/axis2%3Bx=y/services/echo", "refused", "ox"],
  ["/servlet%3b/axis2/services/echo", "refused", "404"],
  // Dot segments, plain, encoded and with parameters.
  ["/ajax/../servlet/axis2/services/echo", "provisioning", "axis2"],
  ["/ajax/../servlet/axis2/services/x", "provisioning", "axis2"],
  ["/ajax/%2e%2e/servlet/axis2/services/echo", "provisioning", "axis2"],
  ["/ajax/%2E%2E/servlet/axis2/services/echo", "provisioning", "axis2"],
  ["/ajax/.%2e/servlet/axis2/services/echo", "provisioning", "axis2"],
  ["/ajax/..;x=y/servlet/axis2/services/echo", "provisioning", "axis2"],
  ["/servlet/./axis2/services/echo", "provisioning", "axis2"],
  ["/./servlet/axis2/services/echo", "provisioning", "axis2"],
  ["/servlet/%2e/axis2/services/echo", "provisioning", "axis2"],
  ["/servlet/x/../axis2/services/echo", "provisioning", "axis2"],
  ["/servlet/axis2/..;/axis2/services/echo", "provisioning", "axis2"],
  ["/servlet/axis2/services/echo/.", "provisioning", "axis2"],
  ["/servlet/axis2/.", "provisioning", "axis2"],
  ["/../servlet/axis2/services/echo", "refused", "400"],
  ["/%2e%2e/servlet/axis2/services/echo", "refused", "400"],
  // A parameter hides the second dot: both sides see the segment ".", not "..".
  ["/ajax/.;x=y./servlet/axis2/services/echo", "cluster", "ox"],
  ["/servlet/axis2/.../echo", "provisioning", "axis2"],
  // Slashes: empty segments, encoded and overlong.
  ["//servlet/axis2/services/echo", "provisioning", "axis2"],
  ["/servlet//axis2///services/echo", "provisioning", "axis2"],
  ["/servlet%2Faxis2/services/echo", "refused", "400"],
  ["/servlet%2faxis2/services/echo", "refused", "400"],
  ["/servlet/axis2%2Fservices/echo", "refused", "400"],
  ["/ajax/..%2fservlet/axis2/services/echo", "refused", "400"],
  ["/servlet%c0%afaxis2/services/echo", "refused", "400"],
  ["/ajax/..%c0%afservlet/axis2/services/echo", "refused", "400"],
  ["/servlet%EF%BC%8Faxis2/services/echo", "static", "404"],
  // Backslashes.
  ["/servlet%5Caxis2/services/echo", "refused", "400"],
  ["/servlet\\axis2\\services\\echo", "refused", "400"],
  ["/servlet/axis2\\services\\echo", "refused", "400"],
  // Trailing dots and blanks: Tomcat keeps them as part of the segment name.
  ["/servlet/axis2./services/echo", "provisioning", "ox"],
  ["/servlet/axis2%2e/services/echo", "provisioning", "ox"],
  ["/servlet./axis2/services/echo", "static", "404"],
  ["/servlet/axis2/services./echo", "provisioning", "axis2"],
  ["/servlet/axis2/services/echo.", "provisioning", "axis2"],
  ["/servlet/axis2%20/services/echo", "provisioning", "ox"],
  ["/servlet/axis2%09/services/echo", "refused", "ox"],
  // Case: Tomcat's mapper is case-sensitive, the worker's provisioning rule is not.
  ["/Servlet/AXIS2/services/echo", "provisioning", "404"],
  ["/servlet/AXIS2/services/echo", "provisioning", "ox"],
  ["/SERVLET/axis2/services/echo", "provisioning", "404"],
  ["/servlet/axis2x/echo", "provisioning", "ox"],
  // Needlessly encoded letters.
  ["/%73ervlet/axis2/services/echo", "provisioning", "axis2"],
  ["/servlet/%61xis2/services/echo", "provisioning", "axis2"],
  ["/%73%65%72%76%6c%65%74/%61%78%69%73%32/services/echo", "provisioning", "axis2"],
  // Double encoding: both decode once, so the second layer stays literal.
  ["/ajax/%252e%252e/servlet/axis2/services/echo", "cluster", "ox"],
  ["/servlet/%2561xis2/services/echo", "cluster", "ox"],
  ["/servlet%252Faxis2/services/echo", "static", "404"],
  // Overlong and invalid UTF-8, NUL, non-standard escapes.
  ["/ajax/%c0%ae%c0%ae/servlet/axis2/services/echo", "refused", "400"],
  ["/ajax/%e0%80%ae%e0%80%ae/servlet/axis2/services/echo", "refused", "400"],
  ["/servlet/axis2%c0%80/services/echo", "refused", "400"],
  ["/servlet/axis2/services/echo%ff", "refused", "400"],
  ["/servlet/axis2/services/echo%00", "refused", "400"],
  ["/servlet%00/axis2/services/echo", "refused", "400"],
  ["/servlet/axis2%u002fservices/echo", "refused", "400"],
  // Look-alikes that are not delimiters to anyone.
  ["/%EF%BB%BFservlet/axis2/services/echo", "static", "404"],
  ["/ajax/%E2%80%A4%E2%80%A4/servlet/axis2/services/echo", "cluster", "ox"],
  ["/servlet/axis2%3F/services/echo", "provisioning", "ox"],
  ["/servlet/axis2%23/services/echo", "provisioning", "ox"],
  // Query and fragment delimiters end the path before any dot segment.
  ["/ajax?/../servlet/axis2/services/echo", "cluster", "ox"],
  ["/ajax#/../servlet/axis2/services/echo", "cluster", "400"],
  // Benign controls.
  ["/ajax/echo", "cluster", "ox"],
  ["/servlet/other/echo", "cluster", "ox"],
  ["/servlet/axis/echo", "cluster", "ox"],
  ["/ajax/x/../echo", "cluster", "ox"],
  ["/ajax;jsessionid=ABC.OX1/echo", "cluster", "ox"],
  ["/ajax/echo/.", "cluster", "ox"],
  ["/ajax/x/..", "cluster", "ox"],
  ["/infostore/%2561/echo", "cluster", "ox"],
  ["/ajax/%C3%A9cho", "cluster", "ox"],
  ["/index.html", "static", "404"],
];

// ---------------------------------------------------------------------------------------------
// The worker's verdict, from its own functions and its default configuration

const workerEnv = (bridgeUrl: string): Env => ({
  BRIDGE_URLS: bridgeUrl,
  BRIDGE_SECRET: TEST_SECRET,
  PROVISIONING_ALLOW: ALLOWED,
  DEBUG_HEADERS: "true",
  ASSETS: { fetch: async () => new Response("static asset", { status: 404, headers: { "x-test-asset": "1" } }) },
});
const cfg = parseConfig(workerEnv("https://bridge.invalid"));

type Accepted = Extract<CanonResult, { ok: true }>;
type WorkerVerdict =
  | { kind: "refused"; reason: string }
  | { kind: "provisioning" | "cluster" | "static"; canon: Accepted; clusterPrefix: boolean };

function workerVerdict(raw: string): WorkerVerdict {
  const { path } = splitRawUrl(ORIGIN + raw);
  const canon = canonicalPath(path, cfg.stickyPathParam);
  if (!canon.ok) return { kind: "refused", reason: canon.reason };
  // Access runs before routing in the worker: a restricted path is refused to outsiders even
  // when it would have been a static asset.
  const clusterPrefix = isClusterPath(canon.decoded, cfg.clusterPrefixes);
  if (isRestricted(canon.decoded, cfg.provisioningPaths)) return { kind: "provisioning", canon, clusterPrefix };
  return { kind: clusterPrefix ? "cluster" : "static", canon, clusterPrefix };
}

function workerLabel(v: WorkerVerdict): string {
  return v.kind === "refused" ? `refused (${v.reason})` : `${v.kind} ${JSON.stringify(v.canon.decoded)}`;
}

/** What the worker sends on: canonical path plus the session parameter it keeps. */
function forwardedPath(c: Accepted): string {
  return c.path + (c.session !== undefined ? `;${cfg.stickyPathParam}=${c.session}` : "");
}

// The bridge's own rule, built like the bridge builds it from its defaults (see beforeAll).
const bridgePolicy = new PathPolicy(cfg.clusterPrefixes, PROVISIONING, [ALLOWED]);

function bridgeLabel(raw: string): string {
  // The bridge's own split: its request-target ends at `?` (a `#` stays in the path).
  const q = raw.indexOf("?");
  const v = bridgePolicy.judge(q < 0 ? raw : raw.slice(0, q), OUTSIDER);
  return v.ok ? "forwards" : `${v.kind} (${v.reason})`;
}

// ---------------------------------------------------------------------------------------------
// What Tomcat did

interface TomcatView {
  status: number;
  /** The app servlet that ran ("axis2" or "ox"); undefined when Tomcat answered by itself. */
  servlet?: string;
  /** servletPath + pathInfo: the decoded, normalised path Tomcat mapped. */
  path?: string;
  requestURI?: string;
}

function viewOf(status: number, contentType: string | null | undefined, body: string): TomcatView {
  // Every answer of the app is JSON naming the servlet; Tomcat's own error pages are HTML.
  if (!contentType?.startsWith("application/json")) return { status };
  const j = JSON.parse(body) as { servletName: string; servletPath: string; pathInfo: string | null; requestURI: string };
  return { status, servlet: j.servletName, path: j.servletPath + (j.pathInfo ?? ""), requestURI: j.requestURI };
}

const TOMCAT_LABEL: Record<TomcatKind, string> = {
  axis2: "axis2 servlet",
  ox: "ox servlet",
  "400": "400 refused",
  "404": "404 no servlet",
};

function tomcatKind(t: TomcatView): TomcatKind | string {
  return t.servlet ?? String(t.status);
}

/** The safety predicate: Tomcat served the request as the provisioning API (its case rules). */
function servesProvisioning(t: TomcatView): boolean {
  return t.servlet === "axis2" || (t.path?.startsWith(PROVISIONING) ?? false);
}

/** One request written byte for byte to Tomcat's HTTP connector; the connection then closes. */
function rawHttpGet(port: number, target: string): Promise<TomcatView> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: "127.0.0.1", port });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no answer from Tomcat within 5 s for ${JSON.stringify(target)}`));
    }, 5000);
    sock.on("connect", () => sock.write(Buffer.from(`GET ${target} HTTP/1.1\r\nHost: ox.example.com\r\nConnection: close\r\n\r\n`, "latin1")));
    sock.on("data", (d: Buffer) => chunks.push(d));
    sock.on("error", () => undefined);
    sock.on("close", () => {
      clearTimeout(timer);
      const all = Buffer.concat(chunks);
      const headEnd = all.indexOf("\r\n\r\n");
      const head = all.subarray(0, headEnd < 0 ? all.length : headEnd).toString("latin1");
      const status = /^HTTP\/1\.1 (\d{3})/.exec(head);
      if (!status) return reject(new Error(`not an HTTP response for ${JSON.stringify(target)}: ${JSON.stringify(head.slice(0, 200))}`));
      const header = (name: string) => new RegExp(`\\r\\n${name}:\\s*([^\\r]*)`, "i").exec(head)?.[1];
      let body = all.subarray(headEnd + 4);
      const length = header("content-length");
      if (length !== undefined) body = body.subarray(0, Number(length));
      resolve(viewOf(Number(status[1]), header("content-type"), body.toString("utf8")));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Comparing paths

/** The last segment, parameters stripped and decoded, is a dot segment. */
function endsInDotSegment(raw: string): boolean {
  const last = splitRawUrl(ORIGIN + raw).path.split("/").at(-1)!.split(";")[0];
  const d = decodeURIComponent(last);
  return d === "." || d === "..";
}

/**
 * The path Tomcat served for the raw spelling equals the worker's canonical one, except for
 * two known differences, neither of which can change a decision:
 * - After a final `.` or `..` segment the worker keeps a trailing slash (RFC 3986
 *   remove_dot_segments: `/ajax/echo/.` → `/ajax/echo/`) and Tomcat 10.1 drops it
 *   (`/ajax/echo`). Every segment is the same; cluster prefixes match whole segments, the
 *   provisioning rule is a string prefix and Tomcat's `/x/*` mappings match `/x` and `/x/…`
 *   alike, so no rule answers differently. The worker forwards its own form, which Tomcat
 *   serves unchanged (the chain tests below hold it to that exactly).
 * - A raw `#` makes Tomcat refuse the request line (400): it serves nothing at all. The
 *   worker reads `#…` as the URL's fragment and judges and forwards only the path before it.
 */
function expectSameServedPath(raw: string, t: TomcatView, decoded: string): void {
  if (raw.includes("#")) {
    expect(t.status, "Tomcat refuses a raw fragment").toBe(400);
    return;
  }
  expect(t.path, `Tomcat ran no servlet of the app (status ${t.status})`).toBeDefined();
  if (t.path !== decoded && endsInDotSegment(raw)) {
    expect(decoded).toBe(t.path + "/");
    return;
  }
  expect(t.path).toBe(decoded);
}

// ---------------------------------------------------------------------------------------------
// Requests through the worker app, with the URL exactly as written

interface ChainResult {
  status: number;
  /** First line of the worker's own error body, e.g. "403 forbidden". */
  error?: string;
  asset: boolean;
  servedBy?: string;
  tomcat: TomcatView;
}

// ---------------------------------------------------------------------------------------------

describe.runIf(prereqs.ok)("path spellings: worker verdict vs real Tomcat 10's mapper", () => {
  let node: TomcatNode;
  let bridge: TestBridge;
  let env: Env;

  beforeAll(async () => {
    // The worker logs one line per refused request; dozens here are expected.
    vi.spyOn(console, "error").mockImplementation(() => undefined);
    node = await startTomcat({ route: "OX1", secret: "oxedge-test-path-mapper" });
    bridge = await startTestBridge(
      [{ route: node.route, port: node.ajpPort, node, secret: node.secret }],
      { balancer: { healthcheck: 0 }, provisioning: { path: PROVISIONING, allow: [ALLOWED] } },
      TEST_SECRET,
    );
    env = workerEnv(bridge.url);
  });
  afterAll(async () => {
    vi.restoreAllMocks();
    await bridge?.close();
    await node?.stop();
  });

  async function chain(raw: string, ip: string): Promise<ChainResult> {
    const res = await app.fetch(rawRequest(ORIGIN + raw, { headers: { "cf-connecting-ip": ip } }), env);
    const body = await res.text();
    const servedBy = res.headers.get(HANDOFF_HEADERS.servedBy) ?? undefined;
    return {
      status: res.status,
      error: servedBy || res.headers.has("x-test-asset") ? undefined : body.split("\n")[0],
      asset: res.headers.has("x-test-asset"),
      servedBy,
      tomcat: servedBy ? viewOf(res.status, res.headers.get("content-type"), body) : { status: res.status },
    };
  }

  const rows = SPELLINGS.map(([raw, worker, tomcat]) => {
    const verdict = workerVerdict(raw);
    return {
      raw,
      worker,
      tomcat,
      verdict,
      name: `${JSON.stringify(raw)}  worker: ${workerLabel(verdict)}  Tomcat: ${TOMCAT_LABEL[tomcat]}`,
      bridgeName: `${JSON.stringify(raw)}  bridge: ${bridgeLabel(raw)}`,
    };
  });

  it("the table has every verdict on both sides, and no spelling twice", () => {
    expect(new Set(SPELLINGS.map(([raw]) => raw)).size).toBe(SPELLINGS.length);
    expect(new Set(rows.map((r) => r.verdict.kind))).toEqual(new Set(["refused", "provisioning", "cluster", "static"]));
    expect(new Set(SPELLINGS.map(([, , t]) => t))).toEqual(new Set(["axis2", "ox", "400", "404"]));
  });

  describe("raw over Tomcat's HTTP connector", () => {
    for (const { raw, worker, tomcat, verdict, name } of rows) {
      it(name, async () => {
        const t = await rawHttpGet(node.httpPort, raw);
        // The property the provisioning rule exists for, checked first so that a bypass
        // reads as one rather than as a changed verdict.
        if (servesProvisioning(t)) {
          expect(["refused", "provisioning"], `bypass: Tomcat ${JSON.stringify(t)}, worker ${workerLabel(verdict)}`).toContain(verdict.kind);
        }
        expect(verdict.kind, workerLabel(verdict)).toBe(worker);
        expect(tomcatKind(t), JSON.stringify(t)).toBe(tomcat);
        if (verdict.kind === "refused") return;
        // A worker that accepts a spelling must predict Tomcat's path for it; for a static
        // path, that Tomcat would not hand it to the cluster's servlets either.
        if (verdict.kind === "static") expect(t.servlet, JSON.stringify(t)).toBeUndefined();
        else if (verdict.kind === "cluster") expectSameServedPath(raw, t, verdict.canon.decoded);
        else if (t.path !== undefined) expectSameServedPath(raw, t, verdict.canon.decoded);
      });
    }
  });

  describe("raw through the bridge (AJP) from an outsider", () => {
    for (const { raw, verdict, bridgeName } of rows) {
      it(bridgeName, async () => {
        const r = await bridgeRequest(bridge.url, { target: raw, clientIp: OUTSIDER, secret: TEST_SECRET });
        if (!r.servedBy) {
          expect([400, 403, 404], r.body.toString()).toContain(r.status);
          expect(r.headers["x-oxedge-error"]).toBe(bridgeLabel(raw).split(" ")[0]);
          return;
        }
        expect(bridgeLabel(raw)).toBe("forwards");
        const t = viewOf(r.status, r.headers["content-type"], r.body.toString("utf8"));
        // The bridge's rule is case-insensitive like the worker's.
        expect(t.servlet).not.toBe("axis2");
        expect(t.path?.toLowerCase().startsWith(PROVISIONING) ?? false).toBe(false);
        // The bridge forwards only spellings that need no normalising and that the worker accepts
        // too (overlong UTF-8 such as `%c0%ae` is refused on both sides): both of Tomcat's
        // connectors serve exactly that path.
        if (verdict.kind !== "cluster") throw new Error(`the bridge forwarded what the worker judged ${verdict.kind}`);
        expect(t.path).toBe(verdict.canon.decoded);
        expect((await rawHttpGet(node.httpPort, raw)).path).toBe(t.path);
      });
    }
  });

  describe("worker → bridge → Tomcat (AJP), URL as written", () => {
    for (const { raw, verdict, name } of rows) {
      it(name, async () => {
        const out = await chain(raw, OUTSIDER);
        expect(servesProvisioning(out.tomcat), JSON.stringify(out)).toBe(false);
        const inn = await chain(raw, ALLOWED);
        if (verdict.kind === "refused") {
          expect([out.error, inn.error]).toEqual(["400 bad-path", "400 bad-path"]);
          return;
        }
        if (verdict.kind === "provisioning") expect(out.error).toBe("403 forbidden");
        if (!verdict.clusterPrefix) {
          expect(inn.asset, JSON.stringify(inn)).toBe(true);
          if (verdict.kind === "static") expect(out.asset).toBe(true);
          return;
        }
        // What the node sees is exactly what the worker judged: no trailing-slash or other
        // difference once the canonical path is what travels.
        expect(inn.servedBy, JSON.stringify(inn)).toBe(node.route);
        expect(inn.tomcat.path).toBe(verdict.canon.decoded);
        expect(inn.tomcat.requestURI).toBe(forwardedPath(verdict.canon));
        // On canonical paths Tomcat's mapper and a whole-segment prefix agree.
        expect(inn.tomcat.servlet).toBe(underPrefix(verdict.canon.decoded, PROVISIONING) ? "axis2" : "ox");
        if (verdict.kind === "cluster") expect(out.tomcat).toEqual(inn.tomcat);
      });
    }
  });
});
