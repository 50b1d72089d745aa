#!/usr/bin/env node
// The bridge: the bundle of bridge/cli.ts, built once or for this run (bin/bundle.js).
import { run } from "./bundle.js";

await run("oxedge-bridge");
