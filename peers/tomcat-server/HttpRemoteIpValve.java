package oxedge.tomcat;

import jakarta.servlet.ServletException;
import java.io.IOException;
import org.apache.catalina.connector.Request;
import org.apache.catalina.connector.Response;
import org.apache.catalina.valves.RemoteIpValve;
import org.apache.coyote.ajp.AbstractAjpProtocol;

/**
 * Tomcat's RemoteIpValve, applied to HTTP requests only. It plays OX's
 * considerXForwards/knownProxies for the HTTP connector, which stands in for OX's Grizzly
 * listener. An AJP request already carries the client's address, scheme and port in the
 * protocol; the bridge also passes X-Forwarded-* along over AJP, and the plain valve would then
 * rewrite the request (and drop X-Forwarded-For) whenever the AJP client address happens to be a
 * known proxy, such as 127.0.0.1 in tests. A valve sits on the Engine, which serves both
 * connectors, so the connector has to be checked per request.
 */
public class HttpRemoteIpValve extends RemoteIpValve {
    @Override
    public void invoke(Request request, Response response) throws IOException, ServletException {
        if (request.getConnector().getProtocolHandler() instanceof AbstractAjpProtocol) {
            getNext().invoke(request, response);
        } else {
            super.invoke(request, response);
        }
    }
}
