/**
 * A stand-in for the bridge, for worker tests only: it checks the hand-off
 * signature exactly as the real bridge must (common/signing.ts) and answers
 * like a demo node's echo. The real bridge and AJP nodes replace it in the
 * integration tests.
 */
import http from "node:http";
import { createHash, randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import { HANDOFF_HEADERS, fieldsFromHeaders, verify } from "../../common/signing.ts";

export interface StubRequest {
  method: string;
  /** Request-target as received (path + query). */
  target: string;
  headers: http.IncomingHttpHeaders;
  signatureOk: boolean;
  reason?: string;
  bodyLength: number;
  bodySha256: string;
}

export interface StubBridge {
  url: string;
  port: number;
  requests: StubRequest[];
  /** Requests whose path (without query) equals or starts with `prefix`. */
  countPath(prefix: string): number;
  close(): Promise<void>;
}

export interface StubOptions {
  secret: string;
  /** Allowed clock skew for x-oxedge-ts, seconds. */
  windowSeconds?: number;
}

const ROUTES = ["OX1", "OX2"];

function header(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(", ") : v;
}

export async function startStubBridge(opts: StubOptions): Promise<StubBridge> {
  const requests: StubRequest[] = [];
  let next = 0;
  const seenNonces = new Set<string>();

  const server = http.createServer(async (req, res) => {
    const hash = createHash("sha256");
    let bodyLength = 0;
    for await (const chunk of req) {
      bodyLength += (chunk as Buffer).length;
      hash.update(chunk as Buffer);
    }
    const method = req.method ?? "GET";
    const target = req.url ?? "/";
    const fields = fieldsFromHeaders(method, target, (n) => header(req, n));
    const sig = header(req, HANDOFF_HEADERS.sig) ?? "";
    let ok = false;
    let reason = "missing fields";
    if (fields) {
      const r = await verify(opts.secret, fields, sig, Math.floor(Date.now() / 1000), opts.windowSeconds ?? 30);
      ok = r.ok;
      reason = r.ok ? "" : r.reason;
      if (ok && seenNonces.has(fields.nonce)) {
        ok = false;
        reason = "replayed nonce";
      }
      if (ok) seenNonces.add(fields.nonce);
    }
    const bodySha256 = hash.digest("hex");
    requests.push({ method, target, headers: req.headers, signatureOk: ok, reason: ok ? undefined : reason, bodyLength, bodySha256 });

    if (!ok) {
      res.writeHead(401, { "content-type": "text/plain" });
      res.end(`401 bad-signature\n${reason}\n`);
      return;
    }
    const route = fields!.route;
    const node = route || ROUTES[next++ % ROUTES.length];
    const headers: http.OutgoingHttpHeaders = {
      "content-type": "application/json",
      [HANDOFF_HEADERS.servedBy]: node,
    };
    // Like a demo OX node: a login starts a session bound to this node.
    if (target.startsWith("/ajax/login")) {
      // OX sets more cookies next to JSESSIONID; every Set-Cookie must survive the edge.
      headers["set-cookie"] = [
        `JSESSIONID=${randomBytes(8).toString("hex")}.${node}; Path=/; HttpOnly`,
        `open-xchange-session-0a1b=${randomBytes(8).toString("hex")}; Path=/; HttpOnly`,
      ];
    }
    // A node's redirect must reach the client, not be followed at the edge.
    if (target.startsWith("/ajax/redirect")) {
      res.writeHead(302, { ...headers, location: "/ajax/after-redirect", "content-type": "text/plain" });
      res.end("moved");
      return;
    }
    res.writeHead(200, headers);
    res.end(
      JSON.stringify({ node, method, target, headers: req.headers, route, bodyLength, bodySha256 }),
    );
  });

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    countPath(prefix: string) {
      return requests.filter((r) => r.target.split("?")[0].startsWith(prefix)).length;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A port nothing listens on (reported free, never handed out twice). */
export { freePort as closedPort } from "../../peers/ports.ts";
