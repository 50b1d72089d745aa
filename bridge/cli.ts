import { parseArgs } from "node:util";
import pkg from "../package.json" with { type: "json" };
import { checkSummary } from "./check-summary.ts";
import { ConfigError, loadConfigFile } from "./config.ts";
import { createLogger } from "./log.ts";
import { startBridge } from "./server.ts";

const HELP = `usage: oxedge-bridge --config FILE      run the bridge (TOML, or JSON with a .json name)
       oxedge-bridge --check FILE        validate FILE, print a summary, exit
       oxedge-bridge admin ACTION [ROUTE] [VALUE] --bridges URL,URL [--token-env NAME]
                                         one change on every bridge's admin listener, or
                                         their merged status (docs/manager.md; admin --help)
       oxedge-bridge --version | --help

options:
  -c, --config FILE   the config file (README "Bridge configuration"); also read again on SIGHUP
      --check [FILE]  validate FILE (or --config FILE) with the environment's secrets: prints
                      members, paths, listeners and warnings, or every bad field
  -v, --version       print the version
  -h, --help          this text

signals:
  TERM, INT   graceful stop: listeners close, requests in flight finish and WebSockets close
              (1001) within [lifecycle] grace, then the rest is cut; a second one stops at once
  HUP         reload FILE: members compared by route, settings for new requests; an invalid
              file is logged and the running config stays (listen addresses need a restart)

exit status:
  0   stopped after a signal, or --check found the file valid
  1   cannot listen, or an internal error
  2   bad arguments or a bad config file (every bad field is printed)

docs/lifecycle.md has stop, reload and --check in full.`;

type Args = { config?: string; check?: boolean; version?: boolean; help?: boolean; file?: string };

function args(): Args | string {
  try {
    const { values, positionals } = parseArgs({
      options: { config: { type: "string", short: "c" }, check: { type: "boolean" }, version: { type: "boolean", short: "v" }, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
    });
    // `--check FILE`: the file comes as a positional, since --check takes no value of its own.
    if (positionals.length > (values.check ? 1 : 0)) return `unexpected argument ${positionals[values.check ? 1 : 0]}`;
    return { ...values, file: values.config ?? positionals[0] };
  } catch (e) {
    return (e as Error).message;
  }
}

function load(file: string) {
  try {
    return loadConfigFile(file);
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(e.message);
      return undefined;
    }
    throw e;
  }
}

async function main(): Promise<number> {
  if (process.argv[2] === "admin") return (await import("./admin-cli.ts")).adminCli(process.argv.slice(3));
  const a = args();
  if (typeof a === "string") {
    console.error(`${a}\n\n${HELP}`);
    return 2;
  }
  if (a.help) {
    console.log(HELP);
    return 0;
  }
  if (a.version) {
    console.log(`oxedge-bridge ${pkg.version}`);
    return 0;
  }
  if (!a.file) {
    console.error(HELP);
    return 2;
  }
  const file = a.file;
  const config = load(file);
  if (!config) return 2;
  if (a.check) {
    console.log(checkSummary(file, config));
    return 0;
  }
  const log = createLogger(config.logLevel);
  // SIGHUP's default is to end the process: until the bridge can reload, one is only logged.
  let reload = () => log("warn", "reload asked before the bridge listens: ignored", { signal: "SIGHUP" });
  process.on("SIGHUP", () => reload());
  const bridge = await startBridge(config, log, { configFile: file }).catch((e: NodeJS.ErrnoException) => {
    console.error(`cannot listen on ${config.listenHost}:${config.listenPort}: ${e.code ?? e.message}`);
    return undefined;
  });
  if (!bridge) return 1;
  log("info", "bridge listening", { url: bridge.url, admin: bridge.adminUrl, members: config.members.map((m) => `${m.route}=${m.host}:${m.port}`).join(","), pid: process.pid });
  // Not refused: a zone with a longer origin timeout (Enterprise) or a node that answers in time is fine.
  for (const w of config.warnings) log("warn", w, { kind: "edge-timeout" });
  reload = () => {
    log("info", "reload asked", { signal: "SIGHUP", file });
    void bridge.reload();
  };
  await new Promise<void>((resolve) => {
    // The first signal drains; a second one (an impatient operator, systemd's final kill aside) cuts at once.
    const stop = (signal: string) => void bridge.stop({ signal, graceMs: stopping ? 0 : undefined }).then(() => resolve());
    let stopping = false;
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      process.on(signal, () => {
        stop(signal);
        stopping = true;
      });
    }
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
