/**
 * A fake AJP node whose answer a test scripts packet by packet, to play a
 * broken or hostile node: garbage, truncation, resets, endless bodies,
 * interim statuses. It answers CPing (so health checks and pings see a live
 * node) and counts the connections it holds, for the accounting checks.
 */
import net from "node:net";
import { CPONG_PACKET, MAGIC_TO_CONTAINER, ProxyMsg } from "../../bridge/ajp/codes.ts";
import { decodeForwardRequest, type DecodedForwardRequest, encodeBodyChunk, encodeEndResponse, encodeSendHeaders } from "../../peers/ajp-container.ts";
import { PacketReader } from "../../bridge/ajp/reader.ts";

/** What a script may send; `sock` is there for anything else (garbage, destroy). */
export interface NodeReply {
  sock: net.Socket;
  headers(status: number, headers?: string[]): void;
  body(data: Buffer | string): void;
  end(reuse?: boolean): void;
  /** A plain 200 with a short body, the connection kept. */
  ok(text?: string): void;
}

export type Script = (reply: NodeReply, req: DecodedForwardRequest) => void;

export interface ScriptedNode {
  port: number;
  /** Connections open on the node's side right now. */
  connections(): number;
  /** Forward Requests received. */
  requests(): number;
  close(): Promise<void>;
}

export async function startScriptedNode(script: Script, packetSize = 8192): Promise<ScriptedNode> {
  const sockets = new Set<net.Socket>();
  let requests = 0;
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on("close", () => sockets.delete(sock));
    sock.on("error", () => {});
    const reader = new PacketReader(MAGIC_TO_CONTAINER, packetSize - 4);
    const reply: NodeReply = {
      sock,
      headers: (status, headers = []) => void sock.write(encodeSendHeaders(status, String(status), headers)!),
      body: (data) => void sock.write(encodeBodyChunk(Buffer.from(data))),
      end: (reuse = true) => void sock.write(encodeEndResponse(reuse)),
      ok: (text = "ok") => {
        reply.headers(200, ["Content-Length", String(Buffer.byteLength(text))]);
        reply.body(text);
        reply.end(true);
      },
    };
    sock.on("data", (c) => {
      reader.push(c);
      for (let f = reader.next(); f.kind === "packet"; f = reader.next()) {
        const p = f.payload;
        if (p.length === 1 && p[0] === ProxyMsg.CPing) {
          sock.write(CPONG_PACKET);
          continue;
        }
        // Body packets have no type byte of their own; only Forward Requests decode.
        if (p[0] !== ProxyMsg.ForwardRequest) continue;
        const d = decodeForwardRequest(p);
        if (!d.ok) continue;
        requests++;
        script(reply, d.value);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => sockets.size,
    requests: () => requests,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
