/**
 * `npm start`'s plain-HTTP port: what port 80 is at the edge. wrangler dev
 * serves one protocol per port, and the worker under it sees that port's
 * scheme whatever the client used, so it can never see plain http there.
 * This listener hands each request to a second instance of the worker, in
 * Miniflare (the test harness's, which keeps a URL's scheme), under the URL
 * Cloudflare would give it: http://<the host the client named>:<the HTTPS
 * port><path>, as if both ports were 80 and 443 of one name. So the worker's
 * own redirect answers, and its Location points at the HTTPS port.
 *
 *   node --import tsx scripts/plain-http.ts --port 8080 --https-port 8787 --vars FILE
 */
import http from "node:http";
import { readFileSync } from "node:fs";
import { Readable } from "node:stream";
import { parseArgs } from "node:util";
import { startWorker } from "../peers/miniflare.ts";

const { values } = parseArgs({ options: { port: { type: "string" }, "https-port": { type: "string" }, vars: { type: "string" } } });
const httpsPort = Number(values["https-port"]);
// The same KEY=VALUE file wrangler dev reads, so both instances have one configuration.
const vars = Object.fromEntries(
  readFileSync(values.vars!, "utf8")
    .split("\n")
    .filter((l) => l.includes("="))
    .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
);
const worker = await startWorker(vars);

/** Hop-by-hop and framing headers stay with this connection; fetch sets its own. */
const LOCAL = new Set(["host", "connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection", "te", "trailer"]);

const server = http.createServer(async (req, res) => {
  try {
    const host = new URL(`http://${req.headers.host ?? "127.0.0.1"}`).hostname;
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !LOCAL.has(k)) headers.set(k, Array.isArray(v) ? v.join(", ") : v);
    const hasBody = req.method !== "GET" && req.method !== "HEAD";
    const r = await worker.fetch(`http://${host.includes(":") ? `[${host}]` : host}:${httpsPort}${req.url}`, {
      method: req.method,
      headers,
      ...(hasBody ? { body: Readable.toWeb(req) as ReadableStream, duplex: "half" } : {}),
    } as RequestInit);
    const out: Record<string, string | string[]> = {};
    // mf-*: Miniflare's own bookkeeping, not the worker's answer.
    r.headers.forEach((v, k) => void (k.startsWith("mf-") || LOCAL.has(k) || (out[k] = v)));
    if (r.headers.getSetCookie().length) out["set-cookie"] = r.headers.getSetCookie();
    res.writeHead(r.status, out);
    if (r.body) Readable.fromWeb(r.body as import("node:stream/web").ReadableStream).pipe(res);
    else res.end();
  } catch (e) {
    res.writeHead(502, { "content-type": "text/plain" }).end(`plain-http: ${(e as Error).message}\n`);
  }
});
server.listen(Number(values.port), "127.0.0.1", () => console.log(`plain http on http://127.0.0.1:${values.port}/ → the worker's redirect to https://…:${httpsPort}/`));

for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.once(sig, () => {
    server.close();
    void worker.dispose().finally(() => process.exit(0));
  });
}
