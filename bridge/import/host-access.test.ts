import { describe, expect, it } from "vitest";
import { parseApacheConfig, type ConfDirective, type ConfSection } from "./apache-config.ts";
import { evaluateAccess, hostToCidr } from "./host-access.ts";

/** The access directives of a one-Location file. */
function location(body: string): ConfDirective[] {
  const r = parseApacheConfig(`<Location /x>\n${body}\n</Location>\n`);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return (r.nodes[0] as ConfSection).children as ConfDirective[];
}

describe("hostToCidr", () => {
  it.each([
    ["192.168", "192.168.0.0/16"],
    ["10", "10.0.0.0/8"],
    ["172.16", "172.16.0.0/16"],
    ["10.1.2", "10.1.2.0/24"],
    ["10.1.", "10.1.0.0/16"],
    ["127.0.0.1", "127.0.0.1"],
    ["10.1.2.3/8", "10.0.0.0/8"],
    ["192.168.4.0/255.255.252.0", "192.168.4.0/22"],
    ["0.0.0.0/0", "0.0.0.0/0"],
    ["2001:db8::1", "2001:db8::1"],
    ["2001:db8::/32", "2001:db8::/32"],
    ["[::1]", "::1"],
  ])("%s → %s", (word, cidr) => {
    expect(hostToCidr(word)).toEqual({ ok: true, cidr });
  });

  it.each([
    ["provisioning.example.com", /host name/],
    ["localhost", /host name/],
    ["env=let_me_in", /environment variable/],
    ["256.1", /not an address/],
    ["10.0.0.0/33", /prefix length above 32/],
    ["10.0.0.0/255.0.255.0", /not contiguous/],
    ["2001:db8::/129", /prefix length above 128/],
    ["1.2.3.4.5", /not an address/],
  ])("%s is refused", (word, reason) => {
    const r = hostToCidr(word);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(reason);
  });
});

describe("evaluateAccess", () => {
  it("2.2: Deny from all, then the partial-address allow-list", () => {
    const r = evaluateAccess(location("Order Deny,Allow\nDeny from all\nAllow from 127.0.0.1\nAllow from 192.168 10 172.16"));
    expect(r.access).toEqual({ kind: "list", cidrs: ["127.0.0.1", "192.168.0.0/16", "10.0.0.0/8", "172.16.0.0/16"] });
    expect(r.problems).toEqual([]);
  });

  it("2.2: Order Allow,Deny with an Allow list only", () => {
    expect(evaluateAccess(location("Order Allow,Deny\nAllow from 10.0.0.0/8")).access).toEqual({ kind: "list", cidrs: ["10.0.0.0/8"] });
  });

  it("2.2: Allow from all is everyone, whatever the order", () => {
    expect(evaluateAccess(location("Order deny,allow\nAllow from all")).access).toEqual({ kind: "all" });
    expect(evaluateAccess(location("Order allow,deny\nAllow from all")).access).toEqual({ kind: "all" });
  });

  it("2.2: Order Allow,Deny with Deny from all is nobody", () => {
    expect(evaluateAccess(location("Order Allow,Deny\nAllow from 10\nDeny from all")).access).toEqual({ kind: "none" });
  });

  it("2.2: a deny-list cannot be expressed and is refused to everyone not allowed", () => {
    const r = evaluateAccess(location("Order Deny,Allow\nDeny from 192.0.2.1\nAllow from 10"));
    expect(r.access).toEqual({ kind: "list", cidrs: ["10.0.0.0/8"] });
    expect(r.problems.map((p) => p.line)).toEqual([3]);
    expect(r.problems[0]!.reason).toMatch(/deny-list/);
  });

  it("a host name is reported with its line and left out: stricter than httpd, never looser", () => {
    const r = evaluateAccess(location("Order Deny,Allow\nDeny from all\nAllow from 127.0.0.1 admin.example.com"));
    expect(r.access).toEqual({ kind: "list", cidrs: ["127.0.0.1"] });
    expect(r.problems).toEqual([{ line: 4, text: "Allow from 127.0.0.1 admin.example.com", reason: expect.stringMatching(/admin\.example\.com is a host name/) }]);
  });

  it("2.4: Require ip lines are one list (any of them grants), Require local is loopback", () => {
    expect(evaluateAccess(location("Require ip 127.0.0.1 192.168\nRequire ip 2001:db8::/32")).access).toEqual({ kind: "list", cidrs: ["127.0.0.1", "192.168.0.0/16", "2001:db8::/32"] });
    expect(evaluateAccess(location("Require local")).access).toEqual({ kind: "list", cidrs: ["127.0.0.1", "::1"] });
  });

  it("2.4: Require all denied and granted", () => {
    expect(evaluateAccess(location("Require all denied")).access).toEqual({ kind: "none" });
    expect(evaluateAccess(location("Require all granted")).access).toEqual({ kind: "all" });
  });

  it("2.4: Require host counts as nobody and is reported", () => {
    const r = evaluateAccess(location("Require ip 10\nRequire host provisioning.example.com"));
    expect(r.access).toEqual({ kind: "list", cidrs: ["10.0.0.0/8"] });
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]).toMatchObject({ line: 3, text: "Require host provisioning.example.com" });
  });

  it("both syntaxes with the same list: that list; with different lists: nobody, reported", () => {
    expect(evaluateAccess(location("Require ip 127.0.0.1\nOrder Deny,Allow\nDeny from all\nAllow from 127.0.0.1")).access).toEqual({ kind: "list", cidrs: ["127.0.0.1"] });
    const r = evaluateAccess(location("Require ip 10\nOrder Deny,Allow\nDeny from all\nAllow from 127.0.0.1"));
    expect(r.access).toEqual({ kind: "none" });
    expect(r.problems[0]!.reason).toMatch(/both/);
  });

  it("no access directives: everyone", () => {
    expect(evaluateAccess([]).access).toEqual({ kind: "all" });
  });
});
