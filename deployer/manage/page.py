"""The manager page: server-side HTML, every value escaped here, and a little script.

The script reloads the table from ``/rows`` (the same rows, rendered here, so there is one renderer
and one place that escapes), sends actions with the token the operator typed (kept in the tab's
sessionStorage, sent as ``X-Deployer-Token``: a header a cross-site form cannot set), and lists a
context's sessions (built with ``textContent``, never as HTML).
"""

from __future__ import annotations

import time
from html import escape
from typing import Any

ACTIONS = ("redeploy", "stop", "start", "undeploy")


def _when(stamp: float | None) -> str:
    if stamp is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


def _mb(n: int | None) -> str:
    return "-" if n is None else f"{n / 1048576:.1f} MB"


def _num(n: int | None) -> str:
    return "-" if n is None else str(n)


def _workers(row: dict[str, Any]) -> str:
    if not row["workers"]:
        return "-"
    return "<br>".join(
        f"pid {w['pid']} · {_mb(w['rss'])} · up {w['uptime']:.0f} s · {w['requests']} req"
        for w in row["workers"])


def rows(contexts: list[dict[str, Any]]) -> str:
    """The table body: one row per context, and a row for its error when it has one."""
    out = []
    for row in contexts:
        ident = escape(row["id"])
        hosts = ", ".join(row["virtual_hosts"])
        where = escape(row["context_path"] or "-") + (
            f'<div class="hosts">{escape(hosts)}</div>' if hosts else "")
        buttons = "".join(
            f'<button data-action="{a}" data-id="{ident}">{a}</button>' for a in ACTIONS)
        buttons += f'<button data-action="sessions" data-id="{ident}">sessions</button>'
        state = escape(row["state"]) + ("" if row["answers"] else " (not answering)")
        out.append(
            f'<tr class="context state-{escape(row["state"])}" data-id="{ident}">'
            f'<td class="descriptor" title="{escape(row["descriptor"])}">{ident}</td>'
            f'<td class="path">{where}</td><td>{escape(row["kind"] or "-")}</td>'
            f'<td class="state">{state}</td><td class="version">{row["version"]}</td>'
            f'<td>{_when(row["deployed_at"])}</td><td class="sessions">{_num(row["sessions"])}</td>'
            f'<td>{_num(row["requests"])} / {_num(row["errors"])}</td>'
            f'<td class="workers">{_workers(row)}</td><td class="actions">{buttons}</td></tr>')
        if row["error"]:
            out.append(f'<tr class="error" data-id="{ident}"><td colspan="10">'
                       f'<pre>{escape(row["error"])}</pre></td></tr>')
    return "\n".join(out)


def summary_line(answering: int, total: int) -> str:
    return f"{answering} of {total} contexts deployed"


def page(contexts: list[dict[str, Any]], answering: int, total: int, nonce: str) -> str:
    """The whole page; ``nonce`` lets its one script run (the Content-Security-Policy allows no
    other, so HTML that slipped into a value could not run a script or an event handler)."""
    return (_PAGE.replace("{{summary}}", escape(summary_line(answering, total)))
            .replace("{{nonce}}", nonce).replace("{{rows}}", rows(contexts)))


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>deployer manager</title>
<style>
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.3em;margin:0 0 .3em}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #ddd;padding:.35em .5em;text-align:left;vertical-align:top}
th{background:#f4f4f4}
.state-deployed .state{color:#13702d}.state-failed .state,.state-refused .state{color:#b00020}
.state-stopped .state,.state-undeployed .state{color:#7a5c00}
tr.error pre{margin:0;color:#b00020;white-space:pre-wrap;font-size:12px}
.hosts{color:#666;font-size:12px}.workers{font-size:12px}
button{font-size:12px;margin:1px}#msg{margin-left:1em;color:#555}
#sessions{margin-top:1em}
</style></head>
<body>
<h1>deployer</h1>
<p><span id="summary">{{summary}}</span>
<label style="margin-left:2em">token <input id="token" type="password" size="30"
 autocomplete="off"></label><span id="msg"></span></p>
<table><thead><tr><th>descriptor</th><th>context path</th><th>kind</th><th>state</th>
<th>version</th><th>deployed at</th><th>sessions</th><th>requests / errors</th><th>workers</th>
<th>actions</th></tr></thead>
<tbody id="rows">
{{rows}}
</tbody></table>
<div id="sessions"></div>
<script nonce="{{nonce}}">
"use strict";
const tokenBox = document.getElementById("token");
tokenBox.value = sessionStorage.getItem("deployer-token") || "";
tokenBox.addEventListener("change", () => sessionStorage.setItem("deployer-token", tokenBox.value));
const msg = (text) => { document.getElementById("msg").textContent = text; };
const api = (id) => "/api/contexts/" + encodeURIComponent(id);
async function call(method, url) {
  const r = await fetch(url, {method, headers: {"X-Deployer-Token": tokenBox.value}});
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(r.status + " " + (body.error || r.statusText));
  return body;
}
async function reload() {
  try {
    const r = await fetch("/rows");
    if (!r.ok) return;
    document.getElementById("summary").textContent = r.headers.get("X-Summary") || "";
    document.getElementById("rows").innerHTML = await r.text();
  } catch (e) { /* the server is restarting: the next tick tries again */ }
}
async function sessions(id) {
  const box = document.getElementById("sessions");
  const list = await call("GET", api(id) + "/sessions");
  box.replaceChildren();
  const h = document.createElement("h2");
  h.textContent = "sessions of " + id + " (" + list.sessions.length + " in memory)";
  box.append(h);
  for (const s of list.sessions) {
    const line = document.createElement("div");
    line.className = "session";
    line.textContent = s.id + " · last access " +
      new Date(s.last_accessed * 1000).toLocaleString() + " · " + s.attributes.join(", ") + " ";
    const b = document.createElement("button");
    b.textContent = "invalidate";
    b.addEventListener("click", async () => {
      try { await call("POST", api(id) + "/sessions/" + encodeURIComponent(s.id) + "/invalidate");
            msg("invalidated " + s.id); sessions(id); reload(); }
      catch (e) { msg(e.message); }
    });
    line.append(b);
    box.append(line);
  }
}
document.getElementById("rows").addEventListener("click", async (ev) => {
  const b = ev.target.closest("button");
  if (!b) return;
  const {action, id} = b.dataset;
  try {
    if (action === "sessions") { await sessions(id); return; }
    msg(action + " " + id + "...");
    const done = await call("POST", api(id) + "/" + action);
    msg(action + " " + id + ": " + done.context.state + " v" + done.context.version);
  } catch (e) { msg(e.message); }
  reload();
});
setInterval(reload, 2000);
</script>
</body></html>
"""
