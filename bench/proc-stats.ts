/**
 * What a process costs, read from /proc so that the proxy's own CPU and
 * memory are measured apart from the load generator and the nodes that share
 * the same two cores.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";

let clkTck: number | undefined;

/** Kernel clock ticks per second (utime/stime unit); 100 on practically every Linux. */
function ticksPerSecond(): number {
  if (clkTck === undefined) {
    try {
      clkTck = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

interface Stat {
  ppid: number;
  utime: number;
  stime: number;
  cutime: number;
  cstime: number;
}

function readStat(pid: number): Stat | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // Field 2 (comm) may contain spaces and parentheses: split after the last ')'.
  const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // f[0] is field 3 (state); field n is f[n - 3].
  return { ppid: Number(f[1]), utime: Number(f[11]), stime: Number(f[12]), cutime: Number(f[13]), cstime: Number(f[14]) };
}

/** PIDs of all descendants of `pid` (httpd does its proxying in worker children). */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const s = readStat(Number(name));
    if (!s) continue;
    const list = children.get(s.ppid) ?? [];
    list.push(Number(name));
    children.set(s.ppid, list);
  }
  const out: number[] = [];
  const stack = [...(children.get(pid) ?? [])];
  while (stack.length) {
    const p = stack.pop()!;
    out.push(p);
    stack.push(...(children.get(p) ?? []));
  }
  return out;
}

/**
 * CPU seconds (user + system) used so far by `pid`, its live descendants,
 * and the descendants it has already reaped (cutime/cstime), so a worker
 * process that exits during a measurement is not lost. Take the difference of
 * two readings.
 */
export function cpuSeconds(pid: number, withChildren = true): number {
  const root = readStat(pid);
  if (!root) return NaN;
  let ticks = root.utime + root.stime;
  if (withChildren) {
    ticks += root.cutime + root.cstime;
    for (const c of descendants(pid)) {
      const s = readStat(c);
      // Grandchildren reaped by a child show up in that child's cutime.
      if (s) ticks += s.utime + s.stime + s.cutime + s.cstime;
    }
  }
  return ticks / ticksPerSecond();
}

/** Sum over several processes (e.g. both Tomcat JVMs). */
export function cpuSecondsOf(pids: readonly number[], withChildren = true): number {
  return pids.reduce((sum, p) => sum + cpuSeconds(p, withChildren), 0);
}

function statusField(pid: number, field: string): number | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return undefined;
  }
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text);
  return m ? Number(m[1]) * 1024 : undefined;
}

/** Resident set size now, bytes. */
export function rssBytes(pid: number): number | undefined {
  return statusField(pid, "VmRSS");
}

/** Peak resident set size over the process's life (VmHWM), bytes. */
export function peakRssBytes(pid: number): number | undefined {
  return statusField(pid, "VmHWM");
}

/**
 * Samples VmRSS every `intervalMs` until stopped. VmHWM alone would also
 * hold a peak from before the measurement; the sampled peak belongs to the
 * window, and VmHWM catches a spike between samples.
 */
export function sampleRss(pid: number, intervalMs = 20): { stop(): { peak: number; samples: number; first: number | undefined } } {
  let peak = 0;
  let samples = 0;
  let first: number | undefined;
  const take = () => {
    const v = rssBytes(pid);
    if (v === undefined) return;
    first ??= v;
    samples++;
    if (v > peak) peak = v;
  };
  take();
  const timer = setInterval(take, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      return { peak, samples, first };
    },
  };
}
