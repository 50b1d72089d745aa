/**
 * A real Request whose `url` reports `rawUrl` verbatim, for calling the
 * worker's app.fetch() with the spellings an attacker sends: a fetch()
 * client would parse the URL first (resolving `..` and `%2e%2e`, turning
 * `\` into `/`) before the worker saw it.
 */
export function rawRequest(rawUrl: string, init: RequestInit = {}): Request {
  const real = new Request("https://placeholder.invalid/", init);
  return new Proxy(real, {
    get(target, prop) {
      if (prop === "url") return rawUrl;
      const v = Reflect.get(target, prop, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}
