import type { BridgeConfig } from "./config.ts";

/**
 * What `oxedge-bridge --check FILE` prints for a valid file: enough to see
 * at a glance that it is the config one meant (members, paths, listeners)
 * and what the bridge would warn about at start.
 */
export function checkSummary(file: string, c: BridgeConfig): string {
  const hostPort = (host: string, port: number) => `${host.includes(":") ? `[${host}]` : host}:${port}`;
  const lines = [`${file}: ok`];
  lines.push(`listen        ${hostPort(c.listenHost, c.listenPort)}`);
  lines.push(`admin         ${c.admin ? `${hostPort(c.admin.host, c.admin.port)} (${c.admin.token ? "changes with a token" : "read-only: no admin_token_env"})` : "off"}`);
  const kind = (r: BridgeConfig["paths"]["rules"][number]) => (r.websocket ? " (websocket)" : r.internal ? " (internal)" : r.redirect ? " (redirect)" : r.rewrite ? ` (→ ${r.rewrite})` : "");
  lines.push(`paths         ${c.paths.rules.length} rules: ${c.paths.rules.map((r) => r.prefix + kind(r)).join(", ")}`);
  lines.push(`grace         ${c.lifecycle.graceMs / 1000} s`);
  lines.push(`members       ${c.members.length}`);
  for (const m of c.members) {
    const flags = Object.entries(m.spec.status).filter(([, on]) => on).map(([k]) => k).join(",");
    lines.push(`  ${m.route.padEnd(10)} ${m.kind} ${hostPort(m.host, m.port)}  loadfactor ${m.spec.loadfactor}, lbset ${m.spec.lbset}${flags ? `, ${flags}` : ""}${m.spec.redirect ? `, redirect ${m.spec.redirect}` : ""}`);
  }
  for (const w of c.warnings) lines.push(`warning: ${w}`);
  return lines.join("\n");
}
