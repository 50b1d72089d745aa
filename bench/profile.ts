/**
 * Top self-time functions of a V8 .cpuprofile (node --cpu-prof), so a missed
 * target comes with where the bridge spends its CPU, not only that it does.
 */
import fs from "node:fs";
import path from "node:path";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  top: { functionName: string; where: string; selfMs: number; selfPct: number }[];
}

/**
 * The main-thread profile of process `pid` in `dir`, summarised. Node writes
 * CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile per thread; thread 0 is
 * the main thread (tsx's module hooks run on another, idle after start-up).
 */
export function summarizeProfiles(dir: string, pid: number, topN = 25): ProfileSummary | undefined {
  let files: string[];
  try {
    files = fs.readdirSync(dir).filter((f) => new RegExp(`^CPU\\.\\d+\\.\\d+\\.${pid}\\.0\\.\\d+\\.cpuprofile$`).test(f));
  } catch {
    return undefined;
  }
  if (files.length === 0) return undefined;
  return summarizeProfile(path.join(dir, files.sort().at(-1)!), topN);
}

export function summarizeProfile(file: string, topN = 25): ProfileSummary {
  const p = JSON.parse(fs.readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, { functionName: string; where: string; us: number }>();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    // timeDeltas[i] is the time before sample i; attribute it to that sample's function.
    const dt = p.timeDeltas[i] ?? 0;
    const n = byId.get(p.samples[i]);
    if (!n) continue;
    const cf = n.callFrame;
    const name = cf.functionName || "(anonymous)";
    const where = cf.url ? `${cf.url.replace(/^file:\/\/.*?\/(node_modules|bridge|common|bin)\//, "$1/")}:${cf.lineNumber + 1}` : "";
    const key = `${name}\u0000${where}`;
    const e = self.get(key) ?? { functionName: name, where, us: 0 };
    e.us += dt;
    self.set(key, e);
    total += dt;
  }
  const top = [...self.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, topN)
    .map((e) => ({ functionName: e.functionName, where: e.where, selfMs: e.us / 1000, selfPct: total ? (100 * e.us) / total : 0 }));
  return { file, totalMs: total / 1000, top };
}
