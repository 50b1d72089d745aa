// Types of bin/bundle.js for the TypeScript that imports it (scripts, tests).
export const ROOT: string;
export const DIST: string;
export const BUNDLES: Record<string, string>;
export function build(name: string, dir?: string, listInputs?: boolean): Promise<string>;
export function distState(name: string, dir?: string): "current" | "missing" | string;
export function choose(name: string, state: string, production: boolean): { run: "dist" | "fresh" | "none"; say?: string };
export function run(name: string): Promise<unknown>;
