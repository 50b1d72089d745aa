/**
 * The worker's own CPU per request, measured in Node on the worker's pure
 * functions: the route decision and canonical path (worker/canonical.ts,
 * worker/sticky.ts) and the hand-off signature (common/signing.ts, WebCrypto
 * as in workerd). Cloudflare bills and limits a worker by CPU time, and this
 * is the part of it that is ours; fetch and streaming are the runtime's.
 *
 * For information it also times the whole Hono app (all middleware, config,
 * header hygiene) with fetch stubbed, which is the upper bound of what the
 * worker code costs per request.
 */
import { HANDOFF_HEADERS, newNonce, sign, type HandoffFields } from "../common/signing.ts";
import { canonicalPath, splitRawUrl } from "../worker/canonical.ts";
import { stickyRoute } from "../worker/sticky.ts";

/** Requests as OX clients send them: App Suite calls, a URL-rewritten session, a download, ActiveSync. */
const SAMPLE_REQUESTS: { method: string; url: string; cookie: string | null }[] = [
  {
    method: "GET",
    url: "https://ox.example.com/ajax/mail?action=all&folder=default0%2FINBOX&columns=600%2C601%2C602%2C603%2C604&sort=610&order=desc&session=3f2a9c0d8e7b4a1c9d2e3f4a5b6c7d8e",
    cookie:
      "JSESSIONID=7C1F0E6A2B9D4C8E1A3F5B7D9E0C2A4B.OX2; open-xchange-session-5f3c2a1b=3f2a9c0d8e7b4a1c9d2e3f4a5b6c7d8e; open-xchange-secret-5f3c2a1b=0a1b2c3d4e5f60718293a4b5c6d7e8f9; open-xchange-public-session-5f3c2a1b=9f8e7d6c5b4a39281706f5e4d3c2b1a0; locale=de_DE",
  },
  {
    method: "PUT",
    url: "https://ox.example.com/ajax/multiple?session=3f2a9c0d8e7b4a1c9d2e3f4a5b6c7d8e&continue=true",
    cookie: "JSESSIONID=7C1F0E6A2B9D4C8E1A3F5B7D9E0C2A4B.OX1; open-xchange-secret-5f3c2a1b=0a1b2c3d4e5f60718293a4b5c6d7e8f9",
  },
  {
    method: "GET",
    url: "https://ox.example.com/infostore/files/..//%E2%82%AC-report%20Q3.pdf;jsessionid=7C1F0E6A2B9D4C8E1A3F5B7D9E0C2A4B.OX1?download=1",
    cookie: null,
  },
  {
    method: "POST",
    url: "https://ox.example.com/Microsoft-Server-ActiveSync?Cmd=Sync&User=alice&DeviceId=ABCDEF0123456789&DeviceType=iPhone",
    cookie: null,
  },
];

const STICKY = { cookies: ["JSESSIONID"], queryParam: "jsessionid" };
const SECRET = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/** One request's policy work, exactly the calls the worker makes. */
async function policy(r: (typeof SAMPLE_REQUESTS)[number]): Promise<string> {
  const { path, query } = splitRawUrl(r.url);
  const canon = canonicalPath(path, "jsessionid");
  if (!canon.ok) throw new Error(`bench request refused: ${canon.reason} (${r.url})`);
  const { route } = stickyRoute({ cookie: r.cookie, pathSession: canon.session, query }, STICKY);
  const fields: HandoffFields = {
    method: r.method,
    target: canon.path + (canon.session ? `;jsessionid=${canon.session}` : "") + (query ? `?${query}` : ""),
    route,
    clientIp: "203.0.113.7",
    clientPort: "",
    proto: "https",
    host: "ox.example.com",
    ts: Math.floor(Date.now() / 1000),
    nonce: newNonce(),
  };
  return sign(SECRET, fields);
}

export interface CpuPerRequest {
  iterations: number;
  /** Process CPU (user + system, all threads: WebCrypto runs off the main thread) per request. */
  cpuMsPerRequest: number;
  wallMsPerRequest: number;
}

async function timeIt(iterations: number, fn: (i: number) => Promise<unknown>): Promise<CpuPerRequest> {
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) await fn(i);
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const cpu = process.cpuUsage(cpu0);
  return { iterations, cpuMsPerRequest: (cpu.user + cpu.system) / 1000 / iterations, wallMsPerRequest: wallMs / iterations };
}

/** Route decision + canonical path + signing, per request. */
export async function policyCpu(iterations = 20_000): Promise<CpuPerRequest & { parts: Record<string, number> }> {
  const n = SAMPLE_REQUESTS.length;
  // Warm-up so the JIT has compiled the functions, as in a warm isolate.
  for (let i = 0; i < 2000; i++) await policy(SAMPLE_REQUESTS[i % n]);
  const total = await timeIt(iterations, (i) => policy(SAMPLE_REQUESTS[i % n]));
  // The parts separately, to say where the time goes.
  const canon = await timeIt(iterations, async (i) => canonicalPath(splitRawUrl(SAMPLE_REQUESTS[i % n].url).path));
  const sticky = await timeIt(iterations, async (i) => {
    const r = SAMPLE_REQUESTS[i % n];
    return stickyRoute({ cookie: r.cookie, query: splitRawUrl(r.url).query }, STICKY);
  });
  const fields: HandoffFields = { method: "GET", target: "/ajax/mail?action=all", route: "OX1", clientIp: "203.0.113.7", clientPort: "", proto: "https", host: "ox.example.com", ts: 1, nonce: "" };
  const signing = await timeIt(iterations, () => sign(SECRET, { ...fields, nonce: newNonce() }));
  return { ...total, parts: { canonicalPath: canon.cpuMsPerRequest, stickyRoute: sticky.cpuMsPerRequest, sign: signing.cpuMsPerRequest } };
}

/**
 * The whole app (worker/index.ts) per request in Node, with the bridge fetch
 * stubbed: config lookup, request id, redirect/HSTS, canonical path, access,
 * paths, sticky, header hygiene, signing, response copy.
 */
export async function appCpu(iterations = 10_000): Promise<CpuPerRequest> {
  const { default: app } = await import("../worker/index.ts");
  const env = { BRIDGE_URLS: "http://127.0.0.1:1", BRIDGE_SECRET: SECRET, CLUSTER_PREFIXES: "/ajax,/servlet,/infostore,/publications,/Microsoft-Server-ActiveSync,/usm-json" };
  const realFetch = globalThis.fetch;
  globalThis.fetch = (async () => new Response("{}", { status: 200, headers: { "content-type": "application/json", [HANDOFF_HEADERS.servedBy]: "OX1" } })) as typeof fetch;
  const ctx = { waitUntil() {}, passThroughOnException() {}, props: {} };
  const one = async (i: number) => {
    const r = SAMPLE_REQUESTS[i % SAMPLE_REQUESTS.length];
    const headers: Record<string, string> = { "cf-connecting-ip": "203.0.113.7", "user-agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0", accept: "application/json" };
    if (r.cookie) headers.cookie = r.cookie;
    const res = await app.fetch(new Request(r.url, { method: r.method, headers }), env, ctx as never);
    if (res.status !== 200) throw new Error(`worker app answered ${res.status} for ${r.url}: ${await res.text()}`);
    await res.arrayBuffer();
  };
  try {
    for (let i = 0; i < 1000; i++) await one(i);
    return await timeIt(iterations, one);
  } finally {
    globalThis.fetch = realFetch;
  }
}
