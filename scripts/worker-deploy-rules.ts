/**
 * What `npm run check:worker` judges beyond the worker's own schema
 * (worker/config.ts), pure so it is tested without files or processes:
 * which vars a wrangler.toml environment holds, how the shell's environment
 * overrides them, and, for a deployment, bridges the edge can actually reach
 * (docs/edge-deploy.md, check:worker).
 */
import { BlockList, isIP } from "node:net";
import { ConfigError, type ConfigProblem } from "../common/errors.ts";
import { parseConfig, WORKER_SECRETS, WORKER_VARS, type Config, type Env } from "../worker/config.ts";

/**
 * Addresses a Cloudflare data center cannot reach, or must not: loopback,
 * private (RFC 1918, RFC 4193), link-local, CGNAT, unspecified, and the
 * documentation ranges, whose use means a value was copied from an example.
 */
const UNREACHABLE = new BlockList();
for (const [net, bits] of [["0.0.0.0", 8], ["10.0.0.0", 8], ["100.64.0.0", 10], ["127.0.0.0", 8], ["169.254.0.0", 16], ["172.16.0.0", 12], ["192.168.0.0", 16], ["192.0.2.0", 24], ["198.51.100.0", 24], ["203.0.113.0", 24]] as const) {
  UNREACHABLE.addSubnet(net, bits, "ipv4");
}
for (const [net, bits] of [["::", 128], ["::1", 128], ["fc00::", 7], ["fe80::", 10], ["2001:db8::", 32]] as const) UNREACHABLE.addSubnet(net, bits, "ipv6");

/** Names that only mean something on a LAN or this machine. */
const LOCAL_NAME = /(^|\.)(localhost|local|internal|lan|home\.arpa|localdomain)$/i;

/** Why the worker cannot use `origin` once deployed, or undefined. */
export function deployProblem(origin: string): string | undefined {
  const u = new URL(origin);
  if (u.protocol !== "https:") return `${origin} is not https: the hand-off crosses the internet (a named Cloudflare Tunnel or a TLS endpoint in front of the bridge)`;
  let host = u.hostname;
  if (host.startsWith("[")) host = host.slice(1, -1);
  const family = isIP(host);
  if (family) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(host);
    const [addr, type] = mapped ? [mapped[1], "ipv4" as const] : [host, family === 4 ? ("ipv4" as const) : ("ipv6" as const)];
    if (UNREACHABLE.check(addr, type)) return `${origin} is a loopback, private or reserved address: the Cloudflare edge cannot reach it`;
    return undefined;
  }
  if (!host.includes(".") || LOCAL_NAME.test(host)) return `${origin} is a local name: the Cloudflare edge cannot resolve it`;
  return undefined;
}

export interface CheckInput {
  /** The parsed wrangler.toml. */
  toml: Record<string, unknown>;
  /** `--env NAME`, or undefined for the top level. */
  envName: string | undefined;
  /** The shell's environment: a var set here overrides wrangler.toml. */
  env: Record<string, string | undefined>;
  /** `--deploy`: also refuse bridges a deployed worker cannot reach. */
  deploy: boolean;
}

export interface CheckResult {
  ok: boolean;
  problems: ConfigProblem[];
  /** What an operator should know even when all is well. */
  notes: string[];
  config: Config | undefined;
}

/** The vars wrangler would give the worker for this environment (vars are not inherited by [env.NAME]). */
function varsOf(toml: Record<string, unknown>, envName: string | undefined): Record<string, unknown> | string {
  if (envName === undefined) return (toml.vars as Record<string, unknown> | undefined) ?? {};
  const envs = toml.env as Record<string, Record<string, unknown>> | undefined;
  const table = envs?.[envName];
  if (!table) return `wrangler.toml has no [env.${envName}]`;
  return (table.vars as Record<string, unknown> | undefined) ?? {};
}

export function checkWorkerVars(input: CheckInput): CheckResult {
  const problems: ConfigProblem[] = [];
  const notes: string[] = [];
  const vars = varsOf(input.toml, input.envName);
  if (typeof vars === "string") return { ok: false, problems: [{ field: "--env", value: JSON.stringify(input.envName), rule: vars }], notes, config: undefined };
  if (input.envName !== undefined && Object.keys(vars).length === 0) notes.push(`[env.${input.envName}] has no vars: wrangler does not inherit the top-level [vars], so the worker gets defaults only`);

  const env: Env = { ...vars };
  for (const name of WORKER_SECRETS) {
    if (vars[name] !== undefined) problems.push({ field: name, value: "(in wrangler.toml)", rule: `a secret does not belong in wrangler.toml, which is committed; remove it and run \`wrangler secret put ${name}\`` });
    delete env[name];
  }
  for (const name of WORKER_VARS) {
    const v = input.env[name];
    if (v !== undefined) env[name] = v;
  }
  if (env.BRIDGE_SECRET === undefined) notes.push("BRIDGE_SECRET is not in this environment, so its strength is not checked here; it must be set in Cloudflare with `wrangler secret put BRIDGE_SECRET` (the bridge's OXEDGE_BRIDGE_SECRET)");

  let config: Config | undefined;
  try {
    config = parseConfig(env, { secretMayBeUnset: true });
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    problems.push(...e.problems);
  }
  if (config && input.deploy) {
    for (const b of config.bridges) {
      const p = deployProblem(b.url);
      if (p) problems.push({ field: "BRIDGE_URLS", value: JSON.stringify(String(env.BRIDGE_URLS)), rule: `${p}; for local development only (docs/edge-deploy.md)` });
    }
  }
  if (config) notes.push(...config.warnings);
  return { ok: problems.length === 0, problems, notes, config };
}
