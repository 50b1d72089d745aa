import { ContainerMsg, RESPONSE_HEADER_NAMES } from "./codes.ts";
import { bad, PayloadCursor, readHeaders, type DecodeResult } from "./wire.ts";

/** Messages a container sends to the proxy (docs/ajp13.md, Container messages). */
export type ContainerMessage =
  | { type: "headers"; status: number; reason: string; headers: string[] }
  | { type: "body"; data: Buffer }
  | { type: "end"; reuse: boolean }
  | { type: "get-body"; length: number }
  | { type: "cpong" };


/** Parse one container → proxy payload. Every malformed or truncated payload is an error value; never throws. */
export function decodeContainerMessage(payload: Buffer): DecodeResult<ContainerMessage> {
  const c = new PayloadCursor(payload);
  const type = c.byte();
  switch (type) {
    case ContainerMsg.SendBodyChunk: {
      const len = c.int();
      if (len === undefined) return bad("truncated body chunk");
      // Exactly data + one trailing NUL, as Tomcat sends and httpd checks: a
      // looser rule would let a truncated chunk pass as a complete one.
      if (len + 4 !== payload.length || payload[payload.length - 1] !== 0) return bad("body chunk length mismatch");
      return { ok: true, value: { type: "body", data: payload.subarray(3, 3 + len) } };
    }
    case ContainerMsg.SendHeaders: {
      const status = c.int();
      const reason = c.string();
      const count = c.int();
      if (status === undefined || reason === undefined || count === undefined) return bad("malformed headers");
      if (status < 100 || status > 999) return bad(`bad status ${status}`);
      const read = readHeaders(c, count, RESPONSE_HEADER_NAMES);
      if (!read.ok) return read;
      const headers = read.value;
      if (c.remaining !== 0) return bad("bytes after headers");
      return { ok: true, value: { type: "headers", status, reason: reason ?? "", headers } };
    }
    case ContainerMsg.EndResponse: {
      const reuse = c.byte();
      if (reuse === undefined || c.remaining !== 0) return bad("malformed end response");
      return { ok: true, value: { type: "end", reuse: reuse === 1 } };
    }
    case ContainerMsg.GetBodyChunk: {
      const length = c.int();
      if (length === undefined || c.remaining !== 0) return bad("malformed get body chunk");
      return { ok: true, value: { type: "get-body", length } };
    }
    case ContainerMsg.CPong:
      if (c.remaining !== 0) return bad("malformed cpong");
      return { ok: true, value: { type: "cpong" } };
    case undefined:
      return bad("empty packet");
    default:
      return bad(`unknown message type ${type}`);
  }
}
