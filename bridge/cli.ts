import { parseArgs } from "node:util";
import { ConfigError, loadConfigFile } from "./config.ts";
import { createLogger } from "./log.ts";
import { startBridge } from "./server.ts";

const USAGE = "usage: oxedge-bridge --config FILE   (TOML or .json; see README \"Bridge configuration\")";

async function main(): Promise<number> {
  if (process.argv[2] === "admin") return (await import("./admin-cli.ts")).adminCli(process.argv.slice(3));
  let file: string | undefined;
  try {
    const { values } = parseArgs({ options: { config: { type: "string", short: "c" }, help: { type: "boolean", short: "h" } } });
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    file = values.config;
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (!file) {
    console.error(USAGE);
    return 2;
  }
  const log = createLogger();
  let config;
  try {
    config = loadConfigFile(file);
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(e.message);
      return 2;
    }
    throw e;
  }
  const bridge = await startBridge(config, log).catch((e: NodeJS.ErrnoException) => {
    console.error(`cannot listen on ${config.listenHost}:${config.listenPort}: ${e.code ?? e.message}`);
    return undefined;
  });
  if (!bridge) return 1;
  log("info", "bridge listening", { url: bridge.url, admin: bridge.adminUrl, members: config.members.map((m) => `${m.route}=${m.host}:${m.port}`).join(",") });
  // Not refused: a zone with a longer origin timeout (Enterprise) or a node that answers in time is fine.
  for (const w of config.warnings) log("warn", w, { kind: "edge-timeout" });
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      log("info", "stopping", { signal: sig });
      void bridge.close().then(resolve);
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
