/**
 * Which bridge a request goes to: BRIDGE_URLS with weights, spread by smooth
 * weighted round-robin, with the skip memory of bridges that gave no answer.
 * Pure (the clock is passed in), so the proportions are tested exactly
 * (docs/edge-deploy.md, Several bridges).
 *
 * Why round-robin and not weighted random: within an isolate the split is
 * exact over every cycle of (sum of weights) requests, so a 3:1 split is 3:1
 * after 4 requests, not after thousands. Isolates do not share memory, so
 * each starts at a random phase of the cycle; otherwise every fresh isolate
 * would send its first request to the same bridge. Sticky sessions need
 * nothing here: the route travels in the cookie and every bridge knows all
 * members.
 */

export interface BridgeEntry {
  /** Origin, no trailing slash. */
  url: string;
  /** Share of new requests; 0 = standby, used only while every weighted bridge is skipped. */
  weight: number;
}

export const MAX_BRIDGE_WEIGHT = 100;

const WEIGHT = /^\d{1,3}$/;

/**
 * One item of BRIDGE_URLS: `https://b1.example.com` (weight 1) or
 * `https://b1.example.com 3`. Returns the entry or what is wrong with it.
 */
export function parseBridgeEntry(item: string): BridgeEntry | string {
  const parts = item.trim().split(/\s+/);
  if (parts.length > 2) return "expected an origin and at most one weight";
  const [origin, weightText] = parts;
  let weight = 1;
  if (weightText !== undefined) {
    weight = WEIGHT.test(weightText) ? Number(weightText) : NaN;
    if (!(weight >= 0 && weight <= MAX_BRIDGE_WEIGHT)) return `weight ${JSON.stringify(weightText)} is not a whole number from 0 to ${MAX_BRIDGE_WEIGHT}`;
  }
  let u: URL;
  try {
    u = new URL(origin);
  } catch {
    return "not an http(s) origin";
  }
  const bare = (u.protocol === "https:" || u.protocol === "http:") && u.pathname === "/" && !u.search && !u.hash && !u.username && !u.password;
  if (!bare) return "not an http(s) origin";
  return { url: u.origin, weight };
}

/** What is wrong with the list as a whole, or undefined. */
export function bridgeListProblem(entries: readonly BridgeEntry[]): string | undefined {
  const seen = new Set<string>();
  for (const e of entries) {
    if (seen.has(e.url)) return `${e.url} is listed twice`;
    seen.add(e.url);
  }
  if (!entries.some((e) => e.weight > 0)) return "every bridge has weight 0: at least one must take traffic";
  return undefined;
}

/**
 * The per-isolate state: round-robin credit and skip deadlines, one slot per
 * configured bridge.
 */
export class BridgeRotation {
  readonly bridges: readonly BridgeEntry[];
  /** Smooth weighted round-robin credit (nginx's `current_weight`). */
  private readonly credit: number[];
  /** ms until which a bridge is skipped; 0 = usable. */
  private readonly skipUntil: number[];

  /** `phase`: picks to advance before the first request (random per isolate; 0 in tests). */
  constructor(bridges: readonly BridgeEntry[], phase = 0) {
    this.bridges = bridges;
    this.credit = bridges.map(() => 0);
    this.skipUntil = bridges.map(() => 0);
    for (let i = 0; i < phase; i++) this.pick(0);
  }

  /** A phase from 0 to one cycle, for a new isolate. */
  static randomPhase(bridges: readonly BridgeEntry[], random: () => number = Math.random): number {
    const total = bridges.reduce((s, b) => s + b.weight, 0);
    return Math.floor(random() * total);
  }

  isSkipped(i: number, now: number): boolean {
    return this.skipUntil[i] > now;
  }

  /** The next weighted bridge not skipped, or -1 when every weighted one is skipped. */
  private pick(now: number): number {
    let best = -1;
    let total = 0;
    for (let i = 0; i < this.bridges.length; i++) {
      const w = this.bridges[i].weight;
      if (w === 0 || this.isSkipped(i, now)) continue;
      this.credit[i] += w;
      total += w;
      if (best < 0 || this.credit[i] > this.credit[best]) best = i;
    }
    if (best >= 0) this.credit[best] -= total;
    return best;
  }

  /**
   * The bridges to try for one request, as indexes: the round-robin pick,
   * the other usable weighted bridges (heaviest first), the usable standbys,
   * then, as a last resort rather than failing outright, the skipped ones.
   * A request moves down the list only when a bridge gave no answer and the
   * request may be sent again (worker/handoff.ts).
   */
  order(now: number): number[] {
    const first = this.pick(now);
    const out: number[] = first >= 0 ? [first] : [];
    const rest: number[] = [];
    const standby: number[] = [];
    const skipped: number[] = [];
    for (let i = 0; i < this.bridges.length; i++) {
      if (i === first) continue;
      if (this.isSkipped(i, now)) skipped.push(i);
      else if (this.bridges[i].weight === 0) standby.push(i);
      else rest.push(i);
    }
    rest.sort((a, b) => this.bridges[b].weight - this.bridges[a].weight || a - b);
    return out.concat(rest, standby, skipped);
  }

  /** The bridge gave no answer: leave it out until `until` (ms). */
  skip(i: number, until: number): void {
    this.skipUntil[i] = until;
  }

  /** The bridge answered: usable again at once. */
  reached(i: number): void {
    this.skipUntil[i] = 0;
  }
}
