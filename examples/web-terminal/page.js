// The page: one xterm.js terminal; each run subscribes to its events
// (Server-Sent Events) under an id it picks, then starts the command.
"use strict";

const token = new URLSearchParams(location.search).get("token") || "";
const term = new Terminal({ cursorBlink: true, fontSize: 14, scrollback: 5000 });
const fit = new FitAddon.FitAddon();
term.loadAddon(fit);
term.open(document.getElementById("terminal"));
fit.fit();
window.term = term; // for the browser test

const status = document.getElementById("status");
const cancelButton = document.getElementById("cancel");
let current = null; // the running execution's id
window.runs = 0; // started, and ended, for the browser test
window.ends = 0;

function post(path, body) {
  return fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Token": token },
    body: JSON.stringify(body),
  });
}

function bytesOf(b64) {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

document.getElementById("run-form").addEventListener("submit", (e) => {
  e.preventDefault();
  if (current) return;
  const id = crypto.randomUUID();
  const command = document.getElementById("command").value;
  term.reset();
  status.textContent = "starting";
  const events = new EventSource(`/api/events?id=${id}&token=${encodeURIComponent(token)}`);
  events.onopen = async () => {
    const res = await post("/api/run", { id, command, cols: term.cols, rows: term.rows });
    if (!res.ok) {
      events.close();
      status.textContent = "refused: " + (await res.text());
      return;
    }
    current = id;
    cancelButton.disabled = false;
    status.textContent = "running";
    window.runs++;
    term.focus();
  };
  events.onmessage = (m) => {
    const ev = JSON.parse(m.data);
    if (ev.event_type === "stdout_chunk" || ev.event_type === "stderr_chunk") {
      term.write(bytesOf(ev.data));
    } else if (["completed", "failed", "timeout", "cancelled"].includes(ev.event_type)) {
      events.close();
      current = null;
      cancelButton.disabled = true;
      const code = ev.result && ev.result.exit_code;
      // Written after the output it follows has been drawn.
      term.write("", () => {
        status.textContent = `${ev.event_type} (exit ${code})`;
        window.ends++;
      });
    }
  };
});

cancelButton.addEventListener("click", () => { if (current) post("/api/cancel", { id: current }); });

// Keystrokes go to the command's terminal, which echoes them; one POST at
// a time, so they arrive in order.
let typing = Promise.resolve();
term.onData((data) => {
  const id = current;
  if (id) typing = typing.then(() => post("/api/stdin", { id, data })).catch(() => {});
});

// The window's size is the terminal's: the command gets SIGWINCH.
window.addEventListener("resize", () => fit.fit());
term.onResize(({ cols, rows }) => { if (current) post("/api/resize", { id: current, cols, rows }); });
