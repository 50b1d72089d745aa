/**
 * The bridge.toml `oxedge import apache` makes of the OX guide's
 * proxy_ajp.conf, loaded with the real loader (loadConfigFile, the env vars
 * it names set) and started with startBridge, passes the checks the
 * hand-written config passes in bridge-demo.test.ts: new sessions 50/50 by
 * loadfactor, a session kept on its node by route, the provisioning API
 * refused from outside. Only the member addresses (to the demo nodes' ports)
 * and the listen address are changed before loading.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfigFile, type BridgeConfig } from "../../bridge/config.ts";
import { startBridge, type Bridge } from "../../bridge/server.ts";
import { importApache } from "../../bridge/import/index.ts";
import { startDemoNode, type DemoNode } from "../../peers/demo-node.ts";
import { accountingAfterEach, watch } from "../support/accounting.ts";
import { BRIDGE_SECRET, bridgeRequest } from "../support/bridge.ts";
import { expectBalancedAndSticky } from "../support/cluster-checks.ts";

accountingAfterEach();

const fixture = (name: string) => readFileSync(new URL(`../../bridge/import/fixtures/${name}`, import.meta.url), "utf8");

let ox1: DemoNode, ox2: DemoNode, bridge: Bridge, config: BridgeConfig, dir: string;

/** The imported file with its member addresses pointed at the demo nodes, listening on a free port. */
function pointedAtDemoNodes(toml: string, ports: Record<string, number>): string {
  let out = toml;
  for (const [from, port] of Object.entries(ports)) {
    expect(out).toContain(`address = "ajp://${from}"`);
    out = out.replace(`address = "ajp://${from}"`, `address = "ajp://127.0.0.1:${port}"`);
  }
  // Top-level keys come before the first table, so the listen address goes in front of them.
  return out.replace(/^secret_env = /m, `listen = "127.0.0.1:0"\nsecret_env = `);
}

beforeAll(async () => {
  [ox1, ox2] = await Promise.all([startDemoNode({ route: "OX1" }), startDemoNode({ route: "OX2" })]);
  const r = importApache(fixture("proxy_ajp.conf"), "proxy_ajp.conf");
  if (!r.ok) throw new Error("the fixture does not parse");
  expect(r.untranslated).toEqual([]);
  dir = mkdtempSync(join(tmpdir(), "oxedge-import-"));
  const file = join(dir, "bridge.toml");
  writeFileSync(file, pointedAtDemoNodes(r.bridgeToml, { "10.20.30.213:8009": ox1.port, "10.20.30.215:8009": ox2.port }));
  config = loadConfigFile(file, { OXEDGE_BRIDGE_SECRET: BRIDGE_SECRET });
  bridge = await startBridge(config, () => {});
  watch(bridge, { OX1: ox1, OX2: ox2 });
});

afterAll(async () => {
  await bridge?.close();
  await Promise.all([ox1?.close(), ox2?.close()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("the imported proxy_ajp.conf on demo nodes", () => {
  it("spreads new sessions 50/50 (loadfactor 50 each) and keeps a session on its node by route", async () => {
    await expectBalancedAndSticky(bridge.url);
  });

  it("refuses the provisioning API from outside, in any spelling of the Axis2 tree, and lets the allow-list in", async () => {
    for (const target of ["/servlet/axis2/services/echo", "/servlet/axis2/x/services/OXUserService", "/servlet/AXIS2/services/echo", "/servlet/axis2"]) {
      const r = await bridgeRequest(bridge.url, { target, clientIp: "203.0.113.7" });
      expect(r.status, target).toBe(403);
      expect(r.headers["x-oxedge-error"]).toBe("forbidden");
    }
    const allowed = await bridgeRequest(bridge.url, { target: "/servlet/axis2/services/echo", clientIp: "127.0.0.1" });
    expect(allowed.status).toBe(200);
  });

  it("forwards the six prefixes of the guide and nothing else", async () => {
    for (const p of ["/ajax", "/servlet", "/infostore", "/publications", "/Microsoft-Server-ActiveSync", "/usm-json"]) {
      const r = await bridgeRequest(bridge.url, { target: `${p}/echo` });
      expect(r.status, p).toBe(200);
      expect(r.json()).toMatchObject({ uri: `${p}/echo` });
    }
    expect((await bridgeRequest(bridge.url, { target: "/drive/echo" })).status).toBe(404);
    expect((await bridgeRequest(bridge.url, { target: "/appsuite/api/echo" })).status).toBe(404);
  });

  it("has no reply timeout the edge cannot keep: ActiveSync keeps Apache's 100 s, not ox6's 900", () => {
    expect(bridge.cluster.status().members.map((m) => m.route)).toEqual(["OX1", "OX2"]);
    expect(config.paths.route("/Microsoft-Server-ActiveSync")?.timeout).toBe(100);
    expect(config.warnings).toEqual([]);
  });
});
