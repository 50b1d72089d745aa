import { describe, expect, it } from "vitest";
import { parseApacheConfig, splitWords, type ConfDirective, type ConfNode, type ConfSection } from "./apache-config.ts";

function parsed(text: string): ConfNode[] {
  const r = parseApacheConfig(text);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.nodes;
}

const dir = (n: ConfNode | undefined) => n as ConfDirective;
const sec = (n: ConfNode | undefined) => n as ConfSection;

describe("parseApacheConfig", () => {
  it("reads directives with their words and line numbers", () => {
    const nodes = parsed("ProxyRequests Off\n\nProxyPass /ajax balancer://oxcluster/ajax\n");
    expect(nodes).toEqual([
      { type: "directive", name: "ProxyRequests", key: "proxyrequests", args: ["Off"], line: 1, lastLine: 1 },
      { type: "directive", name: "ProxyPass", key: "proxypass", args: ["/ajax", "balancer://oxcluster/ajax"], line: 3, lastLine: 3 },
    ]);
  });

  it("compares directive and section names without case, keeping them as written", () => {
    const [p] = parsed("<proxy balancer://x>\n  balancermember ajp://a:8009\n  BALANCERMEMBER ajp://b:8009\n</PROXY>\n");
    expect(sec(p)).toMatchObject({ name: "proxy", key: "proxy", line: 1, lastLine: 4 });
    expect(sec(p).children.map((c) => [c.name, c.key])).toEqual([
      ["balancermember", "balancermember"],
      ["BALANCERMEMBER", "balancermember"],
    ]);
  });

  it("nests sections and records where each opens and closes", () => {
    const nodes = parsed(
      ["<VirtualHost *:443>", "  <IfModule mod_proxy_ajp.c>", "    <Proxy balancer://oxcluster>", "      BalancerMember ajp://10.0.0.1:8009 route=OX1", "    </Proxy>", "    <Location /servlet/axis2/services>", "      Require ip 127.0.0.1", "    </Location>", "  </IfModule>", "</VirtualHost>"].join("\n"),
    );
    const vhost = sec(nodes[0]);
    expect(vhost).toMatchObject({ key: "virtualhost", args: ["*:443"], line: 1, lastLine: 10 });
    const ifm = sec(vhost.children[0]);
    expect(ifm).toMatchObject({ key: "ifmodule", args: ["mod_proxy_ajp.c"], line: 2, lastLine: 9 });
    expect(sec(ifm.children[0])).toMatchObject({ key: "proxy", args: ["balancer://oxcluster"], line: 3, lastLine: 5 });
    expect(dir(sec(ifm.children[0]).children[0])).toMatchObject({ args: ["ajp://10.0.0.1:8009", "route=OX1"], line: 4 });
    expect(sec(ifm.children[1])).toMatchObject({ key: "location", args: ["/servlet/axis2/services"], line: 6, lastLine: 8 });
  });

  it("joins continued lines and counts the directive from its first line", () => {
    const nodes = parsed("# c\nBalancerMember ajp://10.0.0.1:8009 \\\n    timeout=100 \\\n    route=OX1\nProxyRequests Off\n");
    expect(dir(nodes[0])).toMatchObject({ args: ["ajp://10.0.0.1:8009", "timeout=100", "route=OX1"], line: 2, lastLine: 4 });
    expect(dir(nodes[1])).toMatchObject({ key: "proxyrequests", line: 5 });
  });

  it("joins a backslash only at the end of a line, trailing blanks aside; a word may continue", () => {
    const nodes = parsed("SetEnv a\\b c\nSetEnv x \\  \ny\nSetEnv long\\\nword\n");
    expect(dir(nodes[0]).args).toEqual(["a\\b", "c"]);
    expect(dir(nodes[1])).toMatchObject({ args: ["x", "y"], line: 2, lastLine: 3 });
    expect(dir(nodes[2]).args).toEqual(["longword"]);
  });

  it("skips whole-line comments, indented ones too, and a comment continued by a backslash", () => {
    const nodes = parsed("# one\n   # two\n# three \\\nProxyPass /not-a-directive x\nProxyRequests Off # not a comment\n");
    expect(nodes).toHaveLength(1);
    // httpd has no end-of-line comments: the rest of the line is arguments.
    expect(dir(nodes[0])).toMatchObject({ key: "proxyrequests", args: ["Off", "#", "not", "a", "comment"], line: 5 });
  });

  it("reads quoted arguments, blanks and escaped quotes inside", () => {
    const nodes = parsed(`Header always set Strict-Transport-Security "max-age=31536000; includeSubDomains"\n<Location "/my path">\nRequire ip '10.0.0.0/8'\n</Location>\nSetEnv a "say \\"hi\\"" 'it\\'s'\n`);
    expect(dir(nodes[0]).args).toEqual(["always", "set", "Strict-Transport-Security", "max-age=31536000; includeSubDomains"]);
    expect(sec(nodes[1]).args).toEqual(["/my path"]);
    expect(dir(sec(nodes[1]).children[0]).args).toEqual(["ip", "10.0.0.0/8"]);
    expect(dir(nodes[2]).args).toEqual(["a", 'say "hi"', "it's"]);
  });

  it("takes CRLF line ends and a byte-order mark", () => {
    const nodes = parsed("\uFEFFProxyRequests Off\r\n<Proxy balancer://x>\r\n</Proxy>\r\n");
    expect(dir(nodes[0])).toMatchObject({ args: ["Off"], line: 1 });
    expect(sec(nodes[1])).toMatchObject({ line: 2, lastLine: 3 });
  });

  it.each([
    ["<Proxy balancer://x>\n  BalancerMember ajp://a:8009\n", [{ line: 1, reason: "<Proxy> is not closed (no </Proxy> before the end of the file)" }]],
    ["ProxyPass /ajax x\n</Location>\n", [{ line: 2, reason: "</Location> closes no open <Location> section" }]],
    ["<VirtualHost *:80>\n<Location /x>\n</VirtualHost>\n", [{ line: 2, reason: "<Location> is not closed before </VirtualHost> on line 3" }]],
    ['ProxyRequests Off\nHeader set X "unterminated\n', [{ line: 2, reason: "unterminated double quote" }]],
    ["<Location /x\n", [{ line: 1, reason: 'a section starts with "<Name args>" and ends with ">" on the same line' }]],
    ["</Location extra>\n", [{ line: 1, reason: 'a closing tag is "</Name>" alone on its line, not "</Location extra>"' }]],
  ])("reports %j with its line", (text, errors) => {
    const r = parseApacheConfig(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors).toEqual(errors);
  });

  it("names the line of a continued directive's start in an error", () => {
    const r = parseApacheConfig("ProxyRequests Off\nHeader set X \\\n  \"open\n");
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors).toEqual([{ line: 2, reason: "unterminated double quote" }]);
  });
});

describe("splitWords", () => {
  it("splits at runs of blanks and tabs", () => {
    expect(splitWords("a \t b   c")).toEqual({ ok: true, words: ["a", "b", "c"] });
  });
  it("keeps an empty quoted word", () => {
    expect(splitWords(`x "" y`)).toEqual({ ok: true, words: ["x", "", "y"] });
  });
  it("refuses a quote left open", () => {
    expect(splitWords(`'abc`)).toEqual({ ok: false, reason: "unterminated single quote" });
  });
});
