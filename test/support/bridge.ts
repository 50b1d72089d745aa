/**
 * Drive the bridge in tests and benchmarks the way the worker does: a signed
 * hand-off request (common/signing.ts), over plain node:http so that bodies
 * stream, Content-Length is kept, and aborts can be provoked.
 */
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import http from "node:http";
import type { Readable } from "node:stream";
import { fieldsToHeaders, HANDOFF_HEADERS, newNonce, sign, type HandoffFields } from "../../common/signing.ts";
import { buildConfig, type BridgeConfigInput } from "../../bridge/config.ts";
import { startBridge, type Bridge, type StartOptions } from "../../bridge/server.ts";
import type { TomcatNode } from "../../peers/tomcat.ts";
import { watch, type CountedNode } from "./accounting.ts";

export const BRIDGE_SECRET = "test-bridge-secret-0123456789abcdef";

export interface TestMember {
  route: string;
  port: number;
  secret?: string;
  host?: string;
  /** The node behind it: its connection count is checked after each test (test/support/accounting.ts). */
  node?: CountedNode;
  [key: string]: unknown;
}

export interface TestBridge extends Bridge {
  logs: string[];
  /** The same lines as records, for tests of the fields themselves: { level, msg, ...fields }. */
  records: Record<string, unknown>[];
  /** Log lines containing `needle` (the bridge logs one line per error). */
  logged(needle: string): string[];
}

/** The config input (and the environment holding its secrets) for these members; `extra` overrides any config key. */
export function testConfigInput(members: TestMember[], extra: Partial<BridgeConfigInput> = {}, secret = BRIDGE_SECRET): { input: BridgeConfigInput; env: NodeJS.ProcessEnv } {
  const env: NodeJS.ProcessEnv = { ...process.env, OXEDGE_BRIDGE_SECRET: secret };
  const input = {
    listen: "127.0.0.1:0",
    ...extra,
    members: members.map(({ route, port, secret, host, node: _node, ...rest }) => {
      if (secret) env[`SECRET_${route}`] = secret;
      return { route, address: `${host ?? "127.0.0.1"}:${port}`, ...(secret ? { secret_env: `SECRET_${route}` } : {}), ...rest };
    }),
  };
  return { input, env };
}

/**
 * A bridge on a free loopback port in this process; `extra` overrides any config key.
 * With `configFile` the config is written there (JSON) and reload() reads it again.
 */
export async function startTestBridge(members: TestMember[], extra: Partial<BridgeConfigInput> = {}, secret = BRIDGE_SECRET, o: Pick<StartOptions, "configFile" | "afterReload"> = {}): Promise<TestBridge> {
  const { input, env } = testConfigInput(members, extra, secret);
  if (o.configFile) writeFileSync(o.configFile, JSON.stringify(input, null, 2));
  const config = buildConfig(input, env);
  const logs: string[] = [];
  const records: Record<string, unknown>[] = [];
  const bridge = await startBridge(
    config,
    (level, msg, fields = {}) => {
      records.push({ level, msg, ...fields });
      const line = `${level} ${msg} ${Object.entries(fields).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`).join(" ")}`;
      logs.push(line);
      if (process.env.OXEDGE_TEST_LOG) console.error(line);
    },
    { ...o, env },
  );
  const nodes: Record<string, CountedNode> = {};
  for (const m of members) if (m.node) nodes[m.route] = m.node;
  watch(bridge, nodes);
  return Object.assign(bridge, { logs, records, logged: (needle: string) => logs.filter((l) => l.includes(needle)) });
}

export interface HandoffOptions {
  method?: string;
  /** Path plus query, as the worker forwards it. */
  target: string;
  route?: string;
  clientIp?: string;
  clientPort?: string;
  proto?: "https" | "http";
  host?: string;
  headers?: Record<string, string | string[]>;
  /** Buffer (sent with Content-Length) or a stream (sent chunked unless a content-length header is given). */
  body?: Buffer | Readable;
  secret?: string;
  /** Sign with these fields instead of the real ones (tests of tampering). */
  tamper?: Partial<HandoffFields>;
  ts?: number;
  nonce?: string;
  unsigned?: boolean;
}

export async function handoffHeaders(o: HandoffOptions): Promise<Record<string, string>> {
  const fields: HandoffFields = {
    method: o.method ?? "GET",
    target: o.target,
    route: o.route ?? "",
    clientIp: o.clientIp ?? "203.0.113.7",
    clientPort: o.clientPort ?? "",
    proto: o.proto ?? "https",
    host: o.host ?? "ox.example.com",
    ts: o.ts ?? Math.floor(Date.now() / 1000),
    nonce: o.nonce ?? newNonce(),
  };
  const h = fieldsToHeaders(fields);
  if (!o.unsigned) h[HANDOFF_HEADERS.sig] = await sign(o.secret ?? BRIDGE_SECRET, { ...fields, ...o.tamper });
  return h;
}

export interface BridgeResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  length: number;
  sha256: string;
  /** The response ended without a clean end (connection aborted mid-body). */
  aborted: boolean;
  servedBy: string | undefined;
  json<T = any>(): T;
}

/**
 * One hand-off request. `keepBody: false` hashes the body without keeping it
 * (large downloads). `agent` defaults to a fresh connection per request.
 */
export async function bridgeRequest(
  bridgeUrl: string,
  o: HandoffOptions & { keepBody?: boolean; agent?: http.Agent | false; signal?: AbortSignal; onResponse?: (res: http.IncomingMessage, req: http.ClientRequest) => void },
): Promise<BridgeResponse> {
  // Host and port from the bridge URL alone: resolving the target against it would read a
  // target like `//servlet/x` as a URL with host "servlet".
  const url = new URL(bridgeUrl);
  const headers: Record<string, string | string[]> = { ...(o.headers ?? {}), ...(await handoffHeaders(o)) };
  if (Buffer.isBuffer(o.body) && !Object.keys(headers).some((k) => k.toLowerCase() === "content-length")) headers["content-length"] = String(o.body.length);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: url.hostname, port: url.port, path: o.target, method: o.method ?? "GET", headers, agent: o.agent ?? false, signal: o.signal },
      (res) => {
        o.onResponse?.(res, req);
        const hash = createHash("sha256");
        const chunks: Buffer[] = [];
        let length = 0;
        let aborted = false;
        res.on("data", (c: Buffer) => {
          length += c.length;
          hash.update(c);
          if (o.keepBody !== false) chunks.push(c);
        });
        res.on("aborted", () => (aborted = true));
        res.on("error", () => (aborted = true));
        res.on("close", () => {
          const body = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            body,
            length,
            sha256: hash.digest("hex"),
            aborted: aborted || !res.complete,
            servedBy: res.headers[HANDOFF_HEADERS.servedBy] as string | undefined,
            json: () => JSON.parse(body.toString("utf8")),
          });
        });
      },
    );
    req.on("error", reject);
    if (o.body === undefined) req.end();
    else if (Buffer.isBuffer(o.body)) req.end(o.body);
    else o.body.pipe(req);
  });
}

export function sha256(b: Buffer | string): string {
  return createHash("sha256").update(b).digest("hex");
}

/** JSESSIONID value from Set-Cookie headers, if any. */
export function sessionCookie(res: BridgeResponse): string | undefined {
  const set = res.headers["set-cookie"] ?? [];
  for (const c of set) {
    const m = /^JSESSIONID=([^;]+)/.exec(c);
    if (m) return m[1];
  }
  return undefined;
}

export type MemberKind = "ajp" | "http";

/** The HTTP side of a Tomcat node, counted once per node so the accounting sums every bridge's pools for it. */
const httpSides = new WeakMap<TomcatNode, CountedNode>();

/** A member for real Tomcat node n, reached over its AJP connector or its HTTP connector (App Suite's Grizzly stand-in). */
export function tomcatMember(n: TomcatNode, kind: MemberKind, extra: Record<string, unknown> = {}): TestMember {
  if (kind === "ajp") return { route: n.route, port: n.ajpPort, node: n, secret: n.secret, ...extra };
  let side = httpSides.get(n);
  if (!side) httpSides.set(n, (side = { ajpConnectionCount: () => n.httpConnectionCount() }));
  return { route: n.route, port: n.httpPort, address: `http://127.0.0.1:${n.httpPort}`, node: side, ...extra };
}
