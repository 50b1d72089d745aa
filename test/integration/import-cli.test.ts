/**
 * `oxedge import apache` as an operator runs it (bin/oxedge.js, a process of
 * its own): what goes to stdout, --out, the report on stderr, exit statuses.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../..", import.meta.url));
const fixtures = join(root, "bridge/import/fixtures");
const golden = (name: string) => readFileSync(join(fixtures, name), "utf8");
const dir = mkdtempSync(join(tmpdir(), "oxedge-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function oxedge(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(root, "bin/oxedge.js"), ...args], { cwd: dir, encoding: "utf8", timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("oxedge import apache", () => {
  it("--help says the usage and every exit status", () => {
    const r = oxedge("--help");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("usage: oxedge import apache FILE [--out DIR]");
    for (const s of ["  0  everything in FILE was translated", "  3  something was not", "  2  FILE cannot be read", "  1  the output could not be written"]) expect(r.stdout).toContain(s);
    expect(oxedge("import", "--help").stdout).toBe(r.stdout);
  });

  it("writes both files to stdout with separators, exits 0 when all was translated", () => {
    const r = oxedge("import", "apache", join(fixtures, "proxy_ajp.conf"));
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`==> bridge.toml <==\n${golden("proxy_ajp.bridge.toml")}\n==> worker-vars.toml <==\n${golden("proxy_ajp.worker-vars.toml")}`);
    expect(r.stderr).toContain("Not translated: nothing.");
    expect(r.stderr).toContain("line 19: BalancerMember ajp://10.20.30.213:8009");
  });

  it("--out writes the two files, exits 3 and says why when something was not translated", () => {
    const out = join(dir, "appsuite");
    const r = oxedge("import", "apache", join(fixtures, "proxy_http.conf"), "--out", out);
    expect(r.status).toBe(3);
    expect(r.stdout).toBe("");
    expect(readFileSync(join(out, "bridge.toml"), "utf8")).toBe(golden("proxy_http.bridge.toml"));
    expect(readFileSync(join(out, "worker-vars.toml"), "utf8")).toBe(golden("proxy_http.worker-vars.toml"));
    expect(r.stderr).toMatch(/Not translated:\n/);
    expect(r.stderr).toContain("lines 82, 83: keepalive=On: no equivalent");
    expect(r.stderr).toContain("not translated (see \"Not translated\"); exit status 3");
  });

  it("exits 2 for a file it cannot read, naming it", () => {
    const r = oxedge("import", "apache", join(dir, "missing.conf"));
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("cannot read");
    expect(r.stderr).toContain("missing.conf: ENOENT");
  });

  it("exits 2 for a file that is not Apache config syntax, with each error's line, and writes nothing", () => {
    const bad = join(dir, "bad.conf");
    writeFileSync(bad, "ProxyRequests Off\n<Proxy balancer://x>\n  Header set X \"open\n");
    const out = join(dir, "never");
    const r = oxedge("import", "apache", bad, "--out", out);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`${bad}:2: <Proxy> is not closed`);
    expect(r.stderr).toContain(`${bad}:3: unterminated double quote`);
    expect(existsSync(out)).toBe(false);
  });

  it("exits 2 for a wrong command line", () => {
    expect(oxedge("import", "nginx", "x.conf").status).toBe(2);
    expect(oxedge("import", "apache").status).toBe(2);
    expect(oxedge("import", "apache", "a.conf", "--frob").status).toBe(2);
  });

  it("exits 1 when the output cannot be written", () => {
    const file = join(dir, "a-file");
    writeFileSync(file, "");
    const r = oxedge("import", "apache", join(fixtures, "proxy_ajp.conf"), "--out", file);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("cannot write to");
  });
});
