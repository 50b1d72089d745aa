/**
 * The manager page (GET / on the admin listener): balancer-manager's table,
 * rendered on the server with hono/html, which escapes every value put into
 * it. A small inline script refreshes the cells from GET /status every 2 s
 * (as text, never as HTML) and sends the actions through the JSON API with
 * the bearer token from the page's token field, kept in sessionStorage
 * only: never in a URL or a cookie (docs/manager.md, The page).
 */
import { html, raw } from "hono/html";
import { ACTIONS } from "./admin-actions.ts";
import { COLUMNS, type Cells, type MemberState } from "./admin-view.ts";

export interface PageMember {
  route: string;
  state: MemberState;
  cells: Cells;
  loadfactor: number;
}

export interface PageOptions {
  members: PageMember[];
  /** Whether changes are possible at all (a token is configured). */
  changes: boolean;
  /** The CSP nonce the inline style and script carry. */
  nonce: string;
  refreshMs: number;
}

/** JSON inside a <script>: "<" escaped so no value can close the element. */
function scriptJson(v: unknown): string {
  return JSON.stringify(v).replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
}

const STYLE = `
  :root { --ink: #1d2733; --muted: #5b6b7c; --line: #dfe5ec; --head: #16324f; --accent: #1f5fa8; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: #f3f6f9; }
  header { background: var(--head); color: #fff; padding: 14px 24px; display: flex; align-items: center; gap: 24px; flex-wrap: wrap; }
  header h1 { font-size: 18px; margin: 0; font-weight: 600; }
  header .live { font-size: 12px; color: #b9cbe0; }
  header label { margin-left: auto; font-size: 13px; display: flex; align-items: center; gap: 8px; }
  header input { width: 240px; padding: 5px 8px; border-radius: 4px; border: 1px solid #4d6d91; background: #0f2740; color: #fff; }
  main { padding: 20px 24px; }
  .note { color: var(--muted); margin: 0 0 12px; }
  #message { min-height: 22px; margin: 0 0 10px; font-weight: 500; }
  #message.ok { color: #1e7a3c; } #message.bad { color: #b3261e; }
  .wrap { overflow-x: auto; background: #fff; border: 1px solid var(--line); border-radius: 6px; }
  table { border-collapse: collapse; width: 100%; white-space: nowrap; }
  th, td { padding: 8px 9px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: middle; }
  th { background: #eef2f6; font-size: 12px; text-transform: uppercase; letter-spacing: .03em; color: var(--muted); font-weight: 600; }
  tbody tr:last-child td { border-bottom: 0; }
  td:last-child, th:last-child { padding-right: 14px; }
  .num { text-align: right; font-variant-numeric: tabular-nums; }
  .sub { display: block; font-size: 12px; color: var(--muted); }
  .sub:empty { display: none; }
  td.route [data-cell="route"] { font-weight: 600; font-size: 15px; }
  td.route .sub { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
  td.lastError { white-space: normal; min-width: 160px; max-width: 260px; color: var(--muted); font-size: 12px; overflow-wrap: anywhere; }
  td.state [data-cell="state"] { font-weight: 600; }
  td.state .sub { margin-left: 16px; }
  td.state [data-cell="state"]::before { content: ""; display: inline-block; width: 9px; height: 9px; border-radius: 50%; margin-right: 7px; background: #2e9d57; }
  tr[data-state="error"] td.state { color: #b3261e; } tr[data-state="error"] td.state [data-cell="state"]::before { background: #d93025; }
  tr[data-state="draining"] td.state { color: #9a6400; } tr[data-state="draining"] td.state [data-cell="state"]::before { background: #f0a500; }
  tr[data-state="disabled"] td.state, tr[data-state="stopped"] td.state { color: #5b6b7c; }
  tr[data-state="disabled"] td.state [data-cell="state"]::before, tr[data-state="stopped"] td.state [data-cell="state"]::before { background: #9aa7b4; }
  tr[data-state="standby"] td.state, tr[data-state="spare"] td.state { color: #1f5fa8; }
  tr[data-state="standby"] td.state [data-cell="state"]::before, tr[data-state="spare"] td.state [data-cell="state"]::before { background: #4a8ad4; }
  .actions { display: grid; grid-template-columns: repeat(3, auto); gap: 4px; justify-content: start; align-items: center; }
  .actions .lf-row { grid-column: 1 / -1; display: flex; gap: 4px; align-items: center; }
  .actions label { font-size: 12px; color: var(--muted); }
  button { font: inherit; font-size: 12px; padding: 4px 9px; border-radius: 4px; border: 1px solid #b8c4d0; background: #fff; color: var(--ink); cursor: pointer; }
  button:hover { background: #eef3f9; border-color: var(--accent); }
  button[data-action="enable"] { border-color: #2e9d57; color: #1e7a3c; }
  button[data-action="drain"] { border-color: #f0a500; color: #9a6400; }
  button[data-action="disable"], button[data-action="stop"] { border-color: #d93025; color: #b3261e; }
  input.lf { width: 58px; padding: 3px 5px; border: 1px solid #b8c4d0; border-radius: 4px; font: inherit; font-size: 12px; }
`;

/**
 * The refresh and the actions. Cells get textContent only; the token goes
 * in the Authorization header of fetch (a form post could not carry it, so
 * another site cannot make the browser change anything).
 */
const SCRIPT = `
  const tokenKey = "oxedge-admin-token";
  // Read-only pages have no token field (and no buttons).
  const token = document.getElementById("token") || { value: "", addEventListener() {} };
  const message = document.getElementById("message");
  const live = document.getElementById("live");
  token.value = sessionStorage.getItem(tokenKey) || "";
  token.addEventListener("input", () => sessionStorage.setItem(tokenKey, token.value));
  const rowOf = (route) => [...document.querySelectorAll("tr[data-route]")].find((r) => r.dataset.route === route);
  function say(text, ok) { message.textContent = text; message.className = ok ? "ok" : "bad"; }
  async function refresh() {
    try {
      const r = await fetch("/status", { cache: "no-store" });
      if (!r.ok) throw new Error("HTTP " + r.status);
      const s = await r.json();
      for (const m of s.members) {
        const row = rowOf(m.route);
        if (!row) continue;
        row.dataset.state = m.state;
        for (const el of row.querySelectorAll("[data-cell]")) el.textContent = m.cells[el.dataset.cell];
        // Not while someone is typing a new one into it.
        const lf = row.querySelector("input.lf");
        if (lf && document.activeElement !== lf) lf.value = m.loadfactor;
      }
      live.textContent = "live, updated " + new Date(s.at).toLocaleTimeString();
    } catch (e) {
      live.textContent = "not updating: " + e.message;
    }
  }
  document.addEventListener("click", async (e) => {
    const button = e.target.closest("button[data-action]");
    if (!button) return;
    const row = button.closest("tr[data-route]");
    const route = row.dataset.route, action = button.dataset.action;
    const body = action === "loadfactor" ? { loadfactor: Number(row.querySelector("input.lf").value) } : ACTIONS[action];
    if (!token.value) return say("Enter the admin token first.", false);
    try {
      const r = await fetch("/members/" + encodeURIComponent(route), { method: "POST", headers: { "content-type": "application/json", authorization: "Bearer " + token.value }, body: JSON.stringify(body) });
      const answer = await r.json().catch(() => ({}));
      if (r.ok) say(route + ": " + button.textContent.toLowerCase() + " done, now " + answer.cells.state, true);
      else say(route + ": " + r.status + " " + [].concat(answer.error || r.statusText).join("; "), false);
    } catch (err) {
      say(route + ": " + err.message, false);
    }
    refresh();
  });
  setInterval(refresh, REFRESH_MS);
`;

function row(m: PageMember, changes: boolean) {
  const cells = COLUMNS.map(
    (c) => html`<td class="${c.cell}${c.numeric ? " num" : ""}"><span data-cell="${c.cell}">${m.cells[c.cell]}</span>${c.sub ? html`<span class="sub" data-cell="${c.sub}">${m.cells[c.sub]}</span>` : ""}</td>`,
  );
  const actions = changes
    ? html`<td><div class="actions">
        <button data-action="enable">Enable</button><button data-action="drain">Drain</button><button data-action="disable">Disable</button>
        <button data-action="standby">Standby</button><button data-action="reset" title="back to the config file's settings">Reset</button><span></span>
        <div class="lf-row"><label>factor <input class="lf" type="number" min="1" max="100" step="1" value="${m.loadfactor}" aria-label="load factor of ${m.route}"></label><button data-action="loadfactor">Set</button></div>
      </div></td>`
    : "";
  return html`<tr data-route="${m.route}" data-state="${m.state}">${cells}${actions}</tr>`;
}

export function managerPage(o: PageOptions) {
  const script = SCRIPT.replace("REFRESH_MS", String(o.refreshMs));
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<noscript><meta http-equiv="refresh" content="5"></noscript>
<title>oxedge bridge · balancer manager</title>
<style nonce="${o.nonce}">${raw(STYLE)}</style>
</head>
<body>
<header>
  <h1>oxedge bridge · balancer manager</h1>
  <span class="live" id="live">live</span>
  ${o.changes ? html`<label>Admin token <input id="token" type="password" autocomplete="off" spellcheck="false" placeholder="kept in this tab only"></label>` : html`<label>read-only: no admin token is configured</label>`}
</header>
<main>
  <p class="note">Drain keeps a member's sessions and gives it no new ones; disable and stop take it out; enable puts it back in rotation; reset returns it to the config file.</p>
  <p id="message" role="status"></p>
  <div class="wrap"><table>
    <thead><tr>${COLUMNS.map((c) => html`<th class="${c.numeric ? "num" : ""}">${c.title}</th>`)}${o.changes ? html`<th>Actions</th>` : ""}</tr></thead>
    <tbody>${o.members.map((m) => row(m, o.changes))}</tbody>
  </table></div>
</main>
<script nonce="${o.nonce}">const ACTIONS = ${raw(scriptJson(ACTIONS))};${raw(script)}</script>
</body>
</html>`;
}
