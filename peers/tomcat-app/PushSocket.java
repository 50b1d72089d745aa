package oxedge.testapp;

import jakarta.servlet.http.HttpSession;
import jakarta.websocket.CloseReason;
import jakarta.websocket.EndpointConfig;
import jakarta.websocket.HandshakeResponse;
import jakarta.websocket.OnError;
import jakarta.websocket.OnMessage;
import jakarta.websocket.OnOpen;
import jakarta.websocket.Session;
import jakarta.websocket.server.HandshakeRequest;
import jakarta.websocket.server.ServerEndpoint;
import jakarta.websocket.server.ServerEndpointConfig;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The stand-in for OX's WebSocket push (socket.io) on a node, with Tomcat's own JSR 356
 * implementation. It echoes every message, pushes on request and closes with a given code, and
 * its first message names the node and the HTTP session the handshake carried, so a test sees
 * which node a socket reached and whether it followed the session's route.
 *
 * <ul>
 *   <li>on open: {@code hello node=<jvmRoute> session=<HTTP session id or none>}</li>
 *   <li>{@code push N} (0 ≤ N ≤ 100000): N text messages {@code push i/N node=<jvmRoute>}, i = 1..N</li>
 *   <li>{@code close CODE [REASON]}: closes with that code and reason</li>
 *   <li>any other text or binary message: sent back unchanged, as one message</li>
 * </ul>
 */
@ServerEndpoint(value = "/socket.io/ws", configurator = PushSocket.HandshakeSession.class)
public class PushSocket {
    /** Same value as the Engine's jvmRoute (the launcher passes both). */
    private static final String NODE = System.getProperty("jvmRoute", "");

    /** Largest message echoed, text in chars, binary in bytes; a larger one is closed with 1009. */
    static final int MAX_MESSAGE = 16 * 1024 * 1024;

    private static final int MAX_PUSH = 100_000;
    private static final Pattern PUSH = Pattern.compile("push (\\d{1,6})");
    private static final Pattern CLOSE = Pattern.compile("close (\\d{4})(?: (.*))?", Pattern.DOTALL);
    private static final String SESSION_ID = "oxedge.httpSessionId";

    /**
     * Puts the id of the handshake's HTTP session (if the request carried a valid one) where the
     * endpoint can read it. Tomcat hands each handshake its own copy of the config, so the
     * property belongs to this socket alone.
     */
    public static class HandshakeSession extends ServerEndpointConfig.Configurator {
        @Override
        public void modifyHandshake(ServerEndpointConfig config, HandshakeRequest request, HandshakeResponse response) {
            Object session = request.getHttpSession();
            if (session instanceof HttpSession http) {
                config.getUserProperties().put(SESSION_ID, http.getId());
            }
        }
    }

    // Messages arrive in parts, not whole: for a whole message Tomcat allocates a buffer of the
    // session's maximum size per socket, whatever the message's size (16 Mi chars are 32 MiB of
    // heap), which a node with a few dozen sockets could not hold. Parts are kept only while
    // their message lasts, so memory follows what was actually sent.
    private final StringBuilder text = new StringBuilder();
    private final List<ByteBuffer> binary = new ArrayList<>();
    private long binaryLength;

    @OnOpen
    public void open(Session session, EndpointConfig config) throws IOException {
        Object id = config.getUserProperties().get(SESSION_ID);
        session.getBasicRemote().sendText("hello node=" + NODE + " session=" + (id == null ? "none" : id));
    }

    @OnMessage
    public void onText(Session session, String part, boolean last) throws IOException {
        if (text.length() + (long) part.length() > MAX_MESSAGE) {
            tooBig(session);
            return;
        }
        text.append(part);
        if (!last) {
            return;
        }
        String message = text.toString();
        text.setLength(0);
        Matcher push = PUSH.matcher(message);
        Matcher close = CLOSE.matcher(message);
        if (push.matches() && Integer.parseInt(push.group(1)) <= MAX_PUSH) {
            int n = Integer.parseInt(push.group(1));
            for (int i = 1; i <= n && session.isOpen(); i++) {
                session.getBasicRemote().sendText("push " + i + "/" + n + " node=" + NODE);
            }
        } else if (close.matches()) {
            int code = Integer.parseInt(close.group(1));
            String reason = close.group(2) == null ? "" : close.group(2);
            session.close(new CloseReason(CloseReason.CloseCodes.getCloseCode(code), reason));
        } else {
            session.getBasicRemote().sendText(message);
        }
    }

    @OnMessage
    public void onBinary(Session session, ByteBuffer part, boolean last) throws IOException {
        if (binaryLength + part.remaining() > MAX_MESSAGE) {
            tooBig(session);
            return;
        }
        // The part's buffer is Tomcat's and is reused for the next part.
        ByteBuffer copy = ByteBuffer.allocate(part.remaining());
        copy.put(part).flip();
        binary.add(copy);
        binaryLength += copy.remaining();
        if (!last) {
            return;
        }
        ByteBuffer message;
        if (binary.size() == 1) {
            message = binary.get(0);
        } else {
            message = ByteBuffer.allocate((int) binaryLength);
            for (ByteBuffer b : binary) {
                message.put(b);
            }
            message.flip();
        }
        binary.clear();
        binaryLength = 0;
        session.getBasicRemote().sendBinary(message);
    }

    private void tooBig(Session session) throws IOException {
        text.setLength(0);
        binary.clear();
        binaryLength = 0;
        if (session.isOpen()) {
            session.close(new CloseReason(CloseReason.CloseCodes.TOO_BIG, "message over " + MAX_MESSAGE));
        }
    }

    /**
     * Tests abort sockets on purpose; without this method Tomcat logs each such abort as an
     * error of an endpoint without error handling.
     */
    @OnError
    public void onError(Session session, Throwable error) {
        text.setLength(0);
        binary.clear();
        binaryLength = 0;
    }
}
