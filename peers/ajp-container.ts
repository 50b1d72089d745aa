/**
 * The container's side of AJP13, for peers that play an OX node: the demo
 * node and tests' scripted nodes. The bridge never sends these, so they
 * live here rather than in bridge/ajp/, whose files hold only what the
 * proxy side needs.
 */
import { BODY_PACKET_OVERHEAD, writeBodyPacketHeader } from "../bridge/ajp/body.ts";
import {
  Attr,
  ContainerMsg,
  HEADER_LEN,
  MAGIC_TO_PROXY,
  METHOD_NAMES,
  METHOD_STORED,
  ProxyMsg,
  REQ_ATTR_LOCAL_ADDR,
  REQ_ATTR_REMOTE_PORT,
  REQ_ATTR_SSL_PROTOCOL,
  REQUEST_HEADER_NAMES,
  RESPONSE_HEADER_CODES,
} from "../bridge/ajp/codes.ts";
import type { ForwardRequest } from "../bridge/ajp/forward-request.ts";
import { bad, PayloadCursor, readHeaders, writeByte, writeHeaders, writeInt, writeString, type DecodeResult } from "../bridge/ajp/wire.ts";

/** A Forward Request as a container reads it (the demo node and tests). */
export interface DecodedForwardRequest extends ForwardRequest {
  /** req_attribute pairs, flat, in the order received. */
  reqAttributes: string[];
}

/** Container side: parse a Forward Request payload (type byte included). Never throws. */
export function decodeForwardRequest(payload: Buffer): DecodeResult<DecodedForwardRequest> {
  const c = new PayloadCursor(payload);
  if (c.byte() !== ProxyMsg.ForwardRequest) return bad("not a forward request");
  const methodCode = c.byte();
  if (methodCode === undefined) return bad("truncated method");
  if (methodCode !== METHOD_STORED && !METHOD_NAMES[methodCode]) return bad(`unknown method code ${methodCode}`);
  const protocol = c.string();
  const uri = c.string();
  const remoteAddr = c.string();
  const remoteHost = c.string();
  const serverName = c.string();
  const serverPort = c.int();
  const ssl = c.byte();
  const numHeaders = c.int();
  if (
    !protocol ||
    !uri ||
    typeof remoteAddr !== "string" ||
    remoteHost === undefined ||
    typeof serverName !== "string" ||
    serverPort === undefined ||
    (ssl !== 0 && ssl !== 1) ||
    numHeaders === undefined
  ) {
    return bad("malformed fixed fields");
  }
  const read = readHeaders(c, numHeaders, REQUEST_HEADER_NAMES);
  if (!read.ok) return read;
  const headers = read.value;
  const req: DecodedForwardRequest = {
    method: methodCode === METHOD_STORED ? "" : METHOD_NAMES[methodCode],
    protocol,
    uri,
    remoteAddr,
    remoteHost,
    serverName,
    serverPort,
    isSsl: ssl === 1,
    headers,
    reqAttributes: [],
  };
  for (;;) {
    const attr = c.byte();
    if (attr === undefined) return bad("attributes not terminated");
    if (attr === Attr.AreDone) break;
    if (attr === Attr.SslKeySize) {
      if (c.int() === undefined) return bad("truncated ssl_key_size");
      continue;
    }
    if (attr === Attr.ReqAttribute) {
      const n = c.string();
      const v = c.string();
      if (typeof n !== "string" || typeof v !== "string") return bad("malformed req_attribute");
      req.reqAttributes.push(n, v);
      if (n === REQ_ATTR_REMOTE_PORT) req.remotePort = v;
      else if (n === REQ_ATTR_LOCAL_ADDR) req.localAddr = v;
      else if (n === REQ_ATTR_SSL_PROTOCOL) req.sslProtocol = v;
      continue;
    }
    if (attr < Attr.Context || attr > Attr.StoredMethod) return bad(`unknown attribute code ${attr}`);
    const v = c.string();
    if (typeof v !== "string") return bad(`malformed attribute ${attr}`);
    if (attr === Attr.QueryString) req.queryString = v;
    else if (attr === Attr.Route) req.route = v;
    else if (attr === Attr.Secret) req.secret = v;
    else if (attr === Attr.StoredMethod) req.method = v;
  }
  if (c.remaining !== 0) return bad("bytes after are_done");
  if (!req.method) return bad("stored method missing");
  return { ok: true, value: req };
}

/** A whole body packet in a new buffer (for tests). */
export function encodeBodyPacket(data: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(BODY_PACKET_OVERHEAD + data.length);
  b.set(data, BODY_PACKET_OVERHEAD);
  writeBodyPacketHeader(b, data.length);
  return b;
}

/** Container side: data of a body packet payload; an empty buffer means "end of body". */
export function decodeBodyPacket(payload: Buffer): DecodeResult<Buffer> {
  if (payload.length === 0) return { ok: true, value: payload };
  if (payload.length < 2) return { ok: false, reason: "truncated body packet" };
  const len = payload.readUInt16BE(0);
  if (len + 2 !== payload.length) return { ok: false, reason: "body packet length mismatch" };
  return { ok: true, value: payload.subarray(2) };
}

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
