import { connect as netConnect, type Socket } from "node:net";
import { OxError } from "../../common/errors.ts";
import { BODY_PACKET_OVERHEAD, maxBodyChunk, writeBodyPacketHeader } from "./body.ts";
import { CPING_PACKET, EMPTY_BODY_PACKET, HEADER_LEN, MAGIC_TO_PROXY } from "./codes.ts";
import { ForwardRequestEncoder, type ForwardRequest } from "./forward-request.ts";
import { PacketReader } from "./reader.ts";
import { decodeContainerMessage, type ContainerMessage } from "./response.ts";

/**
 * Where a request body comes from (the bridge's BodyReader): pulled in
 * pieces when the node asks, copied into the connection's packet buffer.
 */
export interface BodySource {
  /** Copies up to n bytes (at least 1) to dest at offset: how many; null at the end; undefined = nothing yet (see whenReadable). Throws when the client failed. */
  copyInto(dest: Buffer, offset: number, n: number): number | null | undefined;
  /** Resolves once copyInto has an answer. */
  whenReadable(): Promise<void>;
  /** Stop reading: the node will not ask for the rest. */
  detach(): void;
}

/** Where the node's response goes (the bridge's HTTP response, or a test double). */
export interface ResponseSink {
  /** Once, with the node's status and headers (flat name, value… list). */
  head(status: number, headers: string[]): void;
  /** Body bytes; false = the client is slow, wait for onDrain before sending more. */
  write(chunk: Buffer): boolean;
  onDrain(cb: () => void): void;
  /** The node flushed (empty SEND_BODY_CHUNK): push what we have to the client now. */
  flush(): void;
  /** Optional batching around the packets of one socket read. */
  cork?(): void;
  uncork?(): void;
  /**
   * After uncork: whether bytes handed to write() are still queued (not yet
   * with the kernel). Absent = assume they are, so the read buffer is never
   * reused under them.
   */
  holdsWrites?(): boolean;
}

export type ExchangeOutcome =
  | { ok: true; reuse: boolean; status: number }
  | {
      ok: false;
      error: OxError;
      /** Whether any byte of the request was handed to the socket (then it must never be replayed). */
      requestSent: boolean;
      /** Whether sink.head() was called (then the client response can only be aborted). */
      responseStarted: boolean;
    };

/**
 * Size of one socket read: Node's own default (64 KiB), or room for two
 * packets when packets are larger. A packet that does not fit one read is
 * copied together (reader.ts); with 64 KiB packets and 64 KiB reads that was
 * every packet, twice.
 */
function readSize(packetSize: number): number {
  return Math.max(64 * 1024, 2 * packetSize);
}

/** The read buffer in use and where reads go; set up before the connection object exists. */
interface ReadSlot {
  buffer: Buffer;
  /** The rest of a large unfinished packet, to be read into place instead (reader.fillTarget). */
  target: Buffer | undefined;
  /** Whether the read under way goes into `target`. */
  intoTarget: boolean;
  deliver: ((buf: Buffer, n: number) => void) | undefined;
}

interface Operation {
  sink?: ResponseSink;
  message(m: ContainerMessage): void;
  closed(err: Error | undefined): void;
  timedOut(): void;
}

export interface ConnectOptions {
  host: string;
  port: number;
  connectTimeoutMs: number;
  packetSize: number;
}

/**
 * One AJP13 connection: one request at a time, no pipelining (docs/ajp13.md, One request per connection).
 * The exchange is a state machine driven by the node's packets; the body is
 * pulled from the client only when the node asks for it, and the socket is
 * paused whenever the client cannot take more, so neither direction buffers
 * more than a packet or two.
 *
 * A connection whose exchange did not end with END_RESPONSE reuse=1 is
 * destroyed, never reused.
 */
export class AjpConnection {
  private readonly reader: PacketReader;
  private readonly encoder: ForwardRequestEncoder;
  private op: Operation | undefined;
  private dead = false;
  /** Set by the pool: called once when the connection closes. */
  onClose: (() => void) | undefined;
  readonly createdAt: number;
  lastUsedAt: number;
  uses = 0;

  private constructor(
    readonly socket: Socket,
    readonly packetSize: number,
    now: number,
    reads: ReadSlot,
  ) {
    this.reader = new PacketReader(MAGIC_TO_PROXY, packetSize - HEADER_LEN);
    this.encoder = new ForwardRequestEncoder(packetSize);
    this.createdAt = this.lastUsedAt = now;
    this.reads = reads;
    reads.deliver = this.onRead;
    socket.setNoDelay(true);
    socket.on("timeout", this.onTimeout);
    socket.on("error", () => {}); // the 'close' that follows carries the outcome
    socket.on("end", () => socket.destroy()); // AJP has no half-close: the node is done with us
    socket.once("close", (hadError) => this.onSocketClose(hadError ? new Error("connection reset") : undefined));
  }

  /** Resolves once connected; rejects with OxError connect-failed. */
  static connect(o: ConnectOptions): Promise<AjpConnection> {
    return new Promise((resolve, reject) => {
      const reads: ReadSlot = { buffer: Buffer.allocUnsafe(readSize(o.packetSize)), target: undefined, intoTarget: false, deliver: undefined };
      const socket = netConnect({
        host: o.host,
        port: o.port,
        onread: {
          // Asked once before the first read and again after each callback, for the next read.
          buffer: () => {
            reads.intoTarget = reads.target !== undefined;
            return reads.target ?? reads.buffer;
          },
          callback: (n, buf) => {
            reads.deliver?.(buf as Buffer, n);
            return true; // pausing is done explicitly (socket.pause) when the client is slow
          },
        },
      });
      const timer = setTimeout(() => {
        socket.destroy();
        // The code Node's own connect timeouts carry, so the cause reads the same as theirs (down-cause.ts).
        const cause = Object.assign(new Error("connect timed out"), { code: "ETIMEDOUT" });
        reject(new OxError("connect-failed", `connect to ${o.host}:${o.port} timed out after ${o.connectTimeoutMs} ms`, { cause }));
      }, o.connectTimeoutMs);
      socket.once("connect", () => {
        clearTimeout(timer);
        socket.removeAllListeners("error");
        resolve(new AjpConnection(socket, o.packetSize, Date.now(), reads));
      });
      socket.once("error", (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        socket.destroy();
        reject(new OxError("connect-failed", `connect to ${o.host}:${o.port} failed: ${err.code ?? err.message}`, { cause: err }));
      });
    });
  }

  get isOpen(): boolean {
    return !this.dead && !this.socket.destroyed && this.socket.readyState === "open";
  }

  get busy(): boolean {
    return this.op !== undefined;
  }

  destroy(): void {
    if (this.dead) return;
    this.dead = true;
    this.socket.destroy();
  }

  private readonly reads: ReadSlot;
  /** Request-body packets are assembled here, one at a time (see sendBody). */
  private bodyPacket: Buffer | undefined;

  /**
   * Reads land in one reused buffer instead of a fresh 64 KiB allocation each:
   * a download otherwise leaves tens of MiB of dead buffers between garbage
   * collections. The buffer may be reused only if nothing still points into
   * it afterwards: the reader copies its unfinished packet, and if the client
   * could not take all body bytes at once (the sink still holds some), the
   * next read gets a new buffer. When much of a large packet is still to
   * come, the next read goes straight into its place in the reader instead
   * (fillTarget), so a 64 KiB packet is not copied together afterwards.
   */
  private onRead = (buf: Buffer, n: number): void => {
    try {
      if (this.reads.intoTarget) this.reader.filled(n);
      else this.reader.push(buf.subarray(0, n));
    } catch (e) {
      // Reads out of step with the reader would be our bug: end this connection, not the process.
      return this.protocolError(`framing: ${(e as Error).message}`);
    }
    // One read holds several packets of a download: hand their data to the
    // client as one write (writev), not one syscall per 8 KiB chunk.
    const sink = this.op?.sink;
    sink?.cork?.();
    try {
      this.drainPackets();
    } finally {
      sink?.uncork?.();
      const held = sink !== undefined && sink.holdsWrites?.() !== false;
      this.reader.retain();
      this.reader.release(held);
      if (held) this.reads.buffer = Buffer.allocUnsafe(this.reads.buffer.length);
      this.reads.target = this.reader.fillTarget();
    }
  };

  private drainPackets(): void {
    for (;;) {
      const f = this.reader.next();
      if (f.kind === "need-more") return;
      if (f.kind === "error") return this.protocolError(`framing: ${f.reason}`);
      const d = decodeContainerMessage(f.payload);
      if (!d.ok) return this.protocolError(d.reason);
      // Data while idle means the node is out of step with us.
      if (!this.op) return this.protocolError(`unexpected ${d.value.type} on an idle connection`);
      try {
        this.op.message(d.value);
      } catch (e) {
        // e.g. the node sent a header value the HTTP layer refuses: its fault, not a crash.
        return this.protocolError(`response rejected: ${(e as Error).message}`);
      }
      if (this.dead) return;
    }
  }

  private protocolError(reason: string): void {
    const op = this.op;
    this.destroy();
    op?.closed(new OxError("backend-protocol", reason));
  }

  private onTimeout = (): void => {
    this.op?.timedOut();
  };

  private onSocketClose(err: Error | undefined): void {
    this.dead = true;
    const op = this.op;
    this.op = undefined;
    op?.closed(err);
    this.onClose?.();
  }

  /** CPing/CPong (docs/ajp13.md, CPing and CPong): true if the node answered within timeoutMs. Only on an idle connection. */
  cping(timeoutMs: number): Promise<boolean> {
    if (this.op || !this.isOpen) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        this.op = undefined;
        if (!ok) this.destroy();
        resolve(ok);
      };
      const timer = setTimeout(() => done(false), timeoutMs);
      this.op = {
        message: (m) => done(m.type === "cpong"),
        closed: () => done(false),
        timedOut: () => {},
      };
      this.socket.write(CPING_PACKET);
    });
  }

  /**
   * One request/response exchange. `body` is null for requests without a
   * body; `contentLength` null means the length is unknown (chunked upload)
   * and the node pulls the body with GET_BODY_CHUNK.
   */
  forward(
    req: ForwardRequest,
    body: BodySource | null,
    contentLength: number | null,
    sink: ResponseSink,
    replyTimeoutMs: number,
  ): { outcome: Promise<ExchangeOutcome>; abort: (err: OxError) => void } {
    const packet = this.encoder.encode(req);
    if (!packet) {
      const error = new OxError("headers-too-large", `request headers do not fit one AJP packet of ${this.packetSize} bytes`);
      return { outcome: Promise.resolve({ ok: false, error, requestSent: false, responseStarted: false }), abort: () => {} };
    }
    if (this.op || !this.isOpen) {
      const error = new OxError("connect-failed", "connection not usable");
      return { outcome: Promise.resolve({ ok: false, error, requestSent: false, responseStarted: false }), abort: () => {} };
    }
    this.uses++;
    const socket = this.socket;
    const maxChunk = maxBodyChunk(this.packetSize);
    let responseStarted = false;
    let status = 0;
    let bodyEndSent = false;
    // With a known length the first body packet goes out unasked; the node
    // cannot finish before reading it, so END_RESPONSE before it was sent
    // means the node and we are out of step.
    let firstBodyPending = contentLength !== null && contentLength > 0;
    let waitingForClient = 0;
    let pausedForClient = false;
    /** While the first body packet is queued behind the request (see the end of forward). */
    let corked = false;
    let finished = false;

    let settle!: (o: ExchangeOutcome) => void;
    const outcome = new Promise<ExchangeOutcome>((r) => (settle = r));

    const finish = (o: ExchangeOutcome): void => {
      if (finished) return;
      finished = true;
      this.op = undefined;
      socket.setTimeout(0);
      if (!o.ok || !o.reuse) this.destroy();
      else {
        this.lastUsedAt = Date.now();
        // END_RESPONSE can arrive in the same read as data the client was slow to take.
        if (pausedForClient) socket.resume();
      }
      if (body && !o.ok) body.detach();
      settle(o);
    };
    const fail = (error: OxError): void => finish({ ok: false, error, requestSent: true, responseStarted });

    const sendEnd = (): void => {
      firstBodyPending = false;
      bodyEndSent = true;
      socket.write(EMPTY_BODY_PACKET);
    };

    const sendBody = (n: number): void => {
      if (!body) return sendEnd();
      const packet = (this.bodyPacket ??= Buffer.allocUnsafe(BODY_PACKET_OVERHEAD + maxChunk));
      let got: number | null | undefined;
      try {
        // A request for 0 bytes gets 1: an empty packet would tell the node the body ended.
        got = body.copyInto(packet, BODY_PACKET_OVERHEAD, Math.max(1, Math.min(n, maxChunk)));
      } catch (e) {
        // The body reader's own verdict (a client too slow) keeps its kind; anything else is the client leaving.
        return fail(e instanceof OxError ? e : new OxError("client-aborted", (e as Error).message));
      }
      if (got === null) return sendEnd();
      if (got !== undefined) {
        firstBodyPending = false;
        socket.write(packet.subarray(0, writeBodyPacketHeader(packet, got)));
        // Reused for the next packet only if the kernel took it whole just now.
        if (!corked && socket.writableLength > 0) this.bodyPacket = undefined;
        return;
      }
      waitingForClient++;
      body.whenReadable().then(() => {
        waitingForClient--;
        if (!finished) sendBody(n);
      });
    };

    this.op = {
      sink,
      message: (m) => {
        switch (m.type) {
          case "headers":
            if (responseStarted) return this.protocolError("node sent headers twice");
            // AJP carries no interim responses and no protocol switch: a 1xx here would reach
            // the client as a final answer (or, for 101, as a connection it cannot use).
            if (m.status < 200) return this.protocolError(`node answered with interim status ${m.status}`);
            responseStarted = true;
            status = m.status;
            sink.head(m.status, m.headers);
            return;
          case "body":
            if (!responseStarted) {
              // httpd ignores a flush before headers; data before headers is a protocol error.
              if (m.data.length === 0) return;
              return this.protocolError("body data before headers");
            }
            if (m.data.length === 0) return sink.flush();
            if (!sink.write(m.data) && !pausedForClient) {
              pausedForClient = true;
              socket.pause();
              sink.onDrain(() => {
                pausedForClient = false;
                if (!finished) socket.resume();
              });
            }
            return;
          case "get-body":
            if (bodyEndSent) return this.protocolError("node asked for body after its end");
            if (firstBodyPending) return this.protocolError("node asked for body before the first packet");
            // One GET_BODY_CHUNK, one body packet: asking again first means the node is out of step.
            if (waitingForClient > 0) return this.protocolError("node asked for body again before it got the last");
            sendBody(m.length);
            return;
          case "end":
            if (!responseStarted) return this.protocolError("END_RESPONSE without headers");
            finish({ ok: true, reuse: m.reuse && !firstBodyPending && waitingForClient === 0, status });
            return;
          case "cpong":
            return this.protocolError("CPong during a request");
        }
      },
      closed: (err) => {
        if (err instanceof OxError) return fail(err);
        fail(new OxError("backend-aborted", responseStarted ? "node closed the connection mid-response" : "node closed the connection before answering"));
      },
      timedOut: () => {
        // Waiting on the client (its body, or its reading) is not the node's fault.
        if (waitingForClient > 0 || pausedForClient) {
          return fail(new OxError("client-timeout", `client ${waitingForClient > 0 ? "sent no body" : "read nothing"} for ${replyTimeoutMs} ms`));
        }
        fail(new OxError("backend-timeout", `no reply from the node for ${replyTimeoutMs} ms`));
      },
    };

    socket.setTimeout(replyTimeoutMs);
    if (!firstBodyPending) socket.write(packet);
    else {
      // The request and the first body packet in one write (one syscall per POST, not two).
      corked = true;
      socket.cork();
      socket.write(packet);
      sendBody(maxChunk);
      socket.uncork();
      corked = false;
      if (socket.writableLength > 0) this.bodyPacket = undefined;
    }
    return { outcome, abort: (err) => fail(err) };
  }
}
