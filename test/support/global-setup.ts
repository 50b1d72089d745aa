/**
 * vitest globalSetup: says loudly when interop prerequisites are missing (their suites then
 * skip), fails the run under CI=true where a skip would hide lost coverage, and compiles the
 * Tomcat test app once before workers start so a compile error shows up once, up front.
 */
import { checkBrowserPrereqs, checkInteropPrereqs, INSTALL_HINT } from "../../peers/prereqs.ts";
import { ensureTomcatApp, tomcatAvailable } from "../../peers/tomcat.ts";

function banner(lines: string[]): string {
  const width = Math.max(...lines.map((l) => l.length)) + 4;
  const bar = "#".repeat(width);
  return ["", bar, ...lines.map((l) => `# ${l.padEnd(width - 4)} #`), bar, ""].join("\n");
}

export default async function setup(): Promise<void> {
  const ci = process.env.CI === "true";
  const interop = checkInteropPrereqs();
  const browser = checkBrowserPrereqs();
  const missing = [...interop.missing, ...browser.missing];
  if (missing.length) {
    const skipped = [interop.ok ? "" : "real-Tomcat/httpd", browser.ok ? "" : "Chromium page"].filter(Boolean).join(" and ");
    process.stderr.write(
      banner([
        `INTEROP PREREQUISITES MISSING: ${skipped} tests will be SKIPPED`,
        "",
        ...missing.map((m) => `  - ${m}`),
        "",
        ...INSTALL_HINT,
        ci ? "CI=true: failing the run." : "Set CI=true to make this a failure.",
      ]) + "\n",
    );
    if (ci) throw new Error(`interop prerequisites missing: ${missing.join(", ")}`);
  }
  if (tomcatAvailable().ok) {
    try {
      await ensureTomcatApp();
    } catch (err) {
      process.stderr.write(banner(["COULD NOT COMPILE THE TOMCAT TEST APP (peers/tomcat-app)"]) + "\n");
      if (ci) throw err;
      process.stderr.write(`${(err as Error).message}\n`);
    }
  }
}
