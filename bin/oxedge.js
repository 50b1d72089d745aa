#!/usr/bin/env node
// `oxedge COMMAND …`: picks the bundle of a command and runs it (bin/bundle.js).
// The entry gets the whole command line and sets the exit status.
import { run } from "./bundle.js";

const COMMANDS = { import: "oxedge-import" };

const [command] = process.argv.slice(2);
// One command so far: its help is the tool's help, and it names what is wrong with a bad command line.
await run(COMMANDS[command] ?? COMMANDS.import);
