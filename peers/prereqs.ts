/**
 * What the interop tests and benchmarks need on the machine. Suites use
 * `describe.runIf(checkInteropPrereqs().ok)(...)`, and test/support/global-setup.ts turns a
 * missing prerequisite into a loud banner (and a failed run under CI=true), so a skipped
 * interop suite is never mistaken for a passing one.
 */
import fs from "node:fs";
import path from "node:path";
import { chromiumUnavailableReason } from "./chromium.ts";
import { tomcatAvailable } from "./tomcat.ts";

export const APACHE_BIN = "/usr/sbin/apache2";
/** Checks the systemd unit in packaging/ (test/repo/systemd-unit.test.ts). */
export const SYSTEMD_ANALYZE = "/usr/bin/systemd-analyze";
export const APACHE_MODULES_DIR = "/usr/lib/apache2/modules";
/** The modules the httpd comparison setups load, AJP and HTTP members (see docs/testing.md, Apache httpd). */
const APACHE_MODULES = [
  "mod_proxy.so",
  "mod_proxy_ajp.so",
  "mod_proxy_http.so",
  "mod_proxy_wstunnel.so",
  "mod_proxy_balancer.so",
  "mod_lbmethod_byrequests.so",
  "mod_slotmem_shm.so",
  "mod_env.so",
];

export const INSTALL_HINT = [
  "To install: .ci/run (installs, then runs the tests), or",
  "  apt-get install -y --no-install-recommends \\",
  "    libtomcat10-java tomcat10-common apache2 wrk chromium systemd default-jdk-headless",
];

export interface Prereqs {
  ok: boolean;
  missing: string[];
}

let cached: Prereqs | undefined;
let browserCached: Prereqs | undefined;

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? "").split(path.delimiter).some((dir) => {
    if (!dir) return false;
    try {
      fs.accessSync(path.join(dir, cmd), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Checked once per process: it runs at collection time in every interop test file. */
export function checkInteropPrereqs(): Prereqs {
  if (cached) return cached;
  const missing: string[] = [];
  const tomcat = tomcatAvailable();
  if (!tomcat.ok) missing.push(...tomcat.missing);
  try {
    fs.accessSync(APACHE_BIN, fs.constants.X_OK);
  } catch {
    missing.push(`${APACHE_BIN} (Debian package apache2)`);
  }
  for (const mod of APACHE_MODULES) {
    const file = path.join(APACHE_MODULES_DIR, mod);
    if (!fs.existsSync(file)) missing.push(`${file} (Debian package apache2)`);
  }
  if (!onPath("wrk")) missing.push("wrk (Debian package wrk)");
  if (!fs.existsSync(SYSTEMD_ANALYZE)) missing.push(`${SYSTEMD_ANALYZE} (Debian package systemd)`);
  cached = { ok: missing.length === 0, missing };
  return cached;
}

/**
 * What page tests need: Debian's Chromium and playwright-core to drive it. Kept apart from
 * checkInteropPrereqs so a machine without a browser still runs the Tomcat and httpd suites;
 * the global setup reports both alike.
 */
export function checkBrowserPrereqs(): Prereqs {
  if (browserCached) return browserCached;
  const why = chromiumUnavailableReason();
  browserCached = { ok: why === undefined, missing: why ? [why] : [] };
  return browserCached;
}
