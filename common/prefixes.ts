/**
 * The paths the incumbent Apache forwards to the OX nodes (ProxyPass lines of
 * proxy_ajp.conf): the default of both the worker's routing and the bridge's
 * own re-check.
 */
export const OX_PREFIXES = ["/ajax", "/servlet", "/infostore", "/publications", "/Microsoft-Server-ActiveSync", "/usm-json"] as const;
