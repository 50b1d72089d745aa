/**
 * Harness (a) from docs/toolchain.md: bundle worker/index.ts with esbuild in
 * memory, start Miniflare with the options wrangler derives from wrangler.toml
 * (static assets and run_worker_first included), override bindings per test.
 * dispatchFetch keeps the URL's scheme and host, so redirects are testable.
 */
import { build } from "esbuild";
import { Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import path from "node:path";
import type { Readable } from "node:stream";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

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
  /** Log lines the worker wrote (console.* from workerd's stdout/stderr). */
  logs: string[];
  fetch(url: string, init?: RequestInit & { cf?: unknown }): Promise<Response>;
  dispose(): Promise<void>;
}

export async function startWorker(bindings: Record<string, string>): Promise<WorkerHandle> {
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
    handleRuntimeStdio(stdout: Readable, stderr: Readable) {
      collect(stdout);
      collect(stderr);
    },
  } as ConstructorParameters<typeof Miniflare>[0]);
  await mf.ready;
  return {
    mf,
    logs,
    fetch: (url, init) => mf.dispatchFetch(url, { redirect: "manual", ...(init as object) }) as unknown as Promise<Response>,
    dispose: () => mf.dispose(),
  };
}
