/**
 * AJP13 code tables (docs/ajp13.md: Packets and magic, Forward Request, Container messages). Data only: the codec
 * and the demo node read them, nothing here touches a socket.
 */

/** Packet magic, proxy → container ("\x12\x34") and container → proxy ("AB"). */
export const MAGIC_TO_CONTAINER = 0x1234;
export const MAGIC_TO_PROXY = 0x4142;

export const HEADER_LEN = 4;
/** Tomcat's packetSize bounds: below 8192 it silently uses 8192, above 65536 is impossible (uint16 length). */
export const MIN_PACKET_SIZE = 8192;
export const MAX_PACKET_SIZE = 65536;

export const enum ProxyMsg {
  ForwardRequest = 2,
  Shutdown = 7,
  Ping = 8,
  CPing = 10,
}

export const enum ContainerMsg {
  SendBodyChunk = 3,
  SendHeaders = 4,
  EndResponse = 5,
  GetBodyChunk = 6,
  CPong = 9,
}

/** Method name → code. PATCH and extension methods have none (sent as stored_method). */
export const METHOD_CODES: ReadonlyMap<string, number> = new Map([
  ["OPTIONS", 1], ["GET", 2], ["HEAD", 3], ["POST", 4], ["PUT", 5], ["DELETE", 6], ["TRACE", 7],
  ["PROPFIND", 8], ["PROPPATCH", 9], ["MKCOL", 10], ["COPY", 11], ["MOVE", 12], ["LOCK", 13],
  ["UNLOCK", 14], ["ACL", 15], ["REPORT", 16], ["VERSION-CONTROL", 17], ["CHECKIN", 18],
  ["CHECKOUT", 19], ["UNCHECKOUT", 20], ["SEARCH", 21], ["MKWORKSPACE", 22], ["UPDATE", 23],
  ["LABEL", 24], ["MERGE", 25], ["BASELINE-CONTROL", 26], ["MKACTIVITY", 27],
]);
export const METHOD_NAMES: readonly string[] = (() => {
  const names: string[] = [];
  for (const [name, code] of METHOD_CODES) names[code] = name;
  return names;
})();
export const METHOD_STORED = 0xff;

/** Request header codes (low byte of 0xA0nn). Lookup is case-insensitive on the sending side. */
export const REQUEST_HEADER_NAMES = [
  "", "accept", "accept-charset", "accept-encoding", "accept-language", "authorization", "connection",
  "content-type", "content-length", "cookie", "cookie2", "host", "pragma", "referer", "user-agent",
] as const;

/** Response header codes: Tomcat's canonical spellings. */
export const RESPONSE_HEADER_NAMES = [
  "", "Content-Type", "Content-Language", "Content-Length", "Date", "Last-Modified", "Location",
  "Set-Cookie", "Set-Cookie2", "Servlet-Engine", "Status", "WWW-Authenticate",
] as const;

function codeTable(names: readonly string[]): ReadonlyMap<string, number> {
  const m = new Map<string, number>();
  names.forEach((name, code) => {
    if (!code) return;
    m.set(name.toLowerCase(), code);
    // Clients mostly send Title-Case; a direct hit avoids a toLowerCase() copy per header.
    m.set(name.replace(/(^|-)([a-z])/g, (_s, d: string, c: string) => d + c.toUpperCase()), code);
  });
  return m;
}
export const REQUEST_HEADER_CODES = codeTable(REQUEST_HEADER_NAMES);
export const RESPONSE_HEADER_CODES = codeTable(RESPONSE_HEADER_NAMES);

export const enum Attr {
  Context = 0x01,
  ServletPath = 0x02,
  RemoteUser = 0x03,
  AuthType = 0x04,
  QueryString = 0x05,
  Route = 0x06,
  SslCert = 0x07,
  SslCipher = 0x08,
  SslSession = 0x09,
  ReqAttribute = 0x0a,
  SslKeySize = 0x0b,
  Secret = 0x0c,
  StoredMethod = 0x0d,
  AreDone = 0xff,
}

/** The only req_attribute names Tomcat accepts without allowedRequestAttributesPattern (docs/ajp13.md, Tomcat rules the bridge relies on). */
export const REQ_ATTR_REMOTE_PORT = "AJP_REMOTE_PORT";
export const REQ_ATTR_LOCAL_ADDR = "AJP_LOCAL_ADDR";
export const REQ_ATTR_SSL_PROTOCOL = "AJP_SSL_PROTOCOL";

export const CPING_PACKET: Buffer = Buffer.from([0x12, 0x34, 0x00, 0x01, ProxyMsg.CPing]);
export const CPONG_PACKET: Buffer = Buffer.from([0x41, 0x42, 0x00, 0x01, ContainerMsg.CPong]);
/** Empty body packet: "the request body is finished". */
export const EMPTY_BODY_PACKET: Buffer = Buffer.from([0x12, 0x34, 0x00, 0x00]);
