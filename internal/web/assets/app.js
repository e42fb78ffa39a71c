// axprobe status page: every 2 s, fetch /status.json and re-render the target cards whose
// data changed. The markup mirrors index.html (rendered by the server for the first view);
// a change to one needs the other. Every value from the JSON goes through esc().
"use strict";

const REFRESH_MS = 2000;
const SPARK_W = 240, SPARK_H = 40, SPARK_WINDOW_S = 3600;
const MAX_TRANSITIONS = 10;

function esc(v) {
  return String(v).replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
}

function pct(f) { return Math.round(100 * f) + "%"; }

// fmtDur mirrors page.go's fmtDuration; ns is nanoseconds.
function fmtDur(ns) {
  if (!(ns > 0)) return "–";
  if (ns < 1e6) return (ns / 1e6).toFixed(1) + " ms";
  if (ns < 1e9) return Math.round(ns / 1e6) + " ms";
  return (ns / 1e9).toFixed(2) + " s";
}

// goDuration parses a Go duration string ("1.5s", "2m3.1s", "850µs") into nanoseconds.
function goDuration(s) {
  const units = {h: 3600e9, m: 60e9, s: 1e9, ms: 1e6, "µs": 1e3, "μs": 1e3, us: 1e3, ns: 1};
  let ns = 0;
  for (const m of String(s).matchAll(/([0-9.]+)(h|ms|m|s|µs|μs|us|ns)/g)) ns += parseFloat(m[1]) * units[m[2]];
  return ns;
}

function clock(iso) {
  if (!iso || iso.startsWith("0001-")) return "–";
  const d = new Date(iso), p = n => String(n).padStart(2, "0");
  return p(d.getHours()) + ":" + p(d.getMinutes()) + ":" + p(d.getSeconds());
}

function stateIcon(s) { return {online: "✔", offline: "✖", maintenance: "⏸"}[s] || "…"; }
function outcomeIcon(o) { return {ok: "✔", degraded: "▲", failed: "✖"}[o] || "…"; }

function cert(tls) {
  if (!tls || !tls.cert_not_after) return "–";
  const at = new Date(tls.cert_not_after);
  const days = Math.trunc((at - Date.now()) / 86400e3);
  return at.toISOString().slice(0, 10) + " (" + days + " d)" + (tls.verified ? "" : " not verified");
}

// spark mirrors page.go's sparkline: confidence line, a cross where the code was 100; a
// history shorter than the window spans the whole width.
function spark(history) {
  let line = "", marks = "";
  if (history && history.length) {
    const end = Date.parse(history[history.length - 1].at);
    const span = Math.min(SPARK_WINDOW_S, (end - Date.parse(history[0].at)) / 1000);
    for (const p of history) {
      const age = (end - Date.parse(p.at)) / 1000;
      if (age > span) continue;
      const x = span > 0 ? SPARK_W * (1 - age / span) : SPARK_W;
      const y = 2 + (SPARK_H - 8) * (1 - Math.min(Math.max(p.confidence, 0), 1));
      line += x.toFixed(1) + "," + y.toFixed(1) + " ";
      if (p.code === 100) marks += "M" + (x - 1.5).toFixed(1) + "," + (SPARK_H - 4) + " l3,3 m-3,0 l3,-3 ";
    }
  }
  return '<svg class="spark" viewBox="0 0 ' + SPARK_W + " " + SPARK_H + '" preserveAspectRatio="none" role="img" aria-label="confidence over the last hour">' +
    (line ? '<polyline points="' + line.trim() + '"/>' : "") +
    (marks ? '<path class="down" d="' + marks.trim() + '"/>' : "") + "</svg>";
}

// seriesText and capacityText mirror probe.SeriesText and probe.Capacity.String.
function seriesText(series) {
  return series.map(s => s.name + " " + String(+s.value.toPrecision(6)) +
    (s.has_growth ? " (" + (s.growth_per_minute >= 0 ? "+" : "") + String(+s.growth_per_minute.toPrecision(3)) + "/min)" : "")).join(", ");
}

function bytesText(n) {
  if (n < 1024) return n + " B";
  let div = 1024, exp = 0;
  for (let m = Math.floor(n / 1024); m >= 1024 && exp < 5; m = Math.floor(m / 1024)) { div *= 1024; exp++; }
  return (n / div).toFixed(1) + " " + "KMGTPE"[exp] + "iB";
}

function capacityText(c) {
  let out = c.size_bytes > 0 ? "free " + (100 * c.free_bytes / c.size_bytes).toFixed(1) + "% (" + bytesText(c.free_bytes) + " of " + bytesText(c.size_bytes) + ")" : "size unknown";
  if (c.inodes > 0) out += ", inodes " + (100 * c.free_inodes / c.inodes).toFixed(1) + "% free";
  return out;
}

function axigenVersion(t) {
  const c = (t.checks || []).find(c => c.axigen_version);
  return c ? c.axigen_version : "";
}

function gateItem(g) {
  const note = g.error || g.detail;
  return '<li class="out-' + esc(g.outcome) + '" data-gate="' + esc(g.name) + '"><span class="icon" aria-hidden="true">' +
    outcomeIcon(g.outcome) + "</span> " + esc(g.name) + ' <span class="outcome">' + esc(g.outcome) + "</span>" +
    (note ? ' <span class="err">' + esc(note) + "</span>" : "") +
    (g.capacity ? ' <span class="capacity">' + esc(capacityText(g.capacity)) + "</span>" : "") + "</li>";
}

function checkRow(c) {
  const phases = (c.phases || []).map(p => esc(p.name) + " " + fmtDur(p.duration_ns)).join(" · ");
  const failure = c.reason ? esc(c.reason) + (c.phase ? " in " + esc(c.phase) : "") : "–";
  return '<tr class="out-' + esc(c.outcome) + '" data-check="' + esc(c.name) + '">' +
    '<td data-label="check"><b>' + esc(c.name) + "</b>" +
    (c.critical ? ' <abbr title="critical: failing it takes the target offline">★</abbr>' : "") +
    " <small>" + esc(c.protocol) + "</small></td>" +
    '<td data-label="status"><span class="icon" aria-hidden="true">' + outcomeIcon(c.outcome) + '</span> <span class="outcome">' + esc(c.outcome) + "</span></td>" +
    '<td data-label="health">' + pct(c.health) + "</td>" +
    '<td data-label="last probe">' + fmtDur(goDuration(c.duration)) +
    (c.delivery_seconds ? ' <span class="delivery">mail delivered in ' + c.delivery_seconds.toFixed(2) + " s</span>" : "") +
    (c.series && c.series.length ? ' <span class="series">' + esc(seriesText(c.series)) + "</span>" : "") +
    ' <small class="phases">' + phases + "</small></td>" +
    '<td data-label="failure"' + (c.reason ? ' class="reason"' : "") + ' title="' + esc(c.error || c.detail || "") + '">' + failure + "</td>" +
    '<td data-label="certificate">' + esc(cert(c.tls)) + "</td></tr>";
}

function targetInner(t) {
  const trs = (t.transitions || []).slice(-MAX_TRANSITIONS).reverse();
  return "<header><h2>" + esc(t.name) + '</h2><span class="badge st-' + esc(t.state) + '"><span class="icon" aria-hidden="true">' +
    stateIcon(t.state) + '</span> <span class="state">' + esc(t.state.toUpperCase()) + "</span></span>" +
    ' <span class="code" title="the exit code axprobe monitor gives VCS">code <b>' + esc(t.code) + "</b></span>" +
    ' <span class="conf">confidence <b>' + pct(t.confidence) + "</b></span></header>" +
    '<p class="why">' + esc(t.reason) + " · since <time>" + clock(t.since) + "</time>" +
    (t.maintenance ? " · maintenance marker present" : "") +
    (axigenVersion(t) ? ' · <span class="version">Axigen ' + esc(axigenVersion(t)) + "</span>" : "") + "</p>" +
    '<figure class="sparkbox">' + spark(t.history) + "<figcaption>confidence, last hour</figcaption></figure>" +
    "<h3>Local gates</h3><ul class=\"gates\">" +
    ((t.gates && t.gates.length) ? t.gates.map(gateItem).join("") : "<li>none configured</li>") + "</ul>" +
    '<h3>Checks</h3><table class="checks"><thead><tr><th>check</th><th>status</th><th>health</th><th>last probe</th><th>failure</th><th>certificate</th></tr></thead><tbody>' +
    (t.checks || []).map(checkRow).join("") + "</tbody></table>" +
    '<h3>Recent transitions</h3><ol class="transitions">' +
    (trs.length ? trs.map(tr => "<li><time>" + clock(tr.at) + "</time> " + esc(tr.from) + " → <b>" + esc(tr.to) + "</b>: " + esc(tr.reason) + "</li>").join("") : "<li>none yet</li>") +
    "</ol>";
}

const shown = new Map(); // target name → the JSON it was last rendered from

function render(snap) {
  const main = document.getElementById("targets");
  const targets = snap.targets || [];
  const names = targets.map(t => t.name).join("\n");
  if (names !== [...main.querySelectorAll("section[data-target]")].map(s => s.dataset.target).join("\n")) {
    main.textContent = ""; // the target list changed (a config reload): rebuild it
    shown.clear();
    for (const t of targets) {
      const s = document.createElement("section");
      s.dataset.target = t.name;
      main.appendChild(s);
    }
  }
  const sections = main.querySelectorAll("section[data-target]");
  targets.forEach((t, i) => {
    const key = JSON.stringify(t);
    if (shown.get(t.name) === key) return;
    shown.set(t.name, key);
    sections[i].className = "target st-" + t.state;
    sections[i].innerHTML = targetInner(t);
  });
  const live = document.getElementById("live");
  live.classList.remove("lost");
  live.textContent = "version " + snap.version + " · live, as of " + clock(snap.published);
}

function renderDemo(st) {
  const proc = document.getElementById("proc");
  if (!proc) return;
  proc.textContent = st.process_running ? "running" : "stopped";
  for (const l of st.listeners || []) {
    const row = document.querySelector('#demo tr[data-listener="' + CSS.escape(l.name) + '"] .cur');
    if (row) row.textContent = l.fault || "none";
  }
  const sig = document.querySelector("#demo .cur-signal");
  if (sig) sig.textContent = st.signal || "none";
}

async function getJSON(url) {
  const r = await fetch(url, {cache: "no-store", credentials: "same-origin"});
  if (!r.ok) throw new Error(url + ": HTTP " + r.status);
  return r.json();
}

async function refresh() {
  try {
    render(await getJSON("/status.json"));
    if (document.getElementById("demo")) renderDemo(await getJSON("/demo/state"));
  } catch (e) {
    const live = document.getElementById("live");
    live.classList.add("lost");
    live.textContent = "connection to axprobe lost, retrying (" + e.message + ")";
  }
  setTimeout(refresh, REFRESH_MS);
}

// The demo's buttons POST with a custom header: the server's CSRF guard requires it.
async function demoPost(path, params) {
  const msg = document.getElementById("demo-msg");
  try {
    const r = await fetch(path, {
      method: "POST", credentials: "same-origin",
      headers: {"X-Axprobe-Demo": "1", "Content-Type": "application/x-www-form-urlencoded"},
      body: new URLSearchParams(params),
    });
    if (!r.ok) throw new Error((await r.text()).trim() || "HTTP " + r.status);
    renderDemo(await r.json());
    msg.textContent = "done: " + Object.values(params).join(" ");
  } catch (e) {
    msg.textContent = "failed: " + e.message;
  }
}

function wireDemo() {
  const demo = document.getElementById("demo");
  if (!demo) return;
  demo.addEventListener("click", ev => {
    const b = ev.target.closest("button");
    if (!b) return;
    if (b.dataset.process) {
      demoPost("/demo/process", {action: b.dataset.process});
    } else if (b.dataset.signal) {
      demoPost("/demo/signal", {signal: b.dataset.signal});
    } else if (b.dataset.fault) {
      demoPost("/demo/fault", {listener: b.closest("tr").dataset.listener, fault: b.dataset.fault});
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  wireDemo();
  refresh();
});
