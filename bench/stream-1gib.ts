/**
 * Part 2: one very large upload and one very large download through the
 * bridge, one at a time, while the bridge's resident memory is sampled. A
 * streaming proxy holds a few packets per request whatever the body size; a
 * buffering one grows with the body.
 */
import http from "node:http";
import { PATTERN, patternSha256 } from "../peers/pattern.ts";
import { sampleRss, peakRssBytes, rssBytes } from "./proc-stats.ts";
import { signedHeadersSync } from "./sign-sync.ts";

export const GIB = 1024 ** 3;
const TIMEOUT_MS = 300_000;
/** 64 KiB of the download pattern: the upload sends these bytes, so the node's digest is checkable. */
const BLOCK = PATTERN.subarray(0, 64 * 1024);

export interface StreamResult {
  direction: "upload" | "download";
  bytes: number;
  status: number;
  seconds: number;
  mibPerS: number;
  /** RSS of the bridge just before the transfer. */
  rssBeforeBytes: number | undefined;
  /** Highest sampled VmRSS during the transfer. */
  sampledPeakRssBytes: number;
  /** VmHWM after the transfer: the process's lifetime peak (it was started for this transfer). */
  vmHwmBytes: number | undefined;
  /** max(sampled, VmHWM): what the target is judged on. */
  peakRssBytes: number;
  ok: boolean;
  problem?: string;
}

function url(base: string, target: string): { host: string; port: number; path: string } {
  const u = new URL(base);
  return { host: u.hostname, port: Number(u.port), path: target };
}

async function measured(pid: number, direction: StreamResult["direction"], run: () => Promise<{ bytes: number; status: number; problem?: string }>): Promise<StreamResult> {
  const rssBeforeBytes = rssBytes(pid);
  const sampler = sampleRss(pid, 20);
  const t0 = process.hrtime.bigint();
  let r: { bytes: number; status: number; problem?: string };
  try {
    r = await run();
  } catch (e) {
    r = { bytes: 0, status: 0, problem: (e as Error).message };
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const sampled = sampler.stop();
  const vmHwmBytes = peakRssBytes(pid);
  return {
    direction,
    bytes: r.bytes,
    status: r.status,
    seconds,
    mibPerS: r.bytes / (1024 * 1024) / seconds,
    rssBeforeBytes,
    sampledPeakRssBytes: sampled.peak,
    vmHwmBytes,
    peakRssBytes: Math.max(sampled.peak, vmHwmBytes ?? 0),
    ok: r.problem === undefined,
    problem: r.problem,
  };
}

/** POST `size` bytes to the node's upload-digest through the bridge, writing only when the socket drains. */
export async function streamUpload(bridgeUrl: string, secret: string, bridgePid: number, size = GIB): Promise<StreamResult> {
  const target = "/ajax/upload-digest";
  let nodeSha: string | undefined;
  const result = await measured(bridgePid, "upload", () =>
    new Promise((resolve, reject) => {
      const headers = { ...signedHeadersSync(secret, { method: "POST", target }), "content-type": "application/octet-stream", "content-length": String(size) };
      const req = http.request({ ...url(bridgeUrl, target), method: "POST", headers, agent: false });
      const timer = setTimeout(() => req.destroy(new Error(`upload not done after ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
      let sent = 0;
      const pump = (): void => {
        while (sent < size) {
          const n = Math.min(BLOCK.length, size - sent);
          sent += n;
          if (!req.write(n === BLOCK.length ? BLOCK : BLOCK.subarray(0, n))) {
            req.once("drain", pump);
            return;
          }
        }
        req.end();
      };
      req.on("response", (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => (body = (body + d).slice(0, 4096)));
        res.on("end", () => {
          clearTimeout(timer);
          let problem: string | undefined;
          try {
            const j = JSON.parse(body) as { bodyLength?: number; bodySha256?: string };
            nodeSha = j.bodySha256;
            if (j.bodyLength !== size) problem = `node received ${j.bodyLength} bytes, expected ${size}`;
          } catch {
            problem = `status ${res.statusCode}, unexpected body ${body.slice(0, 200)}`;
          }
          resolve({ bytes: sent, status: res.statusCode ?? 0, problem });
        });
      });
      req.on("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
      pump();
    }),
  );
  // Hashed after the measurement, so it takes no CPU from the bridge while it streams.
  if (result.ok && nodeSha !== patternSha256(size)) {
    result.ok = false;
    result.problem = "the node's SHA-256 of the upload differs from what was sent";
  }
  return result;
}

/** GET `size` bytes from the node's download endpoint through the bridge, reading and discarding as fast as possible. */
export function streamDownload(bridgeUrl: string, secret: string, bridgePid: number, size = GIB): Promise<StreamResult> {
  const target = `/ajax/download?size=${size}`;
  return measured(bridgePid, "download", () =>
    new Promise((resolve, reject) => {
      const headers = signedHeadersSync(secret, { method: "GET", target });
      const req = http.request({ ...url(bridgeUrl, target), method: "GET", headers, agent: false }, (res) => {
        let got = 0;
        res.on("data", (c: Buffer) => (got += c.length));
        res.on("end", () => {
          clearTimeout(timer);
          resolve({ bytes: got, status: res.statusCode ?? 0, problem: res.statusCode !== 200 || got !== size ? `status ${res.statusCode}, ${got} of ${size} bytes` : undefined });
        });
        res.on("aborted", () => {
          clearTimeout(timer);
          resolve({ bytes: got, status: res.statusCode ?? 0, problem: `aborted after ${got} bytes` });
        });
      });
      const timer = setTimeout(() => req.destroy(new Error(`download not done after ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
      req.on("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
      req.end();
    }),
  );
}

/** A few small signed requests, one after another: a bridge that has served something, as the idle baseline. */
export async function warmUp(bridgeUrl: string, secret: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    await new Promise<void>((resolve, reject) => {
      const target = "/ajax/echo";
      const req = http.request({ ...url(bridgeUrl, target), method: "GET", headers: signedHeadersSync(secret, { method: "GET", target }), agent: false }, (res) => {
        res.resume();
        res.on("end", () => (res.statusCode === 200 ? resolve() : reject(new Error(`warm-up request answered ${res.statusCode}`))));
      });
      req.setTimeout(10_000, () => req.destroy(new Error("warm-up request timed out")));
      req.on("error", reject);
      req.end();
    });
  }
}
