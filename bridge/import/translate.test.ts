import { readFileSync } from "node:fs";
import { parse as parseToml } from "smol-toml";
import { describe, expect, it } from "vitest";
import { parseApacheConfig, type ConfNode } from "./apache-config.ts";
import { importApache } from "./index.ts";

interface Imported {
  bridge: Record<string, any>;
  vars: Record<string, any>;
  /** [first line, what] of everything not translated. */
  bad: [number, string, string][];
  text: string;
  todos: string;
}

function run(conf: string): Imported {
  const r = importApache(conf, "test.conf");
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return {
    bridge: parseToml(r.bridgeToml) as Record<string, any>,
    vars: (parseToml(r.workerToml) as { vars: Record<string, any> }).vars,
    bad: r.untranslated.map((i) => [i.first, i.what, i.text]),
    // The report's entries unwrapped, after both files.
    text: `${r.bridgeToml}\n${r.workerToml}\n${r.translation.report.items.map((i) => `line ${i.first}: ${i.what}: ${i.text}`).join("\n")}`,
    todos: r.translation.report.todos.join(" "),
  };
}

const lines = (...ls: string[]) => `${ls.join("\n")}\n`;

const TWO_NODES = [
  "<Proxy balancer://oxcluster>",
  "  BalancerMember ajp://10.0.0.1:8009 timeout=100 route=OX1",
  "  BalancerMember ajp://10.0.0.2:8009 timeout=100 route=OX2",
  "  ProxySet stickysession=JSESSIONID",
  "</Proxy>",
];

describe("members", () => {
  it("names an env var for an AJP secret and never writes the value, not even in the report", () => {
    const r = run(lines("<Proxy balancer://c>", "  BalancerMember ajp://10.0.0.1:8009 route=OX1 secret=TopSecretValue42", "  ProxySet stickysession=JSESSIONID", "</Proxy>", "ProxyPass /ajax balancer://c/ajax"));
    expect(r.bridge.members[0]).toMatchObject({ route: "OX1", address: "ajp://10.0.0.1:8009", secret_env: "OX1_AJP_SECRET" });
    expect(r.text).not.toContain("TopSecretValue42");
    expect(r.todos).toContain("Set OX1_AJP_SECRET in the bridge's environment to the secret= of line 2");
  });

  it("takes the most common retry for the cluster and lists the others", () => {
    const r = run(
      lines(
        "<Proxy balancer://c>",
        "  BalancerMember ajp://a:8009 route=A retry=30",
        "  BalancerMember ajp://b:8009 route=B retry=60",
        "  BalancerMember ajp://c:8009 route=C retry=60",
        "  ProxySet stickysession=JSESSIONID",
        "</Proxy>",
        "ProxyPass /ajax balancer://c/ajax",
      ),
    );
    expect(r.bridge.balancer.retry).toBe(60);
    expect(r.bad).toEqual([[2, "retry=30", expect.stringContaining("one retry for the whole cluster: 60 s")]]);
  });

  it("makes up a route for a member without one, and asks for it on the node", () => {
    const r = run(lines("ProxyPass /ajax ajp://10.0.0.9:8009/ajax", "ProxyPass /servlet ajp://10.0.0.9:8009/servlet"));
    expect(r.bridge.members).toEqual([{ route: "NODE1", address: "ajp://10.0.0.9:8009", timeout: 60 }]);
    expect(r.todos).toContain("jvmRoute (Tomcat) or com.openexchange.server.backendRoute (OX) to NODE1");
    expect(r.bad).toEqual([]);
  });

  it("merges one node's lines of several balancers by route (a host alias too), by host:port without a route", () => {
    const r = run(
      lines(
        "<Proxy balancer://main>",
        "  BalancerMember http://node1:8009 timeout=100 route=APP1",
        "  BalancerMember http://10.0.0.2:8009 timeout=100",
        "  ProxySet stickysession=JSESSIONID|jsessionid",
        "</Proxy>",
        "<Proxy balancer://sync>",
        "  BalancerMember http://node1_sync:8009 timeout=1900 route=APP1",
        "  BalancerMember http://10.0.0.2:8009 timeout=1900",
        "  ProxySet stickysession=JSESSIONID|jsessionid",
        "</Proxy>",
        "ProxyPass /ajax balancer://main/ajax",
        "ProxyPass /servlet balancer://main/servlet",
        "ProxyPass /usm-json balancer://sync/usm-json",
      ),
    );
    expect(r.bridge.members.map((m: any) => [m.route, m.address, m.timeout])).toEqual([
      ["APP1", "http://node1:8009", 100],
      ["NODE1", "http://10.0.0.2:8009", 100],
    ]);
    expect(r.bridge.paths).toContainEqual({ prefix: "/usm-json", cluster: true, timeout: 1900 });
    expect(r.text).toContain("the host node1_sync names the same node (same route) as line 2's node1");
    expect(r.bad).toEqual([]);
  });

  it("lists a node that only one balancer has: oxedge has one member list for every prefix", () => {
    const r = run(
      lines(
        ...TWO_NODES,
        "<Proxy balancer://sync>",
        "  BalancerMember ajp://10.0.0.1:8009 timeout=900 route=OX1",
        "  ProxySet stickysession=JSESSIONID",
        "</Proxy>",
        "ProxyPass /ajax balancer://oxcluster/ajax",
        "ProxyPass /servlet balancer://oxcluster/servlet",
        "ProxyPass /usm-json balancer://sync/usm-json",
      ),
    );
    expect(r.bad).toEqual([[6, "<Proxy balancer://sync>", expect.stringContaining("has no member for OX2 (line 3)")]]);
  });

  it("lists settings that differ between one node's lines", () => {
    const r = run(
      lines(
        ...TWO_NODES,
        "<Proxy balancer://sync>",
        "  BalancerMember ajp://10.0.0.1:8009 timeout=900 route=OX1 loadfactor=20",
        "  BalancerMember ajp://10.0.0.2:8009 timeout=900 route=OX2",
        "  ProxySet stickysession=JSESSIONID",
        "</Proxy>",
        "ProxyPass /ajax balancer://oxcluster/ajax",
        "ProxyPass /servlet balancer://oxcluster/servlet",
        "ProxyPass /usm-json balancer://sync/usm-json",
      ),
    );
    expect(r.bad).toEqual([[7, expect.stringContaining("BalancerMember ajp://10.0.0.1:8009"), expect.stringContaining("loadfactor=20 (line 2: unset)")]]);
    expect(r.bridge.members[0].loadfactor).toBeUndefined();
  });

  it("makes ws:// members' prefix a WebSocket prefix over the HTTP members, and says keepalive=On has no equivalent", () => {
    const r = run(
      lines(
        "<Proxy balancer://oxcluster>",
        "  BalancerMember http://10.0.0.1:8009 timeout=100 route=OX1",
        "  ProxySet stickysession=JSESSIONID|jsessionid",
        "</Proxy>",
        "<Proxy balancer://ws>",
        "  BalancerMember ws://10.0.0.1:8009 timeout=100 route=OX1 keepalive=On",
        "  ProxySet stickysession=JSESSIONID|jsessionid",
        "</Proxy>",
        "ProxyPass /ajax balancer://oxcluster/ajax",
        "ProxyPass /socket.io balancer://ws/socket.io",
      ),
    );
    expect(r.bridge.members).toEqual([{ route: "OX1", address: "http://10.0.0.1:8009", timeout: 100 }]);
    expect(r.bridge.paths).toContainEqual({ prefix: "/socket.io", cluster: true, websocket: true });
    expect(r.bad).toEqual([[6, "keepalive=On", expect.stringMatching(/^no equivalent/)]]);
  });

  it("keeps an AJP node AJP, and then has no WebSocket prefix to give", () => {
    const r = run(
      lines(
        ...TWO_NODES,
        "<Proxy balancer://ws>",
        "  BalancerMember ws://10.0.0.1:8009 timeout=100 route=OX1",
        "  BalancerMember ws://10.0.0.2:8009 timeout=100 route=OX2",
        "  ProxySet stickysession=JSESSIONID",
        "</Proxy>",
        "ProxyPass /ajax balancer://oxcluster/ajax",
        "ProxyPass /servlet balancer://oxcluster/servlet",
        "ProxyPass /socket.io balancer://ws/socket.io",
      ),
    );
    expect(r.bridge.members.map((m: any) => m.address)).toEqual(["ajp://10.0.0.1:8009", "ajp://10.0.0.2:8009"]);
    expect(r.bridge.paths).toContainEqual({ prefix: "/socket.io", cluster: true });
    expect(r.bad.map((b) => b[0])).toEqual([7, 8, 13]);
  });
});

describe("units and keys", () => {
  it("converts httpd's units: acquire in milliseconds, time values with ms, to the bridge's seconds", () => {
    const r = run(lines("<Proxy balancer://c>", "  BalancerMember ajp://a:8009 route=A timeout=30 acquire=3000 connectiontimeout=500ms ping=2 ttl=55 max=20 iobuffersize=65536 status=+H lbset=1", "  ProxySet stickysession=JSESSIONID nofailover=On maxattempts=2 forcerecovery=Off", "</Proxy>", "ProxyPass /ajax balancer://c/ajax"));
    expect(r.bridge.members[0]).toEqual({ route: "A", address: "ajp://a:8009", lbset: 1, status: "+H", timeout: 30, connectiontimeout: 0.5, ttl: 55, max: 20, acquire: 3, ping: 2, packet_size: 65536 });
    expect(r.bridge.balancer).toEqual({ nofailover: true, maxattempts: 2, forcerecovery: false });
    expect(r.bad).toEqual([]);
  });

  it("refuses values outside the bridge's ranges, with the range", () => {
    const r = run(lines("<Proxy balancer://c>", "  BalancerMember ajp://a:8009 route=A loadfactor=150 iobuffersize=4096", "  ProxySet stickysession=JSESSIONID", "</Proxy>", "ProxyPass /ajax balancer://c/ajax"));
    expect(r.bad).toEqual([
      [2, "loadfactor=150", "the bridge takes a weight from 1 to 100"],
      [2, "iobuffersize=4096", expect.stringContaining("from 8192 to 65536")],
    ]);
  });

  it("takes HSTS from a Header line, mod_alias redirects, and upgrade=websocket on a ProxyPass", () => {
    const r = run(
      lines(
        "<Proxy balancer://c>",
        "  BalancerMember http://a:8009 route=A timeout=100",
        "  ProxySet stickysession=JSESSIONID|jsessionid",
        "</Proxy>",
        "ProxyPass /ajax balancer://c/ajax",
        "ProxyPass /socket.io balancer://c/socket.io upgrade=websocket",
        'Header always set Strict-Transport-Security "max-age=63072000; includeSubDomains; preload"',
        "Redirect permanent /.well-known/carddav /servlet/dav/",
        "Redirect permanent / https://ox.example.com/",
      ),
    );
    expect([r.vars.HSTS_MAX_AGE, r.vars.HSTS_INCLUDE_SUBDOMAINS]).toEqual(["63072000", "true"]);
    expect(r.bridge.paths).toContainEqual({ prefix: "/socket.io", cluster: true, websocket: true });
    expect(r.bridge.paths).toContainEqual({ prefix: "/.well-known/carddav", redirect: "/servlet/dav/" });
    expect(r.text).toContain("oxedge answers 302, httpd 301");
    expect(r.text).toMatch(/line 9: Redirect permanent \/ https:\/\/ox\.example\.com\/: built in/);
    expect(r.bad).toEqual([]);
  });
});

describe("the path map", () => {
  it("names ox6 with the one change the guide's timeouts need", () => {
    const r = run(lines(...TWO_NODES, ...["/ajax", "/servlet", "/infostore", "/publications", "/Microsoft-Server-ActiveSync", "/usm-json"].map((p) => `ProxyPass ${p} balancer://oxcluster${p}`), "<Location /servlet/axis2>", "  Require ip 10.0.0.0/8", "</Location>"));
    expect(r.bridge.paths).toEqual(["ox6", { prefix: "/Microsoft-Server-ActiveSync", timeout: 100 }]);
    expect(r.vars.PATH_MAP).toEqual(r.bridge.paths);
    expect(r.bridge.provisioning).toEqual({ allow: ["10.0.0.0/8"] });
  });

  it("names appsuite7 alone when the file says exactly what it says", () => {
    const prefixes = ["/ajax", "/drive", "/infostore", "/publications", "/realtime", "/servlet", "/webservices", "/preliminary"];
    const r = run(
      lines(
        "<Proxy balancer://oxcluster>",
        "  BalancerMember http://10.0.0.1:8009 timeout=100 route=OX1",
        "  ProxySet stickysession=JSESSIONID|jsessionid",
        "</Proxy>",
        "<Proxy balancer://sync>",
        "  BalancerMember http://10.0.0.1:8009 timeout=1900 route=OX1",
        "  ProxySet stickysession=JSESSIONID|jsessionid",
        "</Proxy>",
        "<Proxy balancer://ws>",
        "  BalancerMember ws://10.0.0.1:8009 timeout=100 route=OX1",
        "  ProxySet stickysession=JSESSIONID|jsessionid",
        "</Proxy>",
        ...prefixes.map((p) => `ProxyPass ${p} balancer://oxcluster${p}`),
        "ProxyPass /appsuite/api balancer://oxcluster/ajax",
        "ProxyPass /usm-json balancer://sync/usm-json",
        "ProxyPass /Microsoft-Server-ActiveSync balancer://sync/Microsoft-Server-ActiveSync",
        "ProxyPass /socket.io balancer://ws/socket.io",
        ...["/webservices", "/preliminary", "/servlet/axis2/services"].flatMap((p) => [`<Location ${p}>`, "  Require ip 127.0.0.1", "</Location>"]),
        "RewriteEngine On",
        "RewriteRule ^/\\.well-known/caldav /servlet/dav/ [R]",
        "RewriteRule ^/\\.well-known/carddav /servlet/dav/ [R,L]",
      ),
    );
    expect(r.bridge.paths).toBe("appsuite7");
    expect(r.vars.PATH_MAP).toBe("appsuite7");
    expect(r.bad).toEqual([]);
  });

  it("writes tables when no preset fits, a rewrite and a static exception among them", () => {
    const r = run(lines(...TWO_NODES, "ProxyPass /servlet/static !", "ProxyPass /servlet balancer://oxcluster/servlet", "ProxyPass /api balancer://oxcluster/ajax", "ProxyPass /ajax balancer://oxcluster/ajax"));
    expect(r.bridge.paths).toEqual([
      { prefix: "/servlet", cluster: true },
      { prefix: "/api", rewrite: "/ajax" },
      { prefix: "/ajax", cluster: true },
      { prefix: "/servlet/static", cluster: false },
    ]);
    expect(r.vars.PATH_MAP).toEqual(r.bridge.paths);
    expect(r.bad).toEqual([]);
  });

  it("names the closest preset when the file lacks a few of its rules", () => {
    const r = run(lines(...TWO_NODES.map((l) => l.replace("ajp://", "http://")), ...["/ajax", "/drive", "/infostore", "/publications", "/realtime", "/servlet", "/webservices", "/usm-json", "/Microsoft-Server-ActiveSync"].map((p) => `ProxyPass ${p} balancer://oxcluster${p}`), "ProxyPass /appsuite/api balancer://oxcluster/ajax", "<Location /servlet/axis2/services>", "  Require local", "</Location>"));
    expect(Array.isArray(r.bridge.paths) && typeof r.bridge.paths[0] === "object").toBe(true);
    expect(r.text).toContain("the closest preset, appsuite7, also has /socket.io, /preliminary, /.well-known/caldav, /.well-known/carddav");
  });

  it("lists a ProxyPass httpd never reaches (the first match wins there, the longest prefix in oxedge)", () => {
    const r = run(lines(...TWO_NODES, "ProxyPass /servlet balancer://oxcluster/servlet", "ProxyPass /servlet/static !"));
    expect(r.bad).toEqual([[7, "ProxyPass /servlet/static !", expect.stringContaining("never used by httpd: the ProxyPass /servlet on line 6")]]);
    expect(r.bridge.paths).toEqual([{ prefix: "/servlet", cluster: true }]);
  });

  it("rewrites only to a prefix the map forwards as it is", () => {
    const r = run(lines(...TWO_NODES, "ProxyPass /servlet balancer://oxcluster/servlet", "ProxyPass /appsuite/api balancer://oxcluster/ajax"));
    expect(r.bad).toEqual([[7, "ProxyPass /appsuite/api balancer://oxcluster/ajax", expect.stringContaining("no ProxyPass forwards /ajax")]]);
  });

  it("restricts a location with a deny-list to nobody, and says so", () => {
    const r = run(lines(...TWO_NODES, "ProxyPass /ajax balancer://oxcluster/ajax", "<Location /ajax/admin>", "  Order Allow,Deny", "  Allow from all", "  Deny from 192.0.2.1", "</Location>"));
    expect(r.bridge.paths).toContainEqual({ prefix: "/ajax/admin", internal: true });
    expect(r.bridge.provisioning).toEqual({ allow: [] });
    expect(r.bad).toEqual([[10, "Deny from 192.0.2.1", expect.stringContaining("deny-list")]]);
  });
});

describe("reading the file", () => {
  it("matches directive names without case", () => {
    const r = run(lines("<PROXY balancer://OXCluster>", "  balancermember ajp://10.0.0.1:8009 ROUTE=OX1 TimeOut=100", "  proxyset STICKYSESSION=JSESSIONID", "</proxy>", "proxypass /ajax balancer://oxcluster/ajax"));
    expect(r.bridge.members).toEqual([{ route: "OX1", address: "ajp://10.0.0.1:8009", timeout: 100 }]);
    expect(r.vars.STICKY_COOKIES).toBe("JSESSIONID");
    expect(r.bad).toEqual([]);
  });

  it("keeps the access directives of a block httpd 2.4 skips, and nothing else of it", () => {
    const r = run(lines(...TWO_NODES, "ProxyPass /ajax balancer://oxcluster/ajax", "<IfModule !mod_authz_core.c>", "  <Location /ajax/x>", "    Require ip 10.0.0.1", "  </Location>", "  Frobnicate 1", "</IfModule>", "<Location /ajax/y>", "  <IfVersion < 2.4>", "    Order Deny,Allow", "    Deny from all", "    Allow from 10.0.0.2", "  </IfVersion>", "</Location>"));
    expect(r.bridge.paths).toContainEqual({ prefix: "/ajax/y", internal: true });
    expect(r.bridge.provisioning).toEqual({ allow: ["10.0.0.2"] });
    expect(r.bad).toEqual([]);
    expect(r.text).toMatch(/line 8: <Location \/ajax\/x>: inside <IfModule !mod_authz_core.c>/);
  });

  it("lists what it does not know, with the line", () => {
    const r = run(lines(...TWO_NODES, "ProxyPass /ajax balancer://oxcluster/ajax", "Frobnicate on", "<Frob x>", "  ProxyPass /servlet balancer://oxcluster/servlet", "</Frob>", "Include conf.d/*.conf"));
    expect(r.bad).toEqual([
      [7, "Frobnicate on", "a directive the importer does not know"],
      [8, "<Frob x>", "a section the importer does not know"],
      [11, "Include conf.d/*.conf", expect.stringContaining("not read")],
    ]);
  });
});

/** Every directive line of a file lies within an entry of the report. */
function directiveLines(nodes: readonly ConfNode[]): number[] {
  return nodes.flatMap((n) => (n.type === "section" ? directiveLines(n.children) : [n.line]));
}

describe.each(["proxy_ajp", "proxy_http"])("fixtures/%s.conf", (name) => {
  it("accounts for every directive in the report", () => {
    const text = readFileSync(new URL(`./fixtures/${name}.conf`, import.meta.url), "utf8");
    const parsed = parseApacheConfig(text);
    const r = importApache(text, name);
    if (!parsed.ok || !r.ok) throw new Error("fixture does not parse");
    const items = r.translation.report.items;
    const missing = directiveLines(parsed.nodes).filter((l) => !items.some((i) => i.first <= l && l <= i.last));
    expect(missing).toEqual([]);
  });
});
