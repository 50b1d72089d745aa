/**
 * A GET Forward Request written byte by byte (docs/ajp13.md, Packets and
 * magic, The Forward Request), for tests of real Tomcat that must not depend
 * on the bridge's codec, which those nodes exist to test.
 */

function ajpString(s: string): Buffer {
  const b = Buffer.from(s, "latin1");
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b, Buffer.from([0])]);
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

export interface HandForward {
  /** The AJP remote_addr; default 203.0.113.7. */
  remoteAddr?: string;
  /** Headers after the coded Host (ox.example.com), by name. */
  headers?: [string, string][];
  secret?: string;
  query?: string;
  /** Sent as the AJP_REMOTE_PORT request attribute. */
  remotePort?: number;
}

/** GET uri over https (is_ssl) on ox.example.com:443, as one packet, attributes in the order secret, query, remote port. */
export function forwardGet(uri: string, o: HandForward = {}): Buffer {
  const headers = o.headers ?? [];
  const parts = [
    Buffer.from([0x02, 0x02]), // FORWARD_REQUEST, GET
    ajpString("HTTP/1.1"),
    ajpString(uri),
    ajpString(o.remoteAddr ?? "203.0.113.7"),
    Buffer.from([0xff, 0xff]), // remote_host: null
    ajpString("ox.example.com"),
    u16(443),
    Buffer.from([1]), // is_ssl
    u16(headers.length + 1),
    Buffer.from([0xa0, 0x0b]), // Host
    ajpString("ox.example.com"),
  ];
  for (const [k, v] of headers) parts.push(ajpString(k), ajpString(v));
  if (o.secret !== undefined) parts.push(Buffer.from([0x0c]), ajpString(o.secret));
  if (o.query !== undefined) parts.push(Buffer.from([0x05]), ajpString(o.query));
  if (o.remotePort !== undefined) parts.push(Buffer.from([0x0a]), ajpString("AJP_REMOTE_PORT"), ajpString(String(o.remotePort)));
  parts.push(Buffer.from([0xff]));
  const payload = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([0x12, 0x34]), u16(payload.length), payload]);
}
