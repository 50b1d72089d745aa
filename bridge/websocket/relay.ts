import type { Socket } from "node:net";
import { CLIENT_PING, closeFrame, FrameBoundaries, GOING_AWAY, SERVER_PING } from "./frames.ts";

export interface RelayOptions {
  /** A side that sends nothing (not even a pong) for this long is taken as dead. */
  idleMs: number;
  /** Pings go both ways this often, so a live peer always has something to answer. */
  pingMs: number;
}

/** One direction: bytes from `from` to `to`, with a ping put in between two frames when due. */
class Direction {
  readonly frames = new FrameBoundaries();
  lastRead: number;
  /** Last sign that `to` takes what is relayed to it: a write it took at once, or a drain. */
  lastWritten: number;
  pingDue = false;
  /** When a ping that had to wait for a frame's end went out (0: none did). */
  latePingAt = 0;
  bytes = 0;
  /** A close frame of the bridge's own, to go out at the next frame boundary (see WebSocketRelay.goAway). */
  private closeDue: Buffer | undefined;
  /** Our close frame is out: nothing more goes this way (RFC 6455 §5.5.1: no frames after a close). */
  shut = false;
  /** Called once the close frame is out. */
  onShut: (() => void) | undefined;

  constructor(
    private readonly from: Socket,
    private readonly to: Socket,
    private readonly ping: Buffer,
    now: number,
  ) {
    this.lastRead = now;
    this.lastWritten = now;
  }

  data(chunk: Buffer): void {
    this.lastRead = Date.now();
    if (this.shut) return;
    if (this.closeDue) return this.closeAtBoundary(chunk);
    this.bytes += chunk.length;
    let ok: boolean;
    if (this.pingDue) {
      const at = this.frames.scan(chunk)[0];
      if (at === undefined) ok = this.to.write(chunk);
      else {
        // Split at the first frame boundary: frame, ping, the rest.
        this.to.write(chunk.subarray(0, at));
        this.to.write(this.ping);
        this.pingDue = false;
        this.latePingAt = this.lastRead;
        ok = this.to.write(chunk.subarray(at));
      }
    } else {
      this.frames.scan(chunk);
      ok = this.to.write(chunk);
    }
    if (ok) this.lastWritten = this.lastRead;
    // Back-pressure: a side that cannot take more holds the other back, nothing piles up here.
    else if (!this.held) {
      this.held = true;
      this.from.pause();
      this.to.once("drain", () => {
        this.held = false;
        this.lastWritten = Date.now();
        this.from.resume();
      });
    }
  }

  private held = false;

  /** End this direction with `frame` between two frames: at once if at a boundary, else when the current frame ends. */
  close(frame: Buffer): void {
    if (this.shut || this.closeDue) return;
    this.closeDue = frame;
    if (this.frames.atBoundary) this.shutWith(frame);
  }

  private closeAtBoundary(chunk: Buffer): void {
    const at = this.frames.scan(chunk)[0];
    if (at === undefined) {
      this.bytes += chunk.length;
      this.to.write(chunk);
      return;
    }
    this.bytes += at;
    this.to.write(chunk.subarray(0, at));
    this.shutWith(this.closeDue!);
  }

  private shutWith(frame: Buffer): void {
    this.to.write(frame);
    this.shut = true;
    this.onShut?.();
  }

  /** Send a ping now if between frames, or at the next boundary. */
  sendPing(): void {
    if (this.frames.broken || this.shut || this.closeDue) return;
    if (this.frames.atBoundary) this.to.write(this.ping);
    else this.pingDue = true;
  }
}

export interface RelayEnd {
  why: string;
  toNode: number;
  toClient: number;
  ms: number;
}

/**
 * Relays an upgraded WebSocket connection byte for byte between the client
 * (the edge) and the node, with back-pressure both ways. A close or an
 * error on either side closes the other; a side silent for `idleMs` despite
 * pings is closed, so dead sockets do not pile up.
 */
export class WebSocketRelay {
  private readonly up: Direction;
  private readonly down: Direction;
  private readonly timer: NodeJS.Timeout;
  private readonly started = Date.now();
  private ended = false;

  constructor(
    private readonly client: Socket,
    private readonly node: Socket,
    private readonly o: RelayOptions,
    private readonly onEnd: (e: RelayEnd) => void,
  ) {
    const now = Date.now();
    this.up = new Direction(client, node, CLIENT_PING, now);
    this.down = new Direction(node, client, SERVER_PING, now);
    client.setNoDelay(true);
    node.setNoDelay(true);
    client.on("data", (c: Buffer) => this.up.data(c));
    node.on("data", (c: Buffer) => this.down.data(c));
    // A half-close is passed on: the WebSocket closing handshake finishes with TCP's.
    client.on("end", () => node.end());
    node.on("end", () => client.end());
    client.on("error", (e: NodeJS.ErrnoException) => this.end(`client error ${e.code ?? e.message}`, false));
    node.on("error", (e: NodeJS.ErrnoException) => this.end(`node error ${e.code ?? e.message}`, false));
    // The other side still gets what was already relayed (a close frame, say), then its FIN.
    client.on("close", () => this.end("client closed", true));
    node.on("close", () => this.end("node closed", true));
    this.timer = setInterval(() => this.tick(), Math.min(o.pingMs, o.idleMs / 2));
    this.timer.unref();
  }

  private lastPing = Date.now();

  private tick(): void {
    const now = Date.now();
    if (this.silent(this.up, this.down, now)) return this.end(`client silent for ${this.o.idleMs} ms`, false);
    if (this.silent(this.down, this.up, now)) return this.end(`node silent for ${this.o.idleMs} ms`, false);
    if (now - this.lastPing >= this.o.pingMs) {
      this.lastPing = now;
      this.up.sendPing();
      this.down.sendPing();
    }
  }

  /**
   * Whether the side that `from` reads and `to` writes has been silent too long. A side that is
   * receiving one long frame cannot be pinged until it ends (and may say nothing meanwhile, as a
   * node reading a 10 MiB message does): while that frame still moves toward it, it is not
   * judged, and once the late ping is out it gets the whole idle limit to answer.
   */
  private silent(from: Direction, to: Direction, now: number): boolean {
    if (to.pingDue && now - to.lastWritten < this.o.idleMs) return false;
    return now - Math.max(from.lastRead, to.latePingAt) >= this.o.idleMs;
  }

  /**
   * Close 1001 to both sides (the bridge stops, or its member was removed),
   * each between two frames; once both are out the TCP connections end
   * after them. A stream we cannot follow gets no frame: it is cut.
   */
  goAway(): void {
    if (this.ended || this.closing) return;
    this.closing = true;
    if (this.up.frames.broken || this.down.frames.broken) return this.end("going away", false);
    const both = () => {
      if (this.up.shut && this.down.shut) this.end("going away", true);
    };
    this.up.onShut = both;
    this.down.onShut = both;
    this.down.close(closeFrame(GOING_AWAY.code, GOING_AWAY.reason, false));
    this.up.close(closeFrame(GOING_AWAY.code, GOING_AWAY.reason, true));
  }

  private closing = false;

  /** Close both sides (once) and report why; `flush` lets what is already written go out first. */
  end(why: string, flush = false): void {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.timer);
    for (const s of [this.client, this.node]) {
      if (flush && !s.destroyed) {
        s.end();
        // Bounded: a peer that takes nothing more does not keep the socket.
        setTimeout(() => s.destroy(), 5000).unref();
      } else s.destroy();
    }
    this.onEnd({ why, toNode: this.up.bytes, toClient: this.down.bytes, ms: Date.now() - this.started });
  }
}
