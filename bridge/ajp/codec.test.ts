import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { maxBodyChunk, writeBodyPacketHeader } from "./body.ts";
import { decodeBodyPacket, encodeBodyPacket, decodeForwardRequest, encodeBodyChunk, encodeEndResponse, encodeGetBodyChunk, encodeSendHeaders } from "../../peers/ajp-container.ts";
import { CPING_PACKET, CPONG_PACKET, EMPTY_BODY_PACKET, MAGIC_TO_CONTAINER, MAGIC_TO_PROXY, METHOD_CODES } from "./codes.ts";
import { encodeForwardRequestInto, ForwardRequestEncoder, type ForwardRequest } from "./forward-request.ts";
import { PacketReader } from "./reader.ts";
import { decodeContainerMessage, type ContainerMessage } from "./response.ts";

/** Hex dump lines as in docs/ajp13.md, Worked examples: offset, hex bytes, comment. */
function hex(dump: string): Buffer {
  const bytes: number[] = [];
  for (const line of dump.trim().split("\n")) {
    const m = /^\s*[0-9a-f]{4}\s+((?:[0-9a-f]{2}\s)*[0-9a-f]{2})/.exec(line);
    if (!m) throw new Error(`bad dump line ${line}`);
    for (const b of m[1].trim().split(/\s+/)) bytes.push(parseInt(b, 16));
  }
  return Buffer.from(bytes);
}

// docs/ajp13.md, Worked examples, A GET request: byte for byte.
const GET_VECTOR = hex(`
0000  12 34 00 bf 02 02 00 08 48 54 54 50 2f 31 2e 31
0010  00 00 0c 2f 61 6a 61 78 2f 73 79 73 74 65 6d 00
0020  00 0b 32 30 33 2e 30 2e 31 31 33 2e 37 00 00 0b
0030  32 30 33 2e 30 2e 31 31 33 2e 37 00 00 0e 6f 78
0040  2e 65 78 61 6d 70 6c 65 2e 63 6f 6d 00 01 bb 01
0050  00 03 a0 0b 00 0e 6f 78 2e 65 78 61 6d 70 6c 65
0060  2e 63 6f 6d 00 a0 09 00 15 4a 53 45 53 53 49 4f
0070  4e 49 44 3d 30 66 33 63 39 61 2e 4f 58 31 00 a0
0080  01 00 03 2a 2f 2a 00 0c 00 06 73 33 63 72 33 74
0090  00 05 00 0b 61 63 74 69 6f 6e 3d 70 69 6e 67 00
00a0  06 00 03 4f 58 31 00 0a 00 0f 41 4a 50 5f 52 45
00b0  4d 4f 54 45 5f 50 4f 52 54 00 00 05 35 31 32 33
00c0  34 00 ff
`);

const GET_REQUEST: ForwardRequest = {
  method: "GET",
  protocol: "HTTP/1.1",
  uri: "/ajax/system",
  remoteAddr: "203.0.113.7",
  remoteHost: "203.0.113.7",
  serverName: "ox.example.com",
  serverPort: 443,
  isSsl: true,
  headers: ["Host", "ox.example.com", "Cookie", "JSESSIONID=0f3c9a.OX1", "Accept", "*/*"],
  secret: "s3cr3t",
  queryString: "action=ping",
  route: "OX1",
  remotePort: "51234",
};

describe("forward request: byte-exact vector (docs/ajp13.md, Worked examples)", () => {
  it("encodes the worked GET example exactly", () => {
    expect(GET_VECTOR.length).toBe(195);
    const out = new ForwardRequestEncoder(8192).encode(GET_REQUEST);
    expect(out?.toString("hex")).toBe(GET_VECTOR.toString("hex"));
  });

  it("decodes it back to the same fields", () => {
    const r = decodeForwardRequest(GET_VECTOR.subarray(4));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value).toMatchObject({
      ...GET_REQUEST,
      headers: ["host", "ox.example.com", "cookie", "JSESSIONID=0f3c9a.OX1", "accept", "*/*"],
      reqAttributes: ["AJP_REMOTE_PORT", "51234"],
    });
  });

  it("sends methods without a code as 0xFF plus stored_method (PATCH)", () => {
    const out = new ForwardRequestEncoder(8192).encode({ ...GET_REQUEST, method: "PATCH", route: undefined })!;
    expect(out[5]).toBe(0xff);
    // attribute 0x0D "PATCH" right before the req_attribute and are_done
    expect(out.includes(Buffer.from([0x0d, 0x00, 0x05, ...Buffer.from("PATCH"), 0x00]))).toBe(true);
    const r = decodeForwardRequest(out.subarray(4));
    expect(r.ok && r.value.method).toBe("PATCH");
  });

  it("uses the method code table for every coded method, HEAD = 3", () => {
    for (const [name, code] of METHOD_CODES) {
      const out = new ForwardRequestEncoder(8192).encode({ ...GET_REQUEST, method: name })!;
      expect(out[5]).toBe(code);
    }
    expect(METHOD_CODES.get("HEAD")).toBe(3);
  });

  it("codes request headers case-insensitively and keeps repeats as separate pairs", () => {
    const out = new ForwardRequestEncoder(8192).encode({
      ...GET_REQUEST,
      headers: ["CONTENT-TYPE", "a/b", "x-dup", "1", "X-Dup", "2", "user-agent", "ua"],
    })!;
    const r = decodeForwardRequest(out.subarray(4));
    expect(r.ok && r.value.headers).toEqual(["content-type", "a/b", "x-dup", "1", "X-Dup", "2", "user-agent", "ua"]);
    expect(out.includes(Buffer.from([0xa0, 0x07]))).toBe(true);
    expect(out.includes(Buffer.from([0xa0, 0x0e]))).toBe(true);
  });

  it("reports headers that do not fit one packet instead of writing a malformed one", () => {
    const big = "x".repeat(8192);
    expect(new ForwardRequestEncoder(8192).encode({ ...GET_REQUEST, headers: ["Cookie", big] })).toBeUndefined();
    // the same request fits a 64 KiB packet
    const out = new ForwardRequestEncoder(65536).encode({ ...GET_REQUEST, headers: ["Cookie", big] });
    expect(out?.readUInt16BE(2)).toBe(out!.length - 4);
  });

  it("refuses a header name 0xA000 bytes long or more, which the node would read as a coded header", () => {
    const enc = new ForwardRequestEncoder(65536);
    expect(enc.encode({ ...GET_REQUEST, headers: ["n".repeat(0xa000 - 1), "v"] })).toBeDefined();
    expect(enc.encode({ ...GET_REQUEST, headers: ["n".repeat(0xa000), "v"] })).toBeUndefined();
    // A value that long is fine: only names can be codes.
    expect(enc.encode({ ...GET_REQUEST, headers: ["x-long", "v".repeat(0xa010)] })).toBeDefined();
  });

  it("fits exactly at the packet boundary and fails one byte later", () => {
    const base = encodeForwardRequestInto({ ...GET_REQUEST, headers: ["x-pad", ""] }, Buffer.alloc(8192));
    const room = 8192 - base;
    expect(encodeForwardRequestInto({ ...GET_REQUEST, headers: ["x-pad", "p".repeat(room)] }, Buffer.alloc(8192))).toBe(8192);
    expect(encodeForwardRequestInto({ ...GET_REQUEST, headers: ["x-pad", "p".repeat(room + 1)] }, Buffer.alloc(8192))).toBe(-1);
  });
});

describe("response packets: byte-exact vectors (docs/ajp13.md, Worked examples)", () => {
  const SEND_HEADERS = hex(`
0000  41 42 00 4c 04 00 c8 00 03 32 30 30 00 00 02 a0
0010  01 00 10 61 70 70 6c 69 63 61 74 69 6f 6e 2f 6a
0020  73 6f 6e 00 a0 07 00 27 4a 53 45 53 53 49 4f 4e
0030  49 44 3d 30 66 33 63 39 61 2e 4f 58 31 3b 20 50
0040  61 74 68 3d 2f 3b 20 48 74 74 70 4f 6e 6c 79 00
`);
  const BODY = hex(`
0000  41 42 00 13 03 00 0f 7b 22 64 61 74 61 22 3a 22
0010  70 6f 6e 67 22 7d 00
`);
  const headers = ["Content-Type", "application/json", "Set-Cookie", "JSESSIONID=0f3c9a.OX1; Path=/; HttpOnly"];

  it("SEND_HEADERS decodes and re-encodes exactly", () => {
    const r = decodeContainerMessage(SEND_HEADERS.subarray(4));
    expect(r).toEqual({ ok: true, value: { type: "headers", status: 200, reason: "200", headers } });
    expect(encodeSendHeaders(200, "200", headers)?.toString("hex")).toBe(SEND_HEADERS.toString("hex"));
  });

  it("SEND_BODY_CHUNK decodes and re-encodes exactly", () => {
    const r = decodeContainerMessage(BODY.subarray(4));
    expect(r.ok && r.value.type === "body" && r.value.data.toString()).toBe('{"data":"pong"}');
    expect(encodeBodyChunk(Buffer.from('{"data":"pong"}')).toString("hex")).toBe(BODY.toString("hex"));
  });

  it("flush, END_RESPONSE, GET_BODY_CHUNK, CPong", () => {
    expect(encodeBodyChunk(Buffer.alloc(0)).toString("hex")).toBe("4142000403000000");
    expect(encodeEndResponse(true).toString("hex")).toBe("414200020501");
    expect(encodeEndResponse(false).toString("hex")).toBe("414200020500");
    expect(encodeGetBodyChunk(8186).toString("hex")).toBe("41420003061ffa");
    expect(decodeContainerMessage(Buffer.from("0501", "hex"))).toEqual({ ok: true, value: { type: "end", reuse: true } });
    expect(decodeContainerMessage(Buffer.from("0500", "hex"))).toEqual({ ok: true, value: { type: "end", reuse: false } });
    expect(decodeContainerMessage(Buffer.from("061ffa", "hex"))).toEqual({ ok: true, value: { type: "get-body", length: 8186 } });
    expect(decodeContainerMessage(CPONG_PACKET.subarray(4))).toEqual({ ok: true, value: { type: "cpong" } });
    expect(CPING_PACKET.toString("hex")).toBe("123400010a");
    const e = decodeContainerMessage(Buffer.from("4142000403000000", "hex").subarray(4));
    expect(e.ok && e.value.type === "body" && e.value.data.length).toBe(0);
  });

  it("body packets (docs/ajp13.md, Worked examples): POST {\"x\":1}, the empty end packet", () => {
    expect(encodeBodyPacket(Buffer.from('{"x":1}')).toString("hex")).toBe("1234000900077b2278223a317d");
    expect(EMPTY_BODY_PACKET.toString("hex")).toBe("12340000");
    const full = Buffer.alloc(8192, 0xee);
    expect(writeBodyPacketHeader(full, 8186)).toBe(8192);
    expect(full.subarray(0, 7).toString("hex")).toBe("12341ffc1ffaee"); // the data behind the header is left alone
    expect(maxBodyChunk(8192)).toBe(8186);
    expect(maxBodyChunk(65536)).toBe(65530);
    const d = decodeBodyPacket(Buffer.from("00077b2278223a317d", "hex"));
    expect(d.ok && d.value.toString()).toBe('{"x":1}');
    expect(decodeBodyPacket(Buffer.alloc(0))).toEqual({ ok: true, value: Buffer.alloc(0) });
  });
});

describe("framing", () => {
  it("reassembles packets split at every byte and several packets in one read", () => {
    const stream = Buffer.concat([encodeSendHeaders(200, "OK", ["A", "b"])!, encodeBodyChunk(Buffer.from("hello")), encodeEndResponse(true)]);
    for (let split = 1; split < stream.length; split++) {
      const r = new PacketReader(MAGIC_TO_PROXY, 8188);
      const got: string[] = [];
      for (const part of [stream.subarray(0, split), stream.subarray(split)]) {
        r.push(part);
        for (let f = r.next(); f.kind === "packet"; f = r.next()) got.push(f.payload.toString("hex"));
      }
      expect(got.length).toBe(3);
      expect(r.buffered).toBe(0);
    }
  });

  it("rejects bad magic and over-long packets, and stays failed", () => {
    const r = new PacketReader(MAGIC_TO_PROXY, 8188);
    r.push(Buffer.from("1234000105", "hex"));
    expect(r.next()).toMatchObject({ kind: "error" });
    r.push(CPONG_PACKET);
    expect(r.next()).toMatchObject({ kind: "error" });
    const r2 = new PacketReader(MAGIC_TO_PROXY, 8188);
    r2.push(Buffer.from("41421ffd", "hex"));
    expect(r2.next()).toMatchObject({ kind: "error", reason: expect.stringContaining("exceeds") });
    const r3 = new PacketReader(MAGIC_TO_CONTAINER, 8188);
    r3.push(CPING_PACKET);
    expect(r3.next()).toMatchObject({ kind: "packet" });
  });

  it("lets the caller reuse its read buffer: retain() keeps the unfinished packet intact", () => {
    const packets = [encodeBodyChunk(Buffer.alloc(5000, 1)), encodeBodyChunk(Buffer.alloc(7000, 2)), encodeEndResponse(true)];
    const stream = Buffer.concat(packets);
    for (const readSize of [3, 100, 4096, 6000, 16384]) {
      const r = new PacketReader(MAGIC_TO_PROXY, 8188);
      const readBuf = Buffer.alloc(readSize);
      const got: Buffer[] = [];
      for (let at = 0; at < stream.length; at += readSize) {
        const n = stream.copy(readBuf, 0, at, at + readSize);
        r.push(readBuf.subarray(0, n));
        for (let f = r.next(); f.kind === "packet"; f = r.next()) got.push(Buffer.from(f.payload));
        r.retain();
        r.release(false);
        readBuf.fill(0xee); // the caller's next read overwrites the same memory
      }
      expect(got.map((p) => p.toString("hex"))).toEqual(packets.map((p) => p.subarray(4).toString("hex")));
    }
  });

  it("reads the rest of a large packet into place (fillTarget/filled), with any read sizes, and keeps held packets intact", () => {
    const MAX = 65532; // payload limit for 64 KiB packets
    fc.assert(
      fc.property(
        // SEND_BODY_CHUNK payload: type, length, data, NUL.
        fc.array(fc.integer({ min: 0, max: MAX - 4 }), { minLength: 1, maxLength: 12 }),
        fc.array(fc.integer({ min: 1, max: 140_000 }), { minLength: 1, maxLength: 40 }),
        fc.array(fc.boolean(), { minLength: 1, maxLength: 40 }),
        (sizes, readSizes, holds) => {
          const packets = sizes.map((n, i) => encodeBodyChunk(Buffer.alloc(n, (i * 37 + 11) & 0xff)));
          const stream = Buffer.concat(packets);
          const r = new PacketReader(MAGIC_TO_PROXY, MAX);
          let readBuf = Buffer.alloc(131072);
          const got: Buffer[] = []; // views, kept as handed out: a held one must never change afterwards
          let at = 0;
          let filledReads = 0;
          for (let step = 0; at < stream.length; step++) {
            // Tiny reads are covered by the split-at-every-byte tests; here they would only make 65 k steps.
            const want = Math.max(257, readSizes[step % readSizes.length]);
            const target = r.fillTarget();
            if (target) {
              const n = stream.copy(target, 0, at, at + Math.min(want, target.length));
              r.filled(n);
              at += n;
              filledReads++;
            } else {
              const n = stream.copy(readBuf, 0, at, at + Math.min(want, readBuf.length));
              r.push(readBuf.subarray(0, n));
              at += n;
            }
            const before = got.length;
            for (let f = r.next(); f.kind === "packet"; f = r.next()) got.push(f.payload);
            const held = holds[step % holds.length];
            r.retain();
            r.release(held);
            if (held) readBuf = Buffer.alloc(131072);
            else {
              // Not held: the caller is done with this step's packets (copy them) and reuses its buffer.
              for (let i = before; i < got.length; i++) got[i] = Buffer.from(got[i]);
              readBuf.fill(0xee);
            }
          }
          expect(got.length).toBe(packets.length);
          got.forEach((p, i) => expect(p.equals(packets[i].subarray(4)), `packet ${i}`).toBe(true));
          expect(r.buffered).toBe(0);
          // Large packets split over reads did take the in-place path.
          if (sizes.some((n) => n > 40_000) && readSizes.every((n) => n < 20_000)) expect(filledReads).toBeGreaterThan(0);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("returns body data as a view, not a copy, when the packet lies in one read", () => {
    const chunk = encodeBodyChunk(Buffer.from("zero-copy"));
    const r = new PacketReader(MAGIC_TO_PROXY, 8188);
    r.push(chunk);
    const f = r.next();
    expect(f.kind).toBe("packet");
    if (f.kind !== "packet") return;
    const m = decodeContainerMessage(f.payload);
    expect(m.ok && m.value.type === "body" && m.value.data.buffer).toBe(chunk.buffer);
  });
});

// ---- properties ------------------------------------------------------------

const latin1 = (max: number) =>
  fc.string({ unit: fc.integer({ min: 0x20, max: 0xff }).map((c) => String.fromCharCode(c)), maxLength: max });
const token = fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,20}$/);

const forwardRequestArb: fc.Arbitrary<ForwardRequest> = fc.record(
  {
    method: fc.oneof(fc.constantFrom(...METHOD_CODES.keys()), fc.constantFrom("PATCH", "CONNECT", "X-CUSTOM")),
    protocol: fc.constantFrom("HTTP/1.1", "HTTP/1.0", "HTTP/2"),
    uri: latin1(200).map((s) => "/" + s),
    remoteAddr: fc.oneof(fc.ipV4(), fc.ipV6()),
    remoteHost: fc.option(fc.ipV4(), { nil: null }),
    serverName: fc.domain(),
    serverPort: fc.integer({ min: 0, max: 65535 }),
    isSsl: fc.boolean(),
    headers: fc.array(fc.tuple(fc.oneof(token, fc.constantFrom("Accept", "cookie", "HOST", "Content-Length")), latin1(100)), { maxLength: 20 }).map((pairs) => pairs.flat()),
    queryString: fc.option(latin1(100), { nil: undefined }),
    route: fc.option(fc.stringMatching(/^[A-Za-z0-9]{1,10}$/), { nil: undefined }),
    secret: fc.option(fc.stringMatching(/^[ -~]{1,40}$/), { nil: undefined }),
    remotePort: fc.option(fc.integer({ min: 1, max: 65535 }).map(String), { nil: undefined }),
    localAddr: fc.option(fc.ipV4(), { nil: undefined }),
    sslProtocol: fc.option(fc.constantFrom("TLSv1.3", "TLSv1.2"), { nil: undefined }),
  },
  { requiredKeys: ["method", "protocol", "uri", "remoteAddr", "remoteHost", "serverName", "serverPort", "isSsl", "headers"] },
);

const lowerCoded = (name: string) =>
  ["accept", "accept-charset", "accept-encoding", "accept-language", "authorization", "connection", "content-type", "content-length", "cookie", "cookie2", "host", "pragma", "referer", "user-agent"].includes(name.toLowerCase())
    ? name.toLowerCase()
    : name;

const containerMessageArb: fc.Arbitrary<ContainerMessage> = fc.oneof(
  fc.record({
    type: fc.constant("headers" as const),
    status: fc.integer({ min: 100, max: 999 }),
    reason: latin1(20),
    headers: fc.array(fc.tuple(fc.oneof(token, fc.constantFrom("Content-Type", "Set-Cookie", "Location")), latin1(60)), { maxLength: 15 }).map((p) => p.flat()),
  }),
  fc.record({ type: fc.constant("body" as const), data: fc.uint8Array({ maxLength: 8184 }).map((a) => Buffer.from(a)) }),
  fc.record({ type: fc.constant("end" as const), reuse: fc.boolean() }),
  fc.record({ type: fc.constant("get-body" as const), length: fc.integer({ min: 0, max: 65535 }) }),
  fc.constant({ type: "cpong" as const }),
);

function encodeContainer(m: ContainerMessage): Buffer {
  switch (m.type) {
    case "headers": return encodeSendHeaders(m.status, m.reason, m.headers)!;
    case "body": return encodeBodyChunk(m.data);
    case "end": return encodeEndResponse(m.reuse);
    case "get-body": return encodeGetBodyChunk(m.length);
    case "cpong": return CPONG_PACKET;
  }
}

const canonicalResponseName = (n: string) => {
  const lower = n.toLowerCase();
  const known = ["Content-Type", "Content-Language", "Content-Length", "Date", "Last-Modified", "Location", "Set-Cookie", "Set-Cookie2", "Servlet-Engine", "Status", "WWW-Authenticate"];
  return known.find((k) => k.toLowerCase() === lower) ?? n;
};

describe("properties (fast-check)", () => {
  it("forward request: encode → decode round-trips", () => {
    fc.assert(
      fc.property(forwardRequestArb, (req) => {
        const out = new ForwardRequestEncoder(65536).encode(req);
        if (!out) return; // did not fit: a reported condition, not a malformed packet
        expect(out.readUInt16BE(2)).toBe(out.length - 4);
        const r = decodeForwardRequest(out.subarray(4));
        expect(r.ok).toBe(true);
        if (!r.ok) return;
        expect(r.value.method).toBe(req.method);
        expect(r.value.uri).toBe(req.uri);
        expect(r.value.headers).toEqual(req.headers.map((h, i) => (i % 2 === 0 ? lowerCoded(h) : h)));
        expect(r.value.queryString).toBe(req.queryString);
        expect(r.value.secret).toBe(req.secret);
        expect(r.value.route).toBe(req.route || undefined);
        expect(r.value.remotePort).toBe(req.remotePort);
        expect(r.value.remoteHost).toBe(req.remoteHost);
        expect(r.value.isSsl).toBe(req.isSsl);
        expect(r.value.serverPort).toBe(req.serverPort);
      }),
      { numRuns: 300 },
    );
  });

  it("container messages: encode → frame → decode round-trips", () => {
    fc.assert(
      fc.property(containerMessageArb, fc.integer({ min: 1, max: 50 }), (m, splitEvery) => {
        const bytes = encodeContainer(m);
        const r = new PacketReader(MAGIC_TO_PROXY, 8188);
        let frame;
        for (let i = 0; i < bytes.length; i += splitEvery) r.push(bytes.subarray(i, i + splitEvery));
        frame = r.next();
        expect(frame.kind).toBe("packet");
        if (frame.kind !== "packet") return;
        const d = decodeContainerMessage(frame.payload);
        expect(d.ok).toBe(true);
        if (!d.ok) return;
        if (m.type === "headers" && d.value.type === "headers") {
          expect(d.value.status).toBe(m.status);
          expect(d.value.headers).toEqual(m.headers.map((h, i) => (i % 2 === 0 ? canonicalResponseName(h) : h)));
        } else {
          expect(d.value).toEqual(m);
        }
      }),
      { numRuns: 500 },
    );
  });

  it("every truncation of a container message is an error value, never a throw", () => {
    fc.assert(
      fc.property(containerMessageArb, (m) => {
        const payload = encodeContainer(m).subarray(4);
        for (let cut = 0; cut < payload.length; cut++) {
          const d = decodeContainerMessage(payload.subarray(0, cut));
          expect(d.ok).toBe(false);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("every truncation of a forward request is an error value", () => {
    fc.assert(
      fc.property(forwardRequestArb, (req) => {
        const out = new ForwardRequestEncoder(65536).encode(req);
        if (!out) return;
        const payload = out.subarray(4);
        for (let cut = 0; cut < payload.length; cut++) {
          expect(decodeForwardRequest(payload.subarray(0, cut)).ok).toBe(false);
        }
      }),
      { numRuns: 100 },
    );
  });

  it("corrupted bytes never make a decoder throw, and the framing reader never hangs", () => {
    fc.assert(
      fc.property(containerMessageArb, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), (m, flips) => {
        const bytes = Buffer.from(encodeContainer(m));
        for (const [at, v] of flips) bytes[at % bytes.length] = v;
        const r = new PacketReader(MAGIC_TO_PROXY, 8188);
        r.push(bytes);
        // bounded: each call either consumes a packet, needs more, or fails for good
        for (let i = 0; i < bytes.length + 2; i++) {
          const f = r.next();
          if (f.kind !== "packet") break;
          const d = decodeContainerMessage(f.payload);
          expect(typeof d.ok).toBe("boolean");
        }
        const fr = decodeForwardRequest(bytes);
        expect(typeof fr.ok).toBe("boolean");
      }),
      { numRuns: 1000 },
    );
  });

  it("random garbage is an error value for every decoder", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (a) => {
        const b = Buffer.from(a);
        expect(typeof decodeContainerMessage(b).ok).toBe("boolean");
        expect(typeof decodeForwardRequest(b).ok).toBe("boolean");
        expect(typeof decodeBodyPacket(b).ok).toBe("boolean");
      }),
      { numRuns: 2000 },
    );
  });
});
