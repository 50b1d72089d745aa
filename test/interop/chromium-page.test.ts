/**
 * Smoke test of the page-test set-up: Debian's headless Chromium through playwright-core
 * (peers/chromium.ts) opens a page served on loopback, reads it, and leaves a screenshot in
 * `.tmp/artifacts/`; and the launcher stops the browser even when it hangs.
 */
import fs from "node:fs";
import http from "node:http";
import zlib from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { artifactPath, startChromium, type Chromium } from "../../peers/chromium.ts";
import { freePort } from "../../peers/ports.ts";
import { checkBrowserPrereqs } from "../../peers/prereqs.ts";

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>oxedge smoke</title>
<style>
  body { margin: 0; font: 24px sans-serif; background: #f4f4f4; }
  header { background: #1f5fa8; color: white; padding: 24px; }
  .tile { display: inline-block; width: 160px; height: 120px; margin: 24px; }
</style></head>
<body>
  <header><h1>Open-Xchange front door</h1></header>
  <p id="status">script did not run</p>
  <div class="tile" style="background:#d94f2b"></div><div class="tile" style="background:#3a9d5d"></div><div class="tile" style="background:#f2c12e"></div>
  <script>document.getElementById("status").textContent = "served by " + location.host;</script>
</body></html>`;

interface PngInfo {
  width: number;
  height: number;
  /** Distinct byte values in the decompressed image data: 1–2 for a blank image. */
  distinctBytes: number;
}

/** Reads a PNG's header and inflates its image data, without an image library. */
function inspectPng(file: string): PngInfo {
  const png = fs.readFileSync(file);
  expect(png.subarray(0, 8).toString("hex")).toBe("89504e470d0a1a0a");
  let width = 0;
  let height = 0;
  const idat: Buffer[] = [];
  for (let o = 8; o + 8 <= png.length; ) {
    const len = png.readUInt32BE(o);
    const type = png.toString("latin1", o + 4, o + 8);
    const data = png.subarray(o + 8, o + 8 + len);
    if (type === "IHDR") {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
    } else if (type === "IDAT") {
      idat.push(data);
    }
    o += 12 + len;
  }
  const pixels = zlib.inflateSync(Buffer.concat(idat));
  const seen = new Set<number>();
  for (let i = 0; i < pixels.length && seen.size < 256; i += 7) seen.add(pixels[i]);
  return { width, height, distinctBytes: seen.size };
}

/** The state letter of /proc/<pid>/stat (R, S, T, Z, …), or "gone". */
function procState(pid: number): string {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0];
  } catch {
    return "gone";
  }
}

describe.runIf(checkBrowserPrereqs().ok)("headless Chromium through playwright-core", () => {
  let server: http.Server;
  let port = 0;
  const seen: { url: string; userAgent: string; remote: string }[] = [];
  let chromium: Chromium;

  beforeAll(async () => {
    port = await freePort();
    server = http.createServer((req, res) => {
      seen.push({ url: req.url ?? "", userAgent: req.headers["user-agent"] ?? "", remote: req.socket.remoteAddress ?? "" });
      if (req.url === "/") {
        res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(PAGE);
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
    chromium = await startChromium();
  });

  afterAll(async () => {
    await chromium?.close();
    await new Promise((r) => server?.close(r));
  });

  it("runs Debian's Chromium from /usr/bin/chromium, in its own process group, on a fresh profile", () => {
    expect(chromium.pid).toBeGreaterThan(0);
    const cmdline = fs.readFileSync(`/proc/${chromium.pid}/cmdline`, "utf8").split("\0");
    // /usr/bin/chromium is Debian's wrapper script: it adds the flags of /etc/chromium.d and
    // execs the browser, so the PID Playwright spawned is the browser's.
    expect(cmdline[0]).toBe("/usr/lib/chromium/chromium");
    expect(fs.readlinkSync(`/proc/${chromium.pid}/exe`)).toBe("/usr/lib/chromium/chromium");
    for (const flag of ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking"]) {
      expect(cmdline).toContain(flag);
    }
    expect(cmdline).toContain(`--user-data-dir=${chromium.profileDir}`);
    expect(chromium.profileDir).toMatch(/\/\.tmp\/chromium-[0-9a-f]{8}\/profile$/);
    const stat = fs.readFileSync(`/proc/${chromium.pid}/stat`, "utf8");
    expect(Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2])).toBe(chromium.pid);
  });

  it("opens a page on 127.0.0.1, runs its script, reads its text, and saves a screenshot", async () => {
    const page = await chromium.newPage();
    const res = await page.goto(`http://127.0.0.1:${port}/`);
    expect(res?.status()).toBe(200);
    expect(await page.title()).toBe("oxedge smoke");
    expect(await page.textContent("h1")).toBe("Open-Xchange front door");
    expect(await page.textContent("#status")).toBe(`served by 127.0.0.1:${port}`);
    expect(seen[0]).toMatchObject({ url: "/", remote: "127.0.0.1" });
    expect(seen[0].userAgent).toMatch(/HeadlessChrome\/\d+/);

    const file = artifactPath("chromium-smoke.png");
    fs.rmSync(file, { force: true });
    await page.screenshot({ path: file });
    const png = inspectPng(file);
    expect(fs.statSync(file).size).toBeGreaterThan(2000);
    expect([png.width, png.height]).toEqual([1280, 800]);
    // Header, background, text and three colours: far from a blank image.
    expect(png.distinctBytes).toBeGreaterThan(20);
    await page.close();
  });

  it("stops a hung browser by its process group, and removes its profile", async () => {
    const hung = await startChromium();
    const base = hung.profileDir.replace(/\/profile$/, "");
    process.kill(hung.pid, "SIGSTOP");
    const t0 = Date.now();
    await hung.close();
    expect(Date.now() - t0).toBeLessThan(15_000);
    // Gone, or a zombie until Playwright reaps it.
    expect(["gone", "Z"]).toContain(procState(hung.pid));
    expect(fs.existsSync(base)).toBe(false);
  }, 30_000);
});
