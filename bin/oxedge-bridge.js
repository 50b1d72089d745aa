#!/usr/bin/env node
// The bridge is TypeScript; tsx compiles it on load (Node 20 has no type stripping).
import { register } from "tsx/esm/api";

register();
await import("../bridge/cli.ts");
