package oxedge.testapp;

import jakarta.servlet.ServletException;
import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import jakarta.servlet.http.HttpSession;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.Collections;
import java.util.HexFormat;

/**
 * The stand-in for an OX node in interop tests. One servlet class serves every endpoint (web.xml
 * maps it twice, so the provisioning API is a servlet of its own) and the last path segment picks
 * the endpoint, so /ajax/echo, /servlet/x/echo and
 * /Microsoft-Server-ActiveSync/echo behave the same: tests can exercise the bridge's
 * per-prefix policies without a matching app per prefix.
 */
public class OxTestServlet extends HttpServlet {
    private static final long serialVersionUID = 1L;

    /** Same value as the Engine's jvmRoute (the launcher passes both), so bodies say which node answered. */
    private static final String NODE = System.getProperty("jvmRoute", "");

    /** The download pattern repeats every 256 bytes, so any 256-aligned buffer can be sent as is. */
    private static final byte[] PATTERN = new byte[64 * 1024];

    static {
        for (int i = 0; i < PATTERN.length; i++) {
            PATTERN[i] = (byte) ((i * 31 + 7) & 0xff);
        }
    }

    private static final SecureRandom RANDOM = new SecureRandom();

    @Override
    protected void service(HttpServletRequest req, HttpServletResponse resp) throws ServletException, IOException {
        // HttpServlet.service() answers 501 for methods it does not know (PATCH, PROPFIND, FOO);
        // the tests need every method to reach the endpoint. HEAD still goes through the base
        // class so Tomcat's own HEAD handling (GET minus the body) is what gets tested.
        if ("HEAD".equals(req.getMethod())) {
            super.service(req, resp);
        } else {
            dispatch(req, resp);
        }
    }

    @Override
    protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        dispatch(req, resp);
    }

    private void dispatch(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        String path = req.getPathInfo() != null ? req.getPathInfo() : req.getServletPath();
        String endpoint = path.substring(path.lastIndexOf('/') + 1);
        switch (endpoint) {
            case "echo" -> echo(req, resp);
            case "upload-digest" -> uploadDigest(req, resp);
            case "login" -> login(req, resp);
            case "session" -> session(req, resp);
            case "download" -> download(req, resp);
            case "status" -> status(req, resp);
            case "slow" -> slow(req, resp);
            case "cookies" -> cookies(req, resp);
            default -> {
                resp.setStatus(404);
                // Says where Tomcat mapped the request, so a path that does not end in a known
                // endpoint (`/echo.`, `/echo%00`) still shows which servlet it reached.
                json(resp, mapping(req, new Json().str("node", NODE).str("error", "unknown endpoint").str("path", path)));
            }
        }
    }

    private void echo(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        Json headers = new Json.Array();
        for (String name : Collections.list(req.getHeaderNames())) {
            for (String value : Collections.list(req.getHeaders(name))) {
                headers.raw(new Json.Array().str(null, name).str(null, value).toString());
            }
        }
        Digest body = digestBody(req);
        Json out = new Json()
                .str("node", NODE)
                .str("method", req.getMethod())
                .str("protocol", req.getProtocol())
                .str("requestURI", req.getRequestURI())
                .str("servletPath", req.getServletPath())
                .str("pathInfo", req.getPathInfo())
                .str("servletName", getServletName())
                .str("mappingPattern", req.getHttpServletMapping().getPattern())
                .str("queryString", req.getQueryString())
                .raw("headers", headers.toString())
                .str("remoteAddr", req.getRemoteAddr())
                .str("remoteHost", req.getRemoteHost())
                .num("remotePort", req.getRemotePort())
                .str("localAddr", req.getLocalAddr())
                .str("localName", req.getLocalName())
                .num("localPort", req.getLocalPort())
                .bool("isSecure", req.isSecure())
                .str("scheme", req.getScheme())
                .str("serverName", req.getServerName())
                .num("serverPort", req.getServerPort())
                .str("sessionId", req.getRequestedSessionId())
                .bool("sessionIdValid", req.isRequestedSessionIdValid())
                .bool("sessionIdFromCookie", req.isRequestedSessionIdFromCookie())
                .bool("sessionIdFromURL", req.isRequestedSessionIdFromURL())
                .num("bodyLength", body.length)
                .str("bodySha256", body.sha256)
                .str("contentLengthHeader", req.getHeader("Content-Length"));
        json(resp, out);
    }

    private Json mapping(HttpServletRequest req, Json out) {
        return out
                .str("requestURI", req.getRequestURI())
                .str("servletPath", req.getServletPath())
                .str("pathInfo", req.getPathInfo())
                .str("servletName", getServletName())
                .str("mappingPattern", req.getHttpServletMapping().getPattern());
    }

    private void uploadDigest(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        Digest body = digestBody(req);
        json(resp, new Json().str("node", NODE).num("bodyLength", body.length).str("bodySha256", body.sha256));
    }

    private void login(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        HttpSession session = req.getSession(true);
        // OX answers a login with its own session and secret cookies next to JSESSIONID; the
        // bridge must pass every Set-Cookie through separately.
        resp.addHeader("Set-Cookie", "open-xchange-session=" + randomHex(16) + "; Path=/; HttpOnly");
        resp.addHeader("Set-Cookie", "open-xchange-secret=" + randomHex(16) + "; Path=/; HttpOnly");
        // Where it was mapped too: a front door that rewrites the path (/appsuite/api → /ajax) is
        // checked by what the node saw.
        json(resp, mapping(req, new Json().str("node", NODE).str("sessionId", session.getId())));
    }

    private void session(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        json(resp, new Json()
                .str("node", NODE)
                .str("requestedSessionId", req.getRequestedSessionId())
                .bool("valid", req.isRequestedSessionIdValid()));
    }

    private void download(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        long size = longParam(req, "size", 0);
        boolean chunked = "1".equals(req.getParameter("chunked"));
        int piece = (int) Math.max(1, Math.min(PATTERN.length, longParam(req, "piece", 16 * 1024)));
        long pauseMs = longParam(req, "pauseMs", 0);
        resp.setStatus(200);
        resp.setContentType("application/octet-stream");
        if (!chunked) {
            resp.setContentLengthLong(size);
        }
        ServletOutputStream out = resp.getOutputStream();
        long sent = 0;
        while (sent < size) {
            int offset = (int) (sent % PATTERN.length);
            int n = (int) Math.min(size - sent, chunked ? Math.min(piece, PATTERN.length - offset) : PATTERN.length - offset);
            out.write(PATTERN, offset, n);
            sent += n;
            if (chunked) {
                // Without a length Tomcat only frames what was flushed; flushing per piece makes
                // the body arrive as many chunks, as a streaming OX response would.
                out.flush();
                sleep(pauseMs);
            }
        }
    }

    private void status(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        int code = (int) longParam(req, "code", 200);
        if ("sendError".equals(req.getParameter("mode"))) {
            // Lets a test see Tomcat's own error page instead of the node's body.
            resp.sendError(code, "node " + NODE + " says " + code);
            return;
        }
        resp.setStatus(code);
        if (code == 204 || code == 304 || code < 200) {
            return;
        }
        text(resp, "node " + NODE + " says " + code);
    }

    private void slow(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        sleep(Math.min(longParam(req, "ms", 1000), 15 * 60 * 1000));
        text(resp, "slow done");
    }

    private void cookies(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        resp.addHeader("Set-Cookie", "a=1; Path=/");
        resp.addHeader("Set-Cookie", "b=2; Path=/; HttpOnly");
        resp.addHeader("Set-Cookie", "c=3; Path=/ajax; Secure; SameSite=Lax");
        json(resp, new Json().str("node", NODE).num("cookies", 3));
    }

    private record Digest(long length, String sha256) {}

    private static Digest digestBody(HttpServletRequest req) throws IOException {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        long total = 0;
        byte[] buf = new byte[64 * 1024];
        try (InputStream in = req.getInputStream()) {
            int n;
            while ((n = in.read(buf)) != -1) {
                md.update(buf, 0, n);
                total += n;
            }
        }
        return new Digest(total, HexFormat.of().formatHex(md.digest()));
    }

    private static void json(HttpServletResponse resp, Json body) throws IOException {
        send(resp, "application/json", body.toString());
    }

    private static void text(HttpServletResponse resp, String body) throws IOException {
        send(resp, "text/plain", body);
    }

    private static void send(HttpServletResponse resp, String contentType, String body) throws IOException {
        // Bytes, not a Writer: a Writer would make Tomcat append ";charset=…" to the type.
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        resp.setContentType(contentType);
        resp.setContentLength(bytes.length);
        resp.getOutputStream().write(bytes);
    }

    private static long longParam(HttpServletRequest req, String name, long fallback) {
        String v = req.getParameter(name);
        if (v == null) {
            return fallback;
        }
        try {
            return Long.parseLong(v.trim());
        } catch (NumberFormatException e) {
            return fallback;
        }
    }

    private static void sleep(long ms) {
        if (ms <= 0) {
            return;
        }
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static String randomHex(int bytes) {
        byte[] b = new byte[bytes];
        RANDOM.nextBytes(b);
        return HexFormat.of().formatHex(b);
    }
}
