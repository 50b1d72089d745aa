// Demo page logic: no framework, no build step. The node answers JSON with a
// `node` field; the session cookie is HttpOnly, so the page can't read it and
// shows what the node says instead.
"use strict";

const out = document.getElementById("out");
const nodeEl = document.getElementById("node");

async function call(method, path, body) {
  const init = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    init.headers["content-type"] = "application/x-www-form-urlencoded";
    init.body = body;
  }
  const res = await fetch(path, init);
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const servedBy = res.headers.get("x-oxedge-served-by");
  const node = (json && json.node) || servedBy || "?";
  nodeEl.textContent = node;
  out.textContent = `${method} ${path} → ${res.status}\n` + (json ? JSON.stringify(json, null, 2) : text);
}

function guarded(fn) {
  return () => fn().catch((e) => { out.textContent = "request failed: " + e; });
}

document.getElementById("login").addEventListener("click", guarded(() =>
  call("POST", "/ajax/login?action=login", "name=demo&password=demo")));
document.getElementById("who").addEventListener("click", guarded(() =>
  call("GET", document.getElementById("who-path").value || "/ajax/session")));
