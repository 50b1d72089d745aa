/**
 * Ways to spell a request for an internal path that a servlet container may
 * still map to it: the tricks the provisioning tests throw at /servlet/axis2
 * (path parameters, `%3B`, dot segments plain and encoded, `//`, needlessly
 * encoded letters, `%2F`, NUL, backslashes, other cases, a longer last
 * segment), generated for any prefix so every internal prefix of a map gets
 * the same treatment. Each is meant to be refused (400) or restricted (403)
 * for an outsider; a few (case, longer segment) are not the path to Tomcat at
 * all but are restricted anyway.
 */
export function internalSpellings(prefix: string, service = "OXUserService"): string[] {
  const segs = prefix.slice(1).split("/");
  const first = segs[0];
  const last = segs[segs.length - 1];
  const head = segs.slice(0, -1).map((s) => `/${s}`).join("");
  const hex = (c: string) => `%${c.charCodeAt(0).toString(16)}`;
  const full = `${prefix}/${service}`;
  const out = [
    full,
    prefix,
    `${prefix}/`,
    `${prefix}/${service}?wsdl`,
    `${prefix}/x/../${service}`,
    `${prefix}/./${service}`,
    `${prefix}//${service}`,
    `/${segs.join("//")}/${service}`,
    `/.${prefix}/${service}`,
    `/${prefix}/${service}`,
    `/ajax/..${full}`,
    `/ajax/%2e%2e${full}`,
    `/ajax/.%2E${full}`,
    `/publications/x/../..${full}`,
    `${prefix};x=y/${service}`,
    `${prefix};jsessionid=1.OX1/${service}`,
    `${prefix}/${service};jsessionid=1.OX1`,
    `/${first};x=y${prefix.slice(1 + first.length)}/${service}`,
    `${prefix}/..;/${last}/${service}`,
    `${prefix}%3Bx=y/${service}`,
    `/${hex(first[0])}${first.slice(1)}${prefix.slice(1 + first.length)}/${service}`,
    `${head}/${last.slice(0, -1)}${hex(last[last.length - 1])}/${service}`,
    `${prefix}%2f${service}`,
    `${prefix}%2F..%2F${service}`,
    `${prefix}/${service}%00`,
    `/${prefix.slice(1).replace(/\//g, "\\")}\\${service}`,
    `${prefix}\\..\\${service}`,
    full.toUpperCase(),
    `${head}/${last[0].toUpperCase()}${last.slice(1)}/${service}`,
    `${prefix}X/${service}`,
    `${prefix}/${service}/%2e%2e/%2e%2e${prefix.slice(prefix.lastIndexOf("/"))}/${service}`,
  ];
  return [...new Set(out)];
}
