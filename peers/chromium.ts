/**
 * Headless Chromium (Debian's `chromium`) for page tests, driven through playwright-core with
 * the system binary: Playwright's own browser downloads are never used. Each browser gets a
 * fresh profile under `<repo>/.tmp/chromium-*`, and is stopped by its PID (and its process
 * group) if closing it through Playwright does not finish. See docs/testing.md, Chromium.
 *
 * @example
 * const chromium = await startChromium();
 * const page = await chromium.newPage();
 * await page.goto(`http://127.0.0.1:${port}/`);
 * await page.screenshot({ path: artifactPath("home.png") });
 * await chromium.close();
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { BrowserContext, Page } from "playwright-core";
import { atExit } from "./exit-hooks.ts";
import { cmdlineMentions, orphanedDirs, pidAlive, readPid, readStat } from "./processes.ts";

export const CHROMIUM_BIN = process.env.OXEDGE_CHROMIUM_BIN ?? "/usr/bin/chromium";

/**
 * Headless without a sandbox (tests run as root in containers, where Chromium's sandbox
 * cannot start) and without the background traffic a fresh profile would make: no QUIC, no
 * component or sync updates, no first-run pages. A page test talks to loopback only.
 */
export const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const TMP_DIR = path.join(REPO_ROOT, ".tmp");
/** Where page tests put screenshots and the like; `.tmp/` is git-ignored. */
export const ARTIFACTS_DIR = path.join(TMP_DIR, "artifacts");
const LAUNCH_TIMEOUT_MS = 30_000;
const CLOSE_TIMEOUT_MS = 5_000;
/** Set to keep profile directories after the browser is closed. */
const KEEP_DIRS = process.env.OXEDGE_KEEP_CHROMIUM === "1";

const require = createRequire(import.meta.url);

/** Why Chromium cannot be used here, or undefined when it can. */
export function chromiumUnavailableReason(): string | undefined {
  try {
    fs.accessSync(CHROMIUM_BIN, fs.constants.X_OK);
  } catch {
    return `${CHROMIUM_BIN} not found (Debian package chromium)`;
  }
  try {
    require.resolve("playwright-core");
  } catch {
    return "playwright-core is not installed (npm ci)";
  }
  return undefined;
}

/** A path under `.tmp/artifacts/` (created), for a screenshot or trace a test leaves behind. */
export function artifactPath(name: string): string {
  fs.mkdirSync(ARTIFACTS_DIR, { recursive: true });
  return path.join(ARTIFACTS_DIR, name);
}

export interface Chromium {
  /** The browser's only context (a persistent one: the fresh profile is its user data dir). */
  context: BrowserContext;
  /** PID of the browser process; 0 if it could not be found. */
  pid: number;
  /** The profile directory, removed on close() unless OXEDGE_KEEP_CHROMIUM=1. */
  profileDir: string;
  newPage(): Promise<Page>;
  /** Closes through Playwright; past a bound, kills the browser's process group. Idempotent. */
  close(): Promise<void>;
}

export interface ChromiumOptions {
  /** More command-line flags after CHROMIUM_FLAGS. */
  args?: string[];
  /** Viewport of new pages; default 1280×800. */
  viewport?: { width: number; height: number };
}

// ---------------------------------------------------------------------------------------------
// Process bookkeeping: only browsers this process started are ever signalled

const live = new Map<string, { pid: number }>();



/** Our child whose command line names this profile: the browser Playwright spawned for it. */
function findBrowserPid(profileDir: string): number {
  for (const name of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (readStat(pid)?.ppid === process.pid && cmdlineMentions(pid, `--user-data-dir=${profileDir}`)) return pid;
  }
  return 0;
}


/**
 * SIGKILL to the browser and its helpers (renderer, GPU and zygote processes). Playwright
 * starts the browser as the leader of its own process group; the group is signalled only
 * when that is so, otherwise the browser alone.
 */
function killBrowser(pid: number, profileDir: string): void {
  if (!pid || !pidAlive(pid) || !cmdlineMentions(pid, profileDir)) return;
  try {
    process.kill(readStat(pid)?.pgrp === pid ? -pid : pid, "SIGKILL");
  } catch {
    // exited meanwhile
  }
}

function cleanupNow(): void {
  for (const [dir, { pid }] of live) {
    killBrowser(pid, dir);
    if (!KEEP_DIRS) fs.rmSync(path.dirname(dir), { recursive: true, force: true });
  }
  live.clear();
}

/** Profiles of runs whose process is gone (and any browser still using one) are removed. */
function sweepStale(): void {
  for (const dir of orphanedDirs(TMP_DIR, "chromium-")) {
    killBrowser(readPid(path.join(dir, "browser.pid")) ?? 0, path.join(dir, "profile"));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}


/** Whether the browser process has gone (exited, or only a zombie without a command line is left) within ms. */
async function exited(pid: number, profileDir: string, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (pid && pidAlive(pid) && cmdlineMentions(pid, profileDir)) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
  return true;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | "timeout"> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), ms)))]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------------------------
// Start / stop

/** Launches headless Chromium with a fresh profile; rejects after 30 s with Chromium's output. */
export async function startChromium(opts: ChromiumOptions = {}): Promise<Chromium> {
  const why = chromiumUnavailableReason();
  if (why) throw new Error(`Chromium is not usable here: ${why}`);
  sweepStale();
  atExit(cleanupNow);
  const { chromium } = await import("playwright-core");

  fs.mkdirSync(TMP_DIR, { recursive: true });
  const base = path.join(TMP_DIR, `chromium-${randomBytes(4).toString("hex")}`);
  const profileDir = path.join(base, "profile");
  fs.mkdirSync(profileDir, { recursive: true });
  fs.writeFileSync(path.join(base, "owner.pid"), String(process.pid));
  live.set(profileDir, { pid: 0 });

  let context: BrowserContext;
  try {
    // A persistent context is how Playwright takes a user data dir of our choosing; it
    // refuses a --user-data-dir flag in args.
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM_BIN,
      headless: true,
      args: [...CHROMIUM_FLAGS, ...(opts.args ?? [])],
      viewport: opts.viewport ?? { width: 1280, height: 800 },
      timeout: LAUNCH_TIMEOUT_MS,
      // Playwright's own signal handlers would close the browser behind atExit's back.
      handleSIGINT: false,
      handleSIGTERM: false,
      handleSIGHUP: false,
    });
  } catch (err) {
    killBrowser(findBrowserPid(profileDir), profileDir);
    live.delete(profileDir);
    if (!KEEP_DIRS) fs.rmSync(base, { recursive: true, force: true });
    throw err;
  }
  const pid = findBrowserPid(profileDir);
  live.set(profileDir, { pid });
  fs.writeFileSync(path.join(base, "browser.pid"), String(pid));

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      const result = await withTimeout(
        context.close().catch(() => undefined),
        CLOSE_TIMEOUT_MS,
      );
      // Closing the persistent context ends the browser; if it did not in time, kill it.
      if (result === "timeout" || !(await exited(pid, profileDir, 2000))) {
        killBrowser(pid, profileDir);
        await exited(pid, profileDir, 2000);
      }
      live.delete(profileDir);
      if (!KEEP_DIRS) fs.rmSync(base, { recursive: true, force: true });
    })());

  return {
    context,
    pid,
    profileDir,
    newPage: () => context.newPage(),
    close,
  };
}
