/**
 * NodePool against a tiny fake node on loopback: it answers CPing and counts
 * its open sockets, so every scenario can check that the pool's books match
 * what the node sees. The idle ttl runs on an injected clock; the only real
 * timers are the pool's own short CPing and acquire timeouts.
 */
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { OxError } from "../../common/errors.ts";
import { CPONG_PACKET, MAGIC_TO_CONTAINER, ProxyMsg } from "./codes.ts";
import type { AjpConnection } from "./connection.ts";
import { NodePool, type PoolOptions } from "./pool.ts";
import { PacketReader } from "./reader.ts";
import { until } from "../../test/support/wait.ts";
import { freePort as closedPort } from "../../peers/ports.ts";

interface FakeNode {
  port: number;
  /** Sockets the node holds open right now. */
  open(): number;
  /** Sockets ever accepted. */
  accepted(): number;
  /** Whether the node still holds the socket whose client side is bound to this local port. */
  holds(clientPort: number): boolean;
  /** Close the node's side of one connection. */
  drop(clientPort: number): void;
  /** Decides per accepted socket (0-based, in accept order) whether it answers CPing; all do by default. */
  answers: (index: number) => boolean;
  close(): Promise<void>;
}

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function fakeNode(): Promise<FakeNode> {
  const held = new Map<number, net.Socket>();
  let accepted = 0;
  const server = net.createServer((sock) => {
    const index = accepted++;
    const clientPort = sock.remotePort!;
    held.set(clientPort, sock);
    sock.on("close", () => held.delete(clientPort));
    sock.on("error", () => {});
    const reader = new PacketReader(MAGIC_TO_CONTAINER, 8188);
    sock.on("data", (chunk) => {
      reader.push(chunk);
      for (let f = reader.next(); f.kind === "packet"; f = reader.next()) {
        if (f.payload.length === 1 && f.payload[0] === ProxyMsg.CPing && node.answers(index)) sock.write(CPONG_PACKET);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const node: FakeNode = {
    port: (server.address() as net.AddressInfo).port,
    open: () => held.size,
    accepted: () => accepted,
    holds: (p) => held.has(p),
    drop: (p) => held.get(p)?.destroy(),
    answers: () => true,
    close: () =>
      new Promise<void>((r) => {
        for (const s of held.values()) s.destroy();
        server.close(() => r());
      }),
  };
  cleanups.push(() => node.close());
  return node;
}

/** A clock the test moves by hand. */
function manualClock(start = 1_000_000): { now: () => number; advance(ms: number): void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

function pool(port: number, o: Partial<PoolOptions> = {}): NodePool {
  const p = new NodePool({
    host: "127.0.0.1",
    port,
    packetSize: 8192,
    max: 4,
    smax: 0,
    ttlMs: 60_000,
    connectTimeoutMs: 2000,
    pingMs: 0,
    acquireMs: 2000,
    queue: 10,
    ...o,
  });
  cleanups.push(() => p.close());
  return p;
}

/** busy + idle === open, and once sockets have closed, the node holds exactly the pool's open connections. */
async function expectSettled(p: NodePool, node: FakeNode, want: { open: number; idle: number; waiting?: number }): Promise<void> {
  expect(await until(() => node.open() === p.stats().open && p.stats().open === want.open)).toBe(true);
  const s = p.stats();
  expect(s.busy + s.idle).toBe(s.open);
  expect(s).toMatchObject({ open: want.open, idle: want.idle, busy: want.open - want.idle, waiting: want.waiting ?? 0 });
  expect(node.open()).toBe(s.open);
}

const ids = new WeakMap<AjpConnection, number>();
let nextId = 0;
function idOf(c: AjpConnection): number {
  if (!ids.has(c)) ids.set(c, nextId++);
  return ids.get(c)!;
}

/** Identity without toBe(): a failing toBe() would pretty-print two connections and their 64 KiB read buffers. */
function expectSame(got: AjpConnection, want: AjpConnection): void {
  expect(got === want, `got connection #${idOf(got)} (port ${got.socket.localPort}), want #${idOf(want)} (port ${want.socket.localPort})`).toBe(true);
}

/** The client-side port of a connection, read while it is open (a destroyed socket forgets it). */
function portOf(c: AjpConnection): number {
  return c.socket.localPort!;
}

/** The OxError a promise rejects with; fails (instead of hanging) if it is still pending after ms. */
async function rejection(p: Promise<unknown>, ms = 3000): Promise<OxError> {
  let timer: NodeJS.Timeout | undefined;
  const pending = new Promise<string>((r) => (timer = setTimeout(() => r("still pending"), ms)));
  const e = await Promise.race([
    p.then(
      () => "resolved",
      (err: unknown) => err,
    ),
    pending,
  ]);
  clearTimeout(timer);
  expect(e).toBeInstanceOf(OxError);
  return e as OxError;
}

/** Whether a promise has settled by the time pending I/O callbacks have run once. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((r) => setImmediate(r));
  return done;
}

describe("reuse", () => {
  it("hands out the most recently released connection first (LIFO)", async () => {
    const node = await fakeNode();
    const p = pool(node.port);
    const a = await p.acquire();
    const b = await p.acquire();
    const c = await p.acquire();
    expect(new Set([a, b, c]).size).toBe(3);
    p.release(a);
    p.release(c);
    p.release(b);
    await expectSettled(p, node, { open: 3, idle: 3 });
    expectSame(await p.acquire(), b);
    expectSame(await p.acquire(), c);
    expectSame(await p.acquire(), a);
    expect(p.stats().created).toBe(3);
    expect(node.accepted()).toBe(3);
    await expectSettled(p, node, { open: 3, idle: 0 });
  });

  it("forgets an idle connection the node closed", async () => {
    const node = await fakeNode();
    const p = pool(node.port);
    const a = await p.acquire();
    const b = await p.acquire();
    p.release(a);
    p.release(b);
    node.drop(portOf(b));
    await expectSettled(p, node, { open: 1, idle: 1 });
    expectSame(await p.acquire(), a);
  });
});

describe("idle ttl (injected clock)", () => {
  it("acquire() reuses an idle connection just under ttl, and closes one at ttl instead of reusing it", async () => {
    const node = await fakeNode();
    const clock = manualClock();
    const p = pool(node.port, { ttlMs: 10_000, now: clock.now });
    const a = await p.acquire();
    p.release(a);
    clock.advance(9_999);
    expectSame(await p.acquire(), a);
    // Each release restarts the idle time.
    p.release(a);
    clock.advance(9_999);
    expectSame(await p.acquire(), a);
    p.release(a);
    const portA = portOf(a);
    clock.advance(10_000);
    const b = await p.acquire();
    expect(b === a).toBe(false);
    expect(a.isOpen).toBe(false);
    expect(await until(() => !node.holds(portA))).toBe(true);
    expect(node.holds(portOf(b))).toBe(true);
    expect(p.stats().created).toBe(2);
    await expectSettled(p, node, { open: 1, idle: 0 });
    p.release(b);
    await expectSettled(p, node, { open: 1, idle: 1 });
  });

  it("sweep() closes idle connections beyond smax once they sat for ttl, oldest first, and keeps smax of them", async () => {
    const node = await fakeNode();
    const clock = manualClock();
    const p = pool(node.port, { ttlMs: 10_000, smax: 2, max: 8, now: clock.now });
    const cs = await Promise.all(Array.from({ length: 5 }, () => p.acquire()));
    const ports = cs.map(portOf);
    // Released one second apart: cs[0] has been idle longest.
    for (const c of cs) {
      p.release(c);
      clock.advance(1_000);
    }
    await expectSettled(p, node, { open: 5, idle: 5 });
    // cs[0] was released 5 s ago: nothing has sat for ttl yet.
    p.sweep();
    await expectSettled(p, node, { open: 5, idle: 5 });
    // Now cs[0] and cs[1] have sat for ttl (11 s and 10 s), cs[2] for 9 s.
    clock.advance(6_000);
    p.sweep();
    await expectSettled(p, node, { open: 3, idle: 3 });
    expect(ports.map((port) => node.holds(port))).toEqual([false, false, true, true, true]);
    // cs[4] has been idle 7 s: reused, and released again it is the newest.
    expectSame(await p.acquire(), cs[4]);
    p.release(cs[4]);
    // Long after: all sat for ttl, but the smax most recently used stay open.
    clock.advance(60_000);
    p.sweep();
    await expectSettled(p, node, { open: 2, idle: 2 });
    expect(ports.map((port) => node.holds(port))).toEqual([false, false, false, true, true]);
  });

  it("sweep() never touches busy connections", async () => {
    const node = await fakeNode();
    const clock = manualClock();
    const p = pool(node.port, { ttlMs: 1_000, smax: 0, now: clock.now });
    const a = await p.acquire();
    const b = await p.acquire();
    p.release(b);
    clock.advance(5_000);
    p.sweep();
    await expectSettled(p, node, { open: 1, idle: 0 });
    expect(a.isOpen).toBe(true);
    // a was busy all along: its idle time starts at its release.
    p.release(a);
    p.sweep();
    await expectSettled(p, node, { open: 1, idle: 1 });
  });
});

describe("max and the wait queue", () => {
  it("makes the (max+1)th acquire wait and hands it the next released connection", async () => {
    const node = await fakeNode();
    const p = pool(node.port, { max: 2 });
    const a = await p.acquire();
    const b = await p.acquire();
    const third = p.acquire();
    expect(await settled(third)).toBe(false);
    expect(p.stats()).toMatchObject({ open: 2, busy: 2, idle: 0, waiting: 1 });
    p.release(a);
    expectSame(await third, a);
    expect(p.stats().created).toBe(2);
    p.release(a);
    p.release(b);
    await expectSettled(p, node, { open: 2, idle: 2 });
  });

  it("rejects a waiter with pool-exhausted when acquireMs passes, and forgets it", async () => {
    const node = await fakeNode();
    const p = pool(node.port, { max: 1, acquireMs: 30 });
    const a = await p.acquire();
    const t0 = Date.now();
    const e = await rejection(p.acquire());
    expect(e.kind).toBe("pool-exhausted");
    expect(e.retryAfter).toBe(1);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(25);
    expect(p.stats().waiting).toBe(0);
    // The timed-out waiter does not swallow the next release.
    p.release(a);
    await expectSettled(p, node, { open: 1, idle: 1 });
    expectSame(await p.acquire(), a);
  });

  it("rejects with pool-exhausted at once when the queue is full, without disturbing those waiting", async () => {
    const node = await fakeNode();
    const p = pool(node.port, { max: 1, queue: 1 });
    const a = await p.acquire();
    const waiting = p.acquire();
    const over = p.acquire();
    // Rejected before any I/O ran: no wait at all.
    expect(await settled(over)).toBe(true);
    expect((await rejection(over)).kind).toBe("pool-exhausted");
    expect(p.stats()).toMatchObject({ open: 1, busy: 1, waiting: 1 });
    p.release(a);
    expectSame(await waiting, a);
    await expectSettled(p, node, { open: 1, idle: 0 });
  });

  it("queue 0: pool-exhausted as soon as max are busy", async () => {
    const node = await fakeNode();
    const p = pool(node.port, { max: 1, queue: 0 });
    await p.acquire();
    expect((await rejection(p.acquire())).kind).toBe("pool-exhausted");
    await expectSettled(p, node, { open: 1, idle: 0 });
  });

  it("a connection released after the node closed it frees its slot for a waiter", async () => {
    const node = await fakeNode();
    const p = pool(node.port, { max: 1 });
    const a = await p.acquire();
    const waiting = p.acquire();
    // As after END_RESPONSE reuse=0: the exchange destroyed the connection before giving it back.
    a.destroy();
    p.release(a);
    const b = await waiting;
    expect(b === a).toBe(false);
    expect(b.isOpen).toBe(true);
    p.release(b);
    await expectSettled(p, node, { open: 1, idle: 1 });
    expect(p.stats().created).toBe(2);
  });
});

describe("CPing before reuse", () => {
  it("drops an idle connection whose node stopped answering CPing and opens a fresh one", async () => {
    const node = await fakeNode();
    const p = pool(node.port, { pingMs: 50 });
    const a = await p.acquire();
    const portA = portOf(a);
    p.release(a);
    // Socket 0 (a) goes silent; new sockets still answer.
    node.answers = (i) => i > 0;
    const b = await p.acquire();
    expect(b === a).toBe(false);
    expect(a.isOpen).toBe(false);
    expect(await until(() => !node.holds(portA))).toBe(true);
    expect(node.accepted()).toBe(2);
    p.release(b);
    await expectSettled(p, node, { open: 1, idle: 1 });
    // b answers: reused as is.
    expectSame(await p.acquire(), b);
    expect(node.accepted()).toBe(2);
  });

  it("rejects with connect-failed when the fresh connection does not answer CPing either", async () => {
    const node = await fakeNode();
    const p = pool(node.port, { pingMs: 50 });
    const a = await p.acquire();
    p.release(a);
    node.answers = () => false;
    const e = await rejection(p.acquire());
    expect(e.kind).toBe("connect-failed");
    expect(e.message).toMatch(/did not answer CPing/);
    expect(node.accepted()).toBe(2);
    await expectSettled(p, node, { open: 0, idle: 0 });
  });
});

describe("waiters when a connect fails", () => {
  it("rejects every waiter with connect-failed when the node refuses connections, and loses no slot", async () => {
    const p = pool(await closedPort(), { max: 1, queue: 5 });
    const all = [p.acquire(), p.acquire(), p.acquire()];
    expect(p.stats()).toMatchObject({ open: 1, waiting: 2 });
    const errors = await Promise.all(all.map((a) => rejection(a)));
    expect(errors.map((e) => e.kind)).toEqual(["connect-failed", "connect-failed", "connect-failed"]);
    expect(p.stats()).toMatchObject({ open: 0, idle: 0, busy: 0, waiting: 0, created: 0 });
  });

  it("serves the waiter with a fresh connection when the first one fails its CPing", async () => {
    const node = await fakeNode();
    const p = pool(node.port, { max: 1, queue: 5, pingMs: 50 });
    // The first socket accepts but never answers: that connect fails while the second request waits.
    node.answers = (i) => i > 0;
    const first = p.acquire();
    const second = p.acquire();
    expect(p.stats()).toMatchObject({ open: 1, waiting: 1 });
    expect((await rejection(first)).kind).toBe("connect-failed");
    const c = await second;
    expect(c.isOpen).toBe(true);
    await expectSettled(p, node, { open: 1, idle: 0 });
    p.release(c);
    await expectSettled(p, node, { open: 1, idle: 1 });
    expect(node.accepted()).toBe(2);
    expect(p.stats().created).toBe(2);
  });
});

describe("a connection the pool drops itself frees its slot at once", () => {
  // With every slot in use, the replacement for a dropped idle connection must not have to wait
  // for the old socket's close event (or be refused as if the pool were full).
  it("ttl: at max with no queue, an expired idle connection is replaced, not answered pool-exhausted", async () => {
    const node = await fakeNode();
    const clock = manualClock();
    const p = pool(node.port, { max: 1, queue: 0, ttlMs: 10_000, now: clock.now });
    const a = await p.acquire();
    p.release(a);
    clock.advance(10_000);
    const b = await p.acquire();
    expect(b === a).toBe(false);
    expect(b.isOpen).toBe(true);
    await expectSettled(p, node, { open: 1, idle: 0 });
  });

  it("CPing: at max with no queue, an idle connection that does not answer is replaced", async () => {
    const node = await fakeNode();
    const p = pool(node.port, { max: 1, queue: 0, pingMs: 50 });
    const a = await p.acquire();
    p.release(a);
    node.answers = (i) => i > 0;
    const b = await p.acquire();
    expect(b === a).toBe(false);
    expect(b.isOpen).toBe(true);
    await expectSettled(p, node, { open: 1, idle: 0 });
  });

  it("stats() no longer count a dropped connection: the sweep's and close()'s drops show at once", async () => {
    const node = await fakeNode();
    const clock = manualClock();
    const p = pool(node.port, { ttlMs: 10_000, now: clock.now });
    const cs = await Promise.all([p.acquire(), p.acquire()]);
    for (const c of cs) p.release(c);
    clock.advance(10_000);
    p.sweep();
    expect(p.stats()).toMatchObject({ open: 0, idle: 0, busy: 0 });
    await expectSettled(p, node, { open: 0, idle: 0 });
    const c = await p.acquire();
    p.release(c);
    p.close();
    expect(p.stats()).toMatchObject({ open: 0, idle: 0, busy: 0 });
    await expectSettled(p, node, { open: 0, idle: 0 });
  });
});

describe("close()", () => {
  it("rejects waiters, and destroys busy connections when they come back", async () => {
    const node = await fakeNode();
    const p = pool(node.port, { max: 2 });
    const a = await p.acquire();
    const b = await p.acquire();
    const waiters = [p.acquire(), p.acquire()];
    expect(p.stats().waiting).toBe(2);
    p.close();
    for (const w of waiters) expect((await rejection(w)).kind).toBe("connect-failed");
    expect(p.stats()).toMatchObject({ open: 2, busy: 2, waiting: 0 });
    p.release(a);
    p.release(b);
    expect(await until(() => node.open() === 0)).toBe(true);
    expect(p.stats()).toMatchObject({ open: 0, idle: 0, busy: 0, waiting: 0 });
    expect((await rejection(p.acquire())).kind).toBe("connect-failed");
    expect(node.accepted()).toBe(2);
  });

  it("closes idle connections at once", async () => {
    const node = await fakeNode();
    const p = pool(node.port);
    const cs = await Promise.all([p.acquire(), p.acquire(), p.acquire()]);
    for (const c of cs) p.release(c);
    await expectSettled(p, node, { open: 3, idle: 3 });
    p.close();
    expect(await until(() => node.open() === 0)).toBe(true);
    expect(p.stats()).toMatchObject({ open: 0, idle: 0, busy: 0 });
  });
});
