import { ContainerMsg, HEADER_LEN, MAGIC_TO_PROXY, RESPONSE_HEADER_CODES, RESPONSE_HEADER_NAMES } from "./codes.ts";
import { bad, PayloadCursor, readHeaders, writeByte, writeHeaders, writeInt, writeString, type DecodeResult } from "./wire.ts";

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

// Container-side encoders: used by the demo node and by tests that play a container.

function packet(payloadLen: number): Buffer {
  const b = Buffer.allocUnsafe(HEADER_LEN + payloadLen);
  b.writeUInt16BE(MAGIC_TO_PROXY, 0);
  b.writeUInt16BE(payloadLen, 2);
  return b;
}

/** SEND_HEADERS; undefined when the headers do not fit one packet. Known names are sent as codes. */
export function encodeSendHeaders(
  status: number,
  reason: string,
  headers: readonly string[],
  packetSize = 8192,
): Buffer | undefined {
  const buf = Buffer.allocUnsafe(packetSize);
  const limit = packetSize;
  let p = writeInt(buf, 0, limit, MAGIC_TO_PROXY);
  p = writeInt(buf, p, limit, 0);
  p = writeByte(buf, p, limit, ContainerMsg.SendHeaders);
  p = writeInt(buf, p, limit, status);
  p = writeString(buf, p, limit, reason);
  p = writeHeaders(buf, p, limit, headers, RESPONSE_HEADER_CODES);
  if (p < 0) return undefined;
  buf.writeUInt16BE(p - HEADER_LEN, 2);
  return buf.subarray(0, p);
}

/** SEND_BODY_CHUNK with its trailing NUL. An empty chunk is Tomcat's flush signal. */
export function encodeBodyChunk(data: Uint8Array): Buffer {
  const b = packet(data.length + 4);
  b[4] = ContainerMsg.SendBodyChunk;
  b.writeUInt16BE(data.length, 5);
  b.set(data, 7);
  b[7 + data.length] = 0;
  return b;
}

export function encodeEndResponse(reuse: boolean): Buffer {
  const b = packet(2);
  b[4] = ContainerMsg.EndResponse;
  b[5] = reuse ? 1 : 0;
  return b;
}

export function encodeGetBodyChunk(length: number): Buffer {
  const b = packet(3);
  b[4] = ContainerMsg.GetBodyChunk;
  b.writeUInt16BE(length, 5);
  return b;
}
