import {
  Attr,
  HEADER_LEN,
  MAGIC_TO_CONTAINER,
  METHOD_CODES,
  METHOD_STORED,
  ProxyMsg,
  REQ_ATTR_LOCAL_ADDR,
  REQ_ATTR_REMOTE_PORT,
  REQ_ATTR_SSL_PROTOCOL,
  REQUEST_HEADER_CODES,
} from "./codes.ts";
import { writeByte, writeHeaders, writeInt, writeString } from "./wire.ts";

/** What the bridge tells a node about one request (docs/ajp13.md, Forward Request). */
export interface ForwardRequest {
  method: string;
  protocol: string;
  /** Path only, still percent-encoded, no query. */
  uri: string;
  remoteAddr: string;
  /** null = not resolved (Tomcat then uses the address). */
  remoteHost: string | null;
  /** Host and port the client used at the edge. */
  serverName: string;
  serverPort: number;
  isSsl: boolean;
  /** Flat name, value, name, value… (Node's rawHeaders shape); repeats are kept as separate pairs. */
  headers: readonly string[];
  queryString?: string;
  route?: string;
  secret?: string;
  remotePort?: string;
  localAddr?: string;
  sslProtocol?: string;
}

/**
 * Encodes Forward Request packets into one buffer that it owns and reuses, so a
 * request costs no allocation beyond the strings themselves. The returned view
 * is valid until the next encode() call: one per AJP connection, which carries
 * one request at a time.
 */
export class ForwardRequestEncoder {
  private readonly buf: Buffer;

  constructor(readonly packetSize: number) {
    this.buf = Buffer.allocUnsafe(packetSize);
  }

  /** The whole packet (header included), or undefined when it does not fit one packet. */
  encode(req: ForwardRequest): Buffer | undefined {
    const len = encodeForwardRequestInto(req, this.buf);
    return len < 0 ? undefined : this.buf.subarray(0, len);
  }
}

/** Writes the packet into `buf` (whose length is the packet size); returns its length or -1 if it does not fit. */
export function encodeForwardRequestInto(req: ForwardRequest, buf: Buffer): number {
  const limit = buf.length;
  let p = writeInt(buf, 0, limit, MAGIC_TO_CONTAINER);
  p = writeInt(buf, p, limit, 0); // length, patched below
  p = writeByte(buf, p, limit, ProxyMsg.ForwardRequest);
  const code = METHOD_CODES.get(req.method);
  p = writeByte(buf, p, limit, code ?? METHOD_STORED);
  p = writeString(buf, p, limit, req.protocol);
  p = writeString(buf, p, limit, req.uri);
  p = writeString(buf, p, limit, req.remoteAddr);
  p = writeString(buf, p, limit, req.remoteHost);
  p = writeString(buf, p, limit, req.serverName);
  p = writeInt(buf, p, limit, req.serverPort);
  p = writeByte(buf, p, limit, req.isSsl ? 1 : 0);
  p = writeHeaders(buf, p, limit, req.headers, REQUEST_HEADER_CODES);
  // Attribute order as mod_proxy_ajp sends them (docs/ajp13.md, Attributes).
  if (req.secret !== undefined) p = writeAttr(buf, p, limit, Attr.Secret, req.secret);
  if (req.queryString !== undefined) p = writeAttr(buf, p, limit, Attr.QueryString, req.queryString);
  if (req.route) p = writeAttr(buf, p, limit, Attr.Route, req.route);
  if (code === undefined) p = writeAttr(buf, p, limit, Attr.StoredMethod, req.method);
  if (req.isSsl && req.sslProtocol) p = writeReqAttr(buf, p, limit, REQ_ATTR_SSL_PROTOCOL, req.sslProtocol);
  if (req.remotePort) p = writeReqAttr(buf, p, limit, REQ_ATTR_REMOTE_PORT, req.remotePort);
  if (req.localAddr) p = writeReqAttr(buf, p, limit, REQ_ATTR_LOCAL_ADDR, req.localAddr);
  p = writeByte(buf, p, limit, Attr.AreDone);
  if (p < 0) return -1;
  writeInt(buf, 2, limit, p - HEADER_LEN);
  return p;
}

function writeAttr(buf: Buffer, p: number, limit: number, code: number, value: string): number {
  return writeString(buf, writeByte(buf, p, limit, code), limit, value);
}

function writeReqAttr(buf: Buffer, p: number, limit: number, name: string, value: string): number {
  return writeString(buf, writeString(buf, writeByte(buf, p, limit, Attr.ReqAttribute), limit, name), limit, value);
}
