/**
 * What the launchers need to know about processes and the instance
 * directories they leave in `.tmp/`: whether a PID lives, what /proc says
 * of it, and which directories belong to a run that is gone (a test worker
 * killed with SIGKILL runs no exit hook).
 */
import fs from "node:fs";
import path from "node:path";

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** A PID written to a file, or undefined when there is none (yet). */
export function readPid(file: string): number | undefined {
  try {
    const n = Number(fs.readFileSync(file, "utf8").trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Parent PID and process group from /proc/PID/stat. */
export function readStat(pid: number): { ppid: number; pgrp: number } | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may contain spaces, so split after its closing ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { ppid: Number(fields[1]), pgrp: Number(fields[2]) };
  } catch {
    return undefined;
  }
}

/** Whether the process's command line contains `needle`: how a launcher knows a PID is still its own. */
export function cmdlineMentions(pid: number, needle: string): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(needle);
  } catch {
    return false;
  }
}

/** PIDs whose parent is `pid`. */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync("/proc")) {
    if (/^\d+$/.test(name) && readStat(Number(name))?.ppid === pid) out.push(Number(name));
  }
  return out;
}

const swept = new Set<string>();

/**
 * Directories `tmpDir/prefix*` whose `owner.pid` names a process that is
 * gone, once per prefix and process. One without an owner file is being
 * created by another worker; it counts as left over only when `huskAgeMs`
 * is given and it is older.
 */
export function orphanedDirs(tmpDir: string, prefix: string, o: { skip?: (name: string) => boolean; huskAgeMs?: number } = {}): string[] {
  if (swept.has(prefix)) return [];
  swept.add(prefix);
  let names: string[];
  try {
    names = fs.readdirSync(tmpDir);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const name of names) {
    if (!name.startsWith(prefix) || o.skip?.(name)) continue;
    const dir = path.join(tmpDir, name);
    const owner = readPid(path.join(dir, "owner.pid"));
    if (owner === undefined) {
      if (o.huskAgeMs === undefined || ageMs(dir) < o.huskAgeMs) continue;
    } else if (owner === process.pid || pidAlive(owner)) continue;
    out.push(dir);
  }
  return out;
}

function ageMs(p: string): number {
  try {
    return Date.now() - fs.statSync(p).mtimeMs;
  } catch {
    return 0;
  }
}
