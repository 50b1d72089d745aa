import type { ServerResponse } from "node:http";
import { HANDOFF_HEADERS } from "../common/signing.ts";
import type { ExchangeControl, ResponseSink } from "./exchange.ts";
import { connectionTokens, HOP_BY_HOP } from "./hop-by-hop.ts";

/** Room to join the body chunks of one AJP read (its size: see ajp/connection.ts). */
const JOIN_SIZE = 64 * 1024;
/**
 * One join buffer for all responses: chunks are joined and written within
 * one AJP read, one read at a time, so it is free again afterwards unless a
 * slow client still holds it (then the next join gets a new one).
 */
let joinBuffer: Buffer | undefined;

/** ServerResponse as an AJP response sink, guarding the node's Content-Length so a short body is an abort, never a clean end. */
export class HttpSink implements ResponseSink {
  declaredLength = -1;
  written = 0;
  private corked = false;
  private pending: Buffer[] | undefined;
  private pendingBytes = 0;
  private joinedThisRead = false;
  constructor(
    private readonly res: ServerResponse,
    /** Names the member that answers (set by the cluster before each attempt). */
    private readonly control: ExchangeControl,
    private readonly head_: boolean,
  ) {}

  head(status: number, headers: string[]): void {
    this.control.headAt = performance.now();
    const out: string[] = [];
    let connection: Set<string> | undefined;
    for (let i = 0; i + 1 < headers.length; i += 2) if (headers[i].toLowerCase() === "connection") connection = connectionTokens(headers[i + 1]);
    for (let i = 0; i + 1 < headers.length; i += 2) {
      const lower = headers[i].toLowerCase();
      if (HOP_BY_HOP.has(lower) || lower.startsWith("x-oxedge-") || connection?.has(lower)) continue;
      if (lower === "content-length") {
        // Two different lengths from a node would make the body ambiguous: keep the first.
        if (this.declaredLength >= 0) continue;
        const n = Number(headers[i + 1]);
        if (!Number.isSafeInteger(n) || n < 0) continue;
        this.declaredLength = n;
      }
      out.push(headers[i], headers[i + 1]);
    }
    out.push(HANDOFF_HEADERS.servedBy, this.control.route);
    this.res.writeHead(status, out);
  }

  write(chunk: Buffer): boolean {
    if (this.head_) return true;
    this.written += chunk.length;
    // A node that sends more than it promised is out of step (or endless): stop it now, do not
    // read on to find out how much more. The connection turns this into backend-protocol.
    if (this.declaredLength >= 0 && this.written > this.declaredLength) {
      // The client gets the head and a cut body (an abort it can see), never the promised
      // length made whole from bytes of a node that is out of step.
      this.writePending();
      this.res.flushHeaders();
      throw new Error(`node sent more body than its Content-Length of ${this.declaredLength}`);
    }
    if (!this.corked) return this.res.write(chunk);
    if (this.pendingBytes + chunk.length > JOIN_SIZE) this.writePending();
    if (chunk.length >= JOIN_SIZE) return this.res.write(chunk);
    (this.pending ??= []).push(chunk);
    this.pendingBytes += chunk.length;
    // What was written before tells whether the client keeps up; this chunk goes out at uncork.
    return !this.res.writableNeedDrain;
  }

  onDrain(cb: () => void): void {
    this.res.once("drain", cb);
  }

  flush(): void {
    // Node writes through at uncork; nothing else is held back to flush.
  }

  /**
   * Between cork and uncork (the packets of one AJP read) body chunks are
   * collected and written once, copied together if there are several: one
   * 64 KiB read holds eight 8 KiB packets, and eight res.write calls cost
   * more than copying their data (measured on the 1 MiB download).
   */
  cork(): void {
    this.corked = true;
    this.res.cork();
  }

  uncork(): void {
    this.writePending();
    this.corked = false;
    this.res.uncork();
  }

  holdsWrites(): boolean {
    const holds = this.res.writableLength > 0;
    // What the client has not taken yet may be the shared join buffer: it is the client's now.
    if (holds && this.joinedThisRead) joinBuffer = undefined;
    this.joinedThisRead = false;
    return holds;
  }

  private writePending(): void {
    const chunks = this.pending;
    if (!chunks || chunks.length === 0) return;
    if (chunks.length === 1) this.res.write(chunks[0]);
    else {
      // A second join within one read: the first is still queued behind the cork, so it must
      // not be overwritten.
      if (this.joinedThisRead) joinBuffer = undefined;
      const into = (joinBuffer ??= Buffer.allocUnsafe(JOIN_SIZE));
      let at = 0;
      for (const c of chunks) at += c.copy(into, at);
      this.res.write(into.subarray(0, at));
      this.joinedThisRead = true;
    }
    chunks.length = 0;
    this.pendingBytes = 0;
  }

  /** Why the body does not match the node's Content-Length at its end, if it does not. */
  get short(): string | undefined {
    if (this.head_ || this.declaredLength < 0 || this.res.statusCode === 204 || this.res.statusCode === 304) return undefined;
    if (this.written < this.declaredLength) return "node ended the body short of its Content-Length";
    return undefined;
  }
}

