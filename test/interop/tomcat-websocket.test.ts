/**
 * The test app's WebSocket endpoint (`/socket.io/ws`, Tomcat's own JSR 356 implementation),
 * straight on Tomcat's HTTP port, through peers/ws-client.ts: what the bridge's WebSocket
 * relay and httpd's mod_proxy_wstunnel are measured against.
 */
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkInteropPrereqs } from "../../peers/prereqs.ts";
import { startTomcatCluster, type TomcatNode } from "../../peers/tomcat.ts";
import { OPCODE, WsHandshakeError, wsConnect, type WsClient } from "../../peers/ws-client.ts";

const sha256 = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");
const MiB = 1024 * 1024;

describe.runIf(checkInteropPrereqs().ok)("WebSocket endpoint of the Tomcat test app", () => {
  let ox1: TomcatNode;
  let ox2: TomcatNode;
  const open: WsClient[] = [];

  const url = (node: TomcatNode, p = "/socket.io/ws") => `ws://127.0.0.1:${node.httpPort}${p}`;
  async function connect(node: TomcatNode, headers?: Record<string, string>): Promise<WsClient> {
    const ws = await wsConnect(url(node), { headers });
    open.push(ws);
    return ws;
  }
  async function login(node: TomcatNode): Promise<{ cookie: string; id: string }> {
    const res = await fetch(`http://127.0.0.1:${node.httpPort}/ajax/login`);
    const { sessionId } = (await res.json()) as { sessionId: string };
    return { cookie: `JSESSIONID=${sessionId}`, id: sessionId };
  }

  beforeAll(async () => {
    [ox1, ox2] = await startTomcatCluster(["OX1", "OX2"]);
  });

  afterAll(async () => {
    for (const ws of open) ws.terminate();
    await Promise.all([ox1?.stop(), ox2?.stop()]);
  });

  it("is deployed by Tomcat's WebSocket initializer and says hello with its node", async () => {
    const ws = await connect(ox1);
    expect(ws.headers["upgrade"]).toBe("websocket");
    expect(await ws.nextText()).toBe("hello node=OX1 session=none");
    const log = fs.readFileSync(path.join(ox1.baseDir, "logs/console.log"), "utf8");
    expect(log).not.toMatch(/SEVERE|Exception/);
    await ws.close();
  });

  it("names the HTTP session of the handshake, and only on the session's own node", async () => {
    const { cookie, id } = await login(ox1);
    expect(id).toMatch(/\.OX1$/);
    const home = await connect(ox1, { cookie });
    expect(await home.nextText()).toBe(`hello node=OX1 session=${id}`);
    const elsewhere = await connect(ox2, { cookie });
    expect(await elsewhere.nextText()).toBe("hello node=OX2 session=none");
    await Promise.all([home.close(), elsewhere.close()]);
  });

  it("echoes text (any UTF-8) and binary messages unchanged, empty ones too", async () => {
    const ws = await connect(ox2);
    await ws.nextText();
    for (const text of ["hi", "", "grüße 👋 ✓", "push", "push x", "close", "close 99"]) {
      await ws.sendText(text);
      expect(await ws.nextText()).toBe(text);
    }
    for (const bytes of [Buffer.from([0, 1, 2, 255]), Buffer.alloc(0), randomBytes(70_000)]) {
      await ws.sendBinary(bytes);
      expect((await ws.nextBinary()).equals(bytes)).toBe(true);
    }
    await ws.close();
  });

  it("reassembles a fragmented message, split inside a UTF-8 character, and echoes it whole", async () => {
    const ws = await connect(ox1);
    await ws.nextText();
    const text = "€".repeat(5000); // 3 bytes each: 7-byte fragments split characters
    await ws.sendText(text, { fragmentSize: 7 });
    expect(await ws.nextText()).toBe(text);
    // A control frame between the fragments of a message is allowed.
    await ws.sendFrame(OPCODE.text, Buffer.from("ab"), { fin: false });
    expect(await ws.ping(Buffer.from("mid-message"))).toEqual(Buffer.from("mid-message"));
    await ws.sendFrame(OPCODE.continuation, Buffer.from("cd"));
    expect(await ws.nextText()).toBe("abcd");
    await ws.close();
  });

  it("pushes N messages from the server on `push N`", async () => {
    const ws = await connect(ox2);
    await ws.nextText();
    await ws.sendText("push 5");
    const got: string[] = [];
    for (let i = 0; i < 5; i++) got.push(await ws.nextText());
    expect(got).toEqual([1, 2, 3, 4, 5].map((i) => `push ${i}/5 node=OX2`));
    await ws.sendText("push 0");
    await ws.sendText("after");
    expect(await ws.nextText()).toBe("after");
    await ws.close();
  });

  it("closes with the code and reason of `close CODE REASON`", async () => {
    const ws = await connect(ox1);
    await ws.nextText();
    await ws.sendText("close 4001 going away, on purpose");
    expect(await ws.closed).toEqual({ code: 4001, reason: "going away, on purpose", closeFrame: true, initiator: "server", endedBy: "server" });
    const bare = await connect(ox1);
    await bare.nextText();
    await bare.sendText("close 1001");
    expect(await bare.closed).toMatchObject({ code: 1001, reason: "", initiator: "server" });
  });

  it("answers the client's close with the same code, and pings with pongs", async () => {
    const ws = await connect(ox2);
    await ws.nextText();
    expect(await ws.ping(Buffer.from("are you there"))).toEqual(Buffer.from("are you there"));
    // Tomcat answers with the client's code and reason both.
    expect(await ws.close(4100, "done")).toEqual({ code: 4100, reason: "done", closeFrame: true, initiator: "client", endedBy: "server" });
  });

  it("echoes 10 MiB text and binary messages, and closes with 1009 over 16 MiB", async () => {
    const ws = await connect(ox1);
    await ws.nextText();
    const text = randomBytes(5 * MiB).toString("hex"); // 10 MiB of ASCII
    await ws.sendText(text);
    const back = await ws.nextText(30_000);
    expect(back.length).toBe(text.length);
    expect(sha256(back)).toBe(sha256(text));
    const bytes = randomBytes(10 * MiB);
    await ws.sendBinary(bytes);
    expect(sha256(await ws.nextBinary(30_000))).toBe(sha256(bytes));
    // Exactly the limit still passes; one byte more does not.
    const limit = Buffer.alloc(16 * MiB, 7);
    await ws.sendBinary(limit);
    expect((await ws.nextBinary(30_000)).length).toBe(16 * MiB);
    await ws.sendBinary(Buffer.alloc(16 * MiB + 1, 7));
    expect(await ws.closed).toMatchObject({ code: 1009, closeFrame: true, initiator: "server" });
  }, 120_000);

  it("holds many sockets at once, each on its own stream of pushes", async () => {
    const sockets = await Promise.all(Array.from({ length: 20 }, () => connect(ox2)));
    await Promise.all(sockets.map((ws) => ws.nextText()));
    await Promise.all(sockets.map((ws, i) => ws.sendText(`push ${10 + i}`)));
    const counts = await Promise.all(
      sockets.map(async (ws, i) => {
        let last = "";
        for (let k = 0; k < 10 + i; k++) last = await ws.nextText();
        return last;
      }),
    );
    expect(counts).toEqual(sockets.map((_, i) => `push ${10 + i}/${10 + i} node=OX2`));
    await Promise.all(sockets.map((ws) => ws.close()));
  });

  it("closes with 1002 on an unmasked client frame", async () => {
    const ws = await connect(ox1);
    await ws.nextText();
    await ws.sendFrame(OPCODE.text, Buffer.from("no mask"), { mask: false });
    expect(await ws.closed).toMatchObject({ code: 1002, closeFrame: true, initiator: "server" });
  });

  it("leaves plain requests under /socket.io to the servlet; no upgrade on a path without an endpoint", async () => {
    const plain = await fetch(`http://127.0.0.1:${ox1.httpPort}/socket.io/echo?EIO=4&transport=polling`);
    expect(((await plain.json()) as { requestURI: string }).requestURI).toBe("/socket.io/echo");
    const err = await wsConnect(url(ox1, "/socket.io/other")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WsHandshakeError);
    expect((err as WsHandshakeError).status).toBe(404);
    expect(JSON.parse((err as WsHandshakeError).body)).toMatchObject({ node: "OX1", error: "unknown endpoint" });
  });
});
