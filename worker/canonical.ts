/**
 * The path a servlet container will see, computed before any decision is made.
 *
 * Routing and access rules only mean something if they are applied to the path
 * the node acts on. Tomcat (CoyoteAdapter.postParseRequest) strips `;params`
 * from every segment of the undecoded URI, then percent-decodes, then collapses
 * `//` and resolves `.`/`..`. We do the same here, refuse whatever could be
 * read two ways, and forward exactly the result, so the node cannot see a
 * different path than the one the worker judged.
 *
 * Path parameters: all are dropped except the session parameter
 * (`;jsessionid=…`, first one wins). The hand-off re-appends that one to the
 * last segment, so URL-rewritten sessions keep working on the node, while no
 * other `;x=y` can make the node see something the worker did not judge.
 *
 * Pure: no I/O, never throws (a property test holds us to that).
 */

export type CanonResult =
  | {
      ok: true;
      /** Canonical path, re-encoded for forwarding. Never contains `//`, dot segments or `;`. */
      path: string;
      /** The same path decoded: what Tomcat matches servlets against. Rules compare against this. */
      decoded: string;
      /** Value of the session path parameter (first one wins), if present. */
      session?: string;
    }
  | { ok: false; reason: string };

/** Longer than Tomcat's default 8 KiB header limit would accept anyway. */
export const MAX_PATH_LENGTH = 8192;

/**
 * Session ids are hex plus `.route`; anything else in that parameter is not a
 * session id and re-appending it verbatim would smuggle bytes past the rules.
 */
const SESSION_VALUE = /^[A-Za-z0-9._~-]+$/;

/**
 * Bytes left literal when re-encoding a decoded segment: RFC 3986 unreserved
 * plus the sub-delims and `:@` that are valid in a path segment, except `;`
 * (the path-parameter delimiter). Everything else, `%` included, is escaped,
 * so one decode on the node yields exactly our decoded segment again.
 */
const KEEP = new Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,=:@".split("").map((c) => c.charCodeAt(0)));

const HEX = "0123456789ABCDEF";
const utf8 = new TextEncoder();
// ignoreBOM: keep a leading U+FEFF as a character, as Tomcat does; the
// default would silently drop it and we would judge a different path.
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function bad(reason: string): CanonResult {
  return { ok: false, reason };
}

function hexVal(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** Percent-decode one raw segment (params already removed) as strict UTF-8. */
function decodeSegment(raw: string): { ok: true; value: string } | { ok: false; reason: string } {
  if (raw.indexOf("%") < 0) return { ok: true, value: raw };
  const bytes: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c !== 0x25) {
      bytes.push(c);
      continue;
    }
    bytes.push(hexVal(raw.charCodeAt(i + 1)) * 16 + hexVal(raw.charCodeAt(i + 2)));
    i += 2;
  }
  try {
    return { ok: true, value: strictUtf8.decode(new Uint8Array(bytes)) };
  } catch {
    return { ok: false, reason: "invalid UTF-8 after percent-decoding" };
  }
}

function encodeSegment(decoded: string): string {
  let out = "";
  for (const b of utf8.encode(decoded)) {
    out += KEEP.has(b) ? String.fromCharCode(b) : "%" + HEX[b >> 4] + HEX[b & 15];
  }
  return out;
}

/** C0 controls, DEL and C1 controls: never part of a legitimate path. */
function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return true;
  }
  return false;
}

/**
 * Check the raw bytes before anything else. Requests that arrive through the
 * Workers runtime are already ASCII (the URL serializer escapes the rest), so
 * a raw space, control or non-ASCII character means someone built the URL by
 * hand: refuse instead of guessing the encoding.
 */
function checkRaw(raw: string): string | undefined {
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x5c) return "backslash in path";
    if (c <= 0x20 || c >= 0x7f) return "space, control or non-ASCII character in path";
    if (c === 0x25) {
      if (hexVal(raw.charCodeAt(i + 1)) < 0 || hexVal(raw.charCodeAt(i + 2)) < 0) return "invalid percent escape";
      const code = raw.slice(i + 1, i + 3).toUpperCase();
      // Tomcat rejects or rewrites these (encodedSolidusHandling, ALLOW_BACKSLASH);
      // proxies differ on them. %3B would be a literal `;` to Tomcat but a
      // parameter delimiter to other parsers. None is needed by OX.
      if (code === "2F") return "encoded slash (%2F)";
      if (code === "5C") return "encoded backslash (%5C)";
      if (code === "00") return "encoded NUL (%00)";
      if (code === "3B") return "encoded semicolon (%3B)";
      i += 2;
    }
  }
  return undefined;
}

/**
 * Canonicalise a raw request path (no query). `sessionParam` names the path
 * parameter that carries a URL-rewritten session id (Tomcat: `jsessionid`);
 * it is the only parameter kept, everything else after `;` is dropped. Pass
 * "" to drop that one too.
 *
 * @example
 * canonicalPath("/ajax/../servlet;x=y//%61xis2/services") // { ok: true, path: "/servlet/axis2/services", ... }
 */
export function canonicalPath(raw: string, sessionParam = "jsessionid"): CanonResult {
  if (raw === "") raw = "/";
  if (raw.charCodeAt(0) !== 0x2f) return bad("path does not start with /");
  if (raw.length > MAX_PATH_LENGTH) return bad("path too long");
  const rawProblem = checkRaw(raw);
  if (rawProblem) return bad(rawProblem);

  const rawSegments = raw.slice(1).split("/");
  const segments: string[] = [];
  let session: string | undefined;
  let trailingSlash = false;

  for (let i = 0; i < rawSegments.length; i++) {
    const seg = rawSegments[i];
    const semi = seg.indexOf(";");
    const name = semi < 0 ? seg : seg.slice(0, semi);
    if (semi >= 0) {
      for (const param of seg.slice(semi + 1).split(";")) {
        const eq = param.indexOf("=");
        if (eq < 0 || !sessionParam || param.slice(0, eq) !== sessionParam) continue;
        const value = param.slice(eq + 1);
        if (value === "" || session !== undefined) continue;
        if (!SESSION_VALUE.test(value)) return bad("session path parameter is not a session id");
        session = value;
      }
    }

    const dec = decodeSegment(name);
    if (!dec.ok) return bad(dec.reason);
    const d = dec.value;
    if (hasControl(d)) return bad("control character in path");
    // Only reachable through decoding tricks the raw check missed (it refuses
    // %2F, %5C, %3B); kept so this function is safe on its own.
    if (d.includes("/") || d.includes("\\") || d.includes(";")) return bad("delimiter inside a segment");

    const last = i === rawSegments.length - 1;
    if (d === "" || d === ".") {
      if (last) trailingSlash = true;
      continue;
    }
    if (d === "..") {
      if (segments.length === 0) return bad("'..' above the root");
      segments.pop();
      if (last) trailingSlash = true;
      continue;
    }
    segments.push(d);
  }

  const tail = trailingSlash && segments.length > 0 ? "/" : "";
  const result: CanonResult = {
    ok: true,
    path: "/" + segments.map(encodeSegment).join("/") + tail,
    decoded: "/" + segments.join("/") + tail,
  };
  if (session !== undefined) result.session = session;
  return result;
}

/** True if `path` is `prefix` or lies below it, whole segments only (`/ajaxfoo` is not under `/ajax`). */
export function underPrefix(path: string, prefix: string): boolean {
  return path === prefix || path.startsWith(prefix.endsWith("/") ? prefix : prefix + "/");
}

/**
 * Split a request URL string into its raw path and raw query without a URL
 * parser: `new URL()` would resolve dot segments and rewrite backslashes
 * before we could see (and refuse) them.
 */
export function splitRawUrl(url: string): { path: string; query: string } {
  const schemeEnd = url.indexOf("://");
  const authorityStart = schemeEnd < 0 ? 0 : schemeEnd + 3;
  let pathStart = -1;
  for (let i = authorityStart; i < url.length; i++) {
    const c = url[i];
    if (c === "/") {
      pathStart = i;
      break;
    }
    if (c === "?" || c === "#") break;
  }
  const hash = url.indexOf("#", authorityStart);
  const end = hash < 0 ? url.length : hash;
  const q = url.indexOf("?", authorityStart);
  const qStart = q >= 0 && q < end ? q : -1;
  const path = pathStart < 0 || (qStart >= 0 && pathStart > qStart) ? "/" : url.slice(pathStart, qStart < 0 ? end : qStart);
  const query = qStart < 0 ? "" : url.slice(qStart + 1, end);
  return { path, query };
}
