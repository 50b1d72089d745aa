/**
 * The harness of docs/testing.md, Worker tests (Miniflare): bundle worker/index.ts with esbuild in
 * memory, start Miniflare with the options wrangler derives from wrangler.toml
 * (static assets and run_worker_first included), override bindings per test.
 * dispatchFetch keeps the URL's scheme and host, so redirects are testable.
 */
import { build } from "esbuild";
import { createHash } from "node:crypto";
import http from "node:http";
import { Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import path from "node:path";
import type { Readable } from "node:stream";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** A 64-hex-char secret for tests only. */
export const TEST_SECRET = "5f0c3e1a9b7d4c2e8f6a1b3d5c7e9f0a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e";

let bundled: Promise<string> | undefined;

export function bundleWorker(): Promise<string> {
  bundled ??= build({
    entryPoints: [path.join(root, "worker/index.ts")],
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    write: false,
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["module", "main"],
    external: ["cloudflare:*", "node:*"],
  }).then((r) => r.outputFiles[0].text);
  return bundled;
}

export interface WorkerHandle {
  mf: Miniflare;
  /** Where workerd listens (plain http on loopback), for clients other than dispatchFetch. */
  url: URL;
  /** Log lines the worker wrote (console.* from workerd's stdout/stderr). */
  logs: string[];
  fetch(url: string, init?: RequestInit & { cf?: unknown }): Promise<Response>;
  dispose(): Promise<void>;
}

export async function startWorker(bindings: Record<string, string>, o: { https?: boolean } = {}): Promise<WorkerHandle> {
  const { workerOptions } = unstable_getMiniflareWorkerOptions(path.join(root, "wrangler.toml"));
  const logs: string[] = [];
  const collect = (stream: Readable) =>
    stream.on("data", (d: Buffer) => {
      for (const line of d.toString("utf8").split("\n")) if (line.trim()) logs.push(line);
    });
  const mf = new Miniflare({
    ...(workerOptions as object),
    modulesRules: undefined,
    modules: [{ type: "ESModule", path: "index.mjs", contents: await bundleWorker() }],
    bindings: { ...(workerOptions.bindings ?? {}), BRIDGE_SECRET: TEST_SECRET, DEBUG_HEADERS: "true", ...bindings },
    cf: false,
    // A listener a browser can use: the worker sends plain http to https, so a page needs TLS (self-signed).
    ...(o.https ? { https: true, host: "127.0.0.1", port: 0 } : {}),
    handleRuntimeStdio(stdout: Readable, stderr: Readable) {
      collect(stdout);
      collect(stderr);
    },
  } as ConstructorParameters<typeof Miniflare>[0]);
  const url = await mf.ready;
  return {
    mf,
    url,
    logs,
    fetch: (url, init) => mf.dispatchFetch(url, { redirect: "manual", ...(init as object) }) as unknown as Promise<Response>,
    dispose: () => mf.dispose(),
  };
}

export interface ExpectOptions {
  method?: string;
  headers?: Record<string, string>;
  body: Buffer;
  /** How long to wait for `100 Continue` before sending the body anyway (curl waits 1 s). */
  continueWaitMs?: number;
  timeoutMs?: number;
}

export interface ExpectResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  sha256: string;
}

/**
 * A request with `Expect: 100-continue`, sent the way curl sends it: headers,
 * then the body once `100 Continue` arrived or the wait is over. It goes over
 * node:http straight to workerd because dispatchFetch drops Expect (undici
 * refuses to send it); MF-Original-URL is how Miniflare's entry tells the
 * worker which URL it was asked for, as dispatchFetch does.
 */
export function expectContinueRequest(w: WorkerHandle, url: string, o: ExpectOptions): Promise<ExpectResult> {
  const waitMs = o.continueWaitMs ?? 1000;
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: w.url.hostname,
      port: w.url.port,
      method: o.method ?? "POST",
      path: new URL(url).pathname + new URL(url).search,
      agent: false,
      timeout: o.timeoutMs ?? 20_000,
      headers: { ...o.headers, expect: "100-continue", "content-length": String(o.body.length), "mf-original-url": url },
    });
    const wait = setTimeout(() => req.end(o.body), waitMs);
    req.on("continue", () => {
      if (req.writableEnded) return;
      clearTimeout(wait);
      req.end(o.body);
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${o.timeoutMs ?? 20_000} ms`)));
    req.on("error", (e) => {
      clearTimeout(wait);
      reject(e);
    });
    req.on("response", (res) => {
      clearTimeout(wait);
      // An answer before the body was sent (a refusal) still needs the request finished.
      if (!req.writableEnded) req.end(o.body);
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", reject);
      res.on("end", () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, sha256: createHash("sha256").update(body).digest("hex") });
      });
    });
  });
}
