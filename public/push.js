// Push page logic: one WebSocket, its messages listed as they come. No framework.
"use strict";

const state = document.getElementById("state");
const list = document.getElementById("messages");
let socket;

function open() {
  if (socket) socket.close(1000, "reopened");
  list.textContent = "";
  const path = document.getElementById("path").value;
  const count = Number(document.getElementById("count").value) || 0;
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${path}`;
  state.textContent = "connecting…";
  socket = new WebSocket(url);
  socket.addEventListener("open", () => {
    state.textContent = "open";
    if (count > 0) socket.send(`push ${count}`);
  });
  socket.addEventListener("message", (e) => {
    const li = document.createElement("li");
    li.textContent = typeof e.data === "string" ? e.data : `(${e.data.size ?? e.data.byteLength} bytes)`;
    list.appendChild(li);
  });
  socket.addEventListener("close", (e) => {
    state.textContent = `closed (${e.code}${e.reason ? " " + e.reason : ""})`;
  });
}

document.getElementById("open").addEventListener("click", open);
if (new URLSearchParams(location.search).has("auto")) open();
