/**
 * Golden files: the OX guide's proxy_ajp.conf and an App Suite proxy_http.conf
 * (fixtures/) imported byte for byte as fixtures/<name>.bridge.toml and
 * <name>.worker-vars.toml; both outputs taken by the bridge's and the worker's
 * own config parsers, and read by them as the same path map.
 */
import { readFileSync } from "node:fs";
import { parse as parseToml } from "smol-toml";
import { describe, expect, it } from "vitest";
import { buildConfig, type BridgeConfig } from "../config.ts";
import { parseConfig, type Config } from "../../worker/config.ts";
import type { PathMap } from "../../common/path-map.ts";
import { importApache } from "./index.ts";

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8");

function imported(name: string) {
  const r = importApache(fixture(`${name}.conf`), `${name}.conf`);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r;
}

/** The env the bridge needs for a file: every *_env key it names, with a value. */
function bridgeFrom(toml: string): BridgeConfig {
  const data = parseToml(toml) as { secret_env: string; members: { secret_env?: string }[] };
  const env: NodeJS.ProcessEnv = { [data.secret_env]: "bridge-secret-0123456789abcdef0123" };
  for (const m of data.members) if (m.secret_env) env[m.secret_env] = "ajp-secret";
  return buildConfig(data, env);
}

function workerFrom(toml: string, pathMapAsText = false): Config {
  const vars = (parseToml(toml) as { vars: Record<string, unknown> }).vars;
  // wrangler hands a TOML array over as JSON; the dashboard and .dev.vars take the JSON as text.
  if (pathMapAsText && Array.isArray(vars.PATH_MAP)) vars.PATH_MAP = JSON.stringify(vars.PATH_MAP);
  return parseConfig({ ...vars, BRIDGE_SECRET: "worker-secret-0123456789abcdef0123", BRIDGE_URLS: "https://bridge.example.net" });
}

function rules(m: PathMap) {
  return m.rules.map(({ source: _s, ...r }) => r);
}

describe.each(["proxy_ajp", "proxy_http"])("%s.conf", (name) => {
  it("becomes the golden bridge.toml, byte for byte", () => {
    expect(imported(name).bridgeToml).toBe(fixture(`${name}.bridge.toml`));
  });

  it("becomes the golden worker-vars.toml, byte for byte", () => {
    expect(imported(name).workerToml).toBe(fixture(`${name}.worker-vars.toml`));
  });

  it("is taken by the bridge's config schema and the worker's config parse, as the same path map", () => {
    const bridge = bridgeFrom(fixture(`${name}.bridge.toml`));
    const worker = workerFrom(fixture(`${name}.worker-vars.toml`));
    expect(rules(worker.paths)).toEqual(rules(bridge.paths));
    expect(rules(workerFrom(fixture(`${name}.worker-vars.toml`), true).paths)).toEqual(rules(bridge.paths));
    expect(worker.provisioningAllow).toEqual(bridge.paths.rules.find((r) => r.prefix === "/servlet/axis2")?.allow);
  });
});

describe("the guide's proxy_ajp.conf", () => {
  it("is translated whole", () => {
    expect(imported("proxy_ajp").untranslated).toEqual([]);
  });

  it("gives two AJP members with the guide's parameters and the six prefixes", () => {
    const c = bridgeFrom(imported("proxy_ajp").bridgeToml);
    expect(c.members.map((m) => [m.route, m.kind, `${m.host}:${m.port}`, m.spec.loadfactor, m.timeoutMs, m.pool.ttlMs, m.pool.smax])).toEqual([
      ["OX1", "ajp", "10.20.30.213:8009", 50, 100_000, 60_000, 0],
      ["OX2", "ajp", "10.20.30.215:8009", 50, 100_000, 60_000, 0],
    ]);
    expect(c.balancer.retryMs).toBe(60_000);
    expect(c.paths.clusterPrefixes.sort()).toEqual(["/Microsoft-Server-ActiveSync", "/ajax", "/infostore", "/publications", "/servlet", "/usm-json"]);
    // Apache gave ActiveSync the members' 100 s, not ox6's 900.
    expect(c.paths.route("/Microsoft-Server-ActiveSync/x")?.timeout).toBe(100);
    expect(c.paths.internal("/servlet/axis2/services/OXUserService").map((r) => r.allow)).toEqual([["127.0.0.1"]]);
    expect(c.paths.internal("/servlet/axis2/x/services/OXUserService")).toHaveLength(1);
    expect(c.warnings).toEqual([]);
  });

  it("gives the worker the cookie and OX's lower-case session parameter", () => {
    const w = workerFrom(imported("proxy_ajp").workerToml);
    expect([w.stickyCookies, w.stickyPathParam, w.stickyQueryParam]).toEqual([["JSESSIONID"], "jsessionid", "jsessionid"]);
  });
});

describe("the App Suite proxy_http.conf", () => {
  it("lists what oxedge cannot express, with its lines", () => {
    const bad = imported("proxy_http").untranslated.map((i) => [i.first, i.what]).sort((a, b) => (a[0] as number) - (b[0] as number));
    expect(bad).toEqual([
      [26, "RewriteCond %{HTTP_USER_AGENT} …"],
      [27, "RewriteRule ^/$ /servlet/dav/ [PT,L]"],
      [43, "Require host provisioning.example.com"],
      [82, "keepalive=On"],
      [83, "keepalive=On"],
    ]);
  });

  it("merges the three balancers into two HTTP members, the sync and ws balancers into prefix rules", () => {
    const c = bridgeFrom(imported("proxy_http").bridgeToml);
    expect(c.members.map((m) => [m.route, m.kind, `${m.host}:${m.port}`, m.timeoutMs])).toEqual([
      ["OX1", "http", "10.20.30.213:8009", 100_000],
      ["OX2", "http", "10.20.30.215:8009", 100_000],
    ]);
    expect(c.paths.route("/usm-json/x")?.timeout).toBe(1900);
    expect(c.paths.route("/Microsoft-Server-ActiveSync")?.timeout).toBe(1900);
    expect(c.paths.route("/ajax/x")?.timeout).toBeUndefined();
    expect(c.paths.route("/socket.io/x")).toMatchObject({ cluster: true, websocket: true });
    expect(c.paths.route("/appsuite/api/login")?.rewrite).toBe("/ajax");
    expect(c.paths.route("/.well-known/caldav")?.redirect).toBe("/servlet/dav/");
  });

  it("restricts the SOAP paths to the partial-address networks, /preliminary to its own list", () => {
    const c = bridgeFrom(imported("proxy_http").bridgeToml);
    const networks = ["127.0.0.1", "192.168.0.0/16", "10.0.0.0/8", "172.16.0.0/16"];
    expect(c.paths.internal("/webservices/OXUserService").map((r) => r.allow)).toEqual([networks]);
    expect(c.paths.internal("/servlet/axis2/services/x").map((r) => r.allow)).toEqual([networks]);
    expect(c.paths.internal("/preliminary/x").map((r) => r.allow)).toEqual([["127.0.0.1"]]);
    const w = workerFrom(imported("proxy_http").workerToml);
    expect(w.provisioningAllow).toEqual(networks);
    expect([w.hstsMaxAge, w.hstsIncludeSubdomains]).toEqual([15768000, false]);
  });
});
