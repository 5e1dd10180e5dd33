// edge-affect dashboard: reads the Server-Sent Events of /events and draws them.
"use strict";

const HOP_S = 0.04;
const WINDOW_S = 60;
const WINDOW_HOPS = WINDOW_S / HOP_S;
const TRAIL_HOPS = 50; // 2 s on the valence-arousal plane
const COLORS = { arousal: "#d9480f", valence: "#1c7ed6", speech: "#2f9e44", grid: "#dee2e6", axis: "#adb5bd" };

const state = { started: null, readings: [], count: 0, ended: false, source: null, dirty: false };
const $ = (id) => document.getElementById(id);

function setStatus(kind, text) {
  const el = $("status");
  el.dataset.state = kind;
  el.textContent = text;
}

function fmtTime(seconds) {
  const m = Math.floor(seconds / 60);
  return `${m}:${(seconds - 60 * m).toFixed(2).padStart(5, "0")}`;
}

function showHello(hello) {
  if (state.started !== hello.started) { // a new run: forget the old one
    state.readings = [];
    state.count = 0;
  }
  state.started = hello.started;
  $("model").textContent = hello.model.file || "–";
  $("source").textContent = `input: ${hello.source} · started ${hello.started} · edge-affect ${hello.version}`;
  const list = $("contract");
  list.replaceChildren();
  for (const [key, value] of Object.entries(hello.model.contract || {})) {
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    dt.textContent = key;
    dd.textContent = typeof value === "string" ? value : JSON.stringify(value);
    list.append(dt, dd);
  }
}

function showReading(r) {
  const last = state.readings[state.readings.length - 1];
  if (last && r.i <= last.i) return; // history sent again after a reconnect
  state.readings.push(r);
  if (state.readings.length > WINDOW_HOPS) state.readings.splice(0, state.readings.length - WINDOW_HOPS);
  state.count += 1;
  $("time").textContent = fmtTime(r.i * HOP_S);
  $("arousal").textContent = r.a.toFixed(3);
  $("valence").textContent = r.v.toFixed(3);
  $("speech").textContent = r.s ? `yes (${r.o})` : `no (${r.o})`;
  $("latency").textContent = `${r.lat_ms.toFixed(2)} ms`;
  $("overflows").textContent = String(r.overflows);
  $("drops").textContent = String(r.drops);
  $("count").textContent = String(state.count);
  state.dirty = true;
}

function showEnd(summary) {
  state.ended = true;
  setStatus("ended", "stream ended");
  const parts = [`stream ended after ${summary.hops ?? state.count} readings`];
  if (summary.speech_share !== undefined) parts.push(`${(100 * summary.speech_share).toFixed(1)} % speech`);
  if (summary.latency_p50_us !== undefined) {
    parts.push(`per-hop latency p50 ${Math.round(summary.latency_p50_us)} µs, p99 ${Math.round(summary.latency_p99_us)} µs`);
  }
  if (summary.interrupted) parts.push("interrupted");
  if (summary.error) parts.push(`error: ${summary.error}`);
  $("ended").textContent = `${parts.join("; ")}. Reload the page for the next run.`;
  $("ended").hidden = false;
}

function fitCanvas(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
  const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, canvas.clientWidth, canvas.clientHeight);
  return { ctx, w: canvas.clientWidth, h: canvas.clientHeight };
}

const clip = (x) => Math.max(-1, Math.min(1, x));

function drawTimeline() {
  const { ctx, w, h } = fitCanvas($("timeline"));
  const rows = state.readings;
  const last = rows.length ? rows[rows.length - 1].i : 0;
  const first = last - WINDOW_HOPS + 1;
  const x = (i) => ((i - first) / (WINDOW_HOPS - 1)) * w;
  const y = (value) => (1 - (clip(value) + 1) / 2) * (h - 8) + 4;
  const perSecond = Math.round(1 / HOP_S);
  const bins = new Map(); // speech share per second of stream time
  for (const r of rows) {
    const bin = Math.floor(r.i / perSecond);
    const b = bins.get(bin) || { speech: 0, n: 0 };
    b.speech += r.s;
    b.n += 1;
    bins.set(bin, b);
  }
  ctx.fillStyle = COLORS.speech;
  for (const [bin, b] of bins) {
    ctx.globalAlpha = 0.35 * (b.speech / b.n);
    ctx.fillRect(x(bin * perSecond), 0, x((bin + 1) * perSecond) - x(bin * perSecond), h);
  }
  ctx.globalAlpha = 1;
  ctx.strokeStyle = COLORS.grid;
  ctx.lineWidth = 1;
  for (const level of [-1, -0.5, 0, 0.5, 1]) {
    ctx.beginPath();
    ctx.moveTo(0, y(level));
    ctx.lineTo(w, y(level));
    ctx.stroke();
  }
  ctx.fillStyle = "#868e96";
  ctx.font = "11px system-ui, sans-serif";
  for (const level of [-1, 0, 1]) ctx.fillText(level > 0 ? "+1" : String(level), 2, y(level) + (level > 0 ? 11 : -3));
  ctx.fillText("−60 s", 24, h - 4);
  ctx.fillText("now", w - 24, h - 4);
  for (const [key, color] of [["a", COLORS.arousal], ["v", COLORS.valence]]) {
    ctx.strokeStyle = color;
    ctx.lineWidth = 2;
    ctx.beginPath();
    rows.forEach((r, k) => (k ? ctx.lineTo(x(r.i), y(r[key])) : ctx.moveTo(x(r.i), y(r[key]))));
    ctx.stroke();
  }
}

function drawPlane() {
  const { ctx, w, h } = fitCanvas($("plane"));
  const size = Math.min(w, h) - 16;
  const cx = w / 2;
  const cy = h / 2;
  const px = (v) => cx + (clip(v) * size) / 2;
  const py = (a) => cy - (clip(a) * size) / 2;
  ctx.strokeStyle = COLORS.axis;
  ctx.lineWidth = 1;
  ctx.strokeRect(cx - size / 2, cy - size / 2, size, size);
  ctx.beginPath();
  ctx.moveTo(cx - size / 2, cy);
  ctx.lineTo(cx + size / 2, cy);
  ctx.moveTo(cx, cy - size / 2);
  ctx.lineTo(cx, cy + size / 2);
  ctx.stroke();
  ctx.fillStyle = "#868e96";
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillText("valence →", cx + size / 2 - 58, cy - 4);
  ctx.fillText("arousal ↑", cx + 4, cy - size / 2 + 12);
  const trail = state.readings.slice(-TRAIL_HOPS);
  ctx.strokeStyle = COLORS.valence;
  ctx.globalAlpha = 0.4;
  ctx.beginPath();
  trail.forEach((r, k) => (k ? ctx.lineTo(px(r.v), py(r.a)) : ctx.moveTo(px(r.v), py(r.a))));
  ctx.stroke();
  trail.forEach((r, k) => {
    ctx.globalAlpha = 0.1 + (0.5 * k) / TRAIL_HOPS;
    ctx.fillStyle = COLORS.valence;
    ctx.beginPath();
    ctx.arc(px(r.v), py(r.a), 2.5, 0, 2 * Math.PI);
    ctx.fill();
  });
  ctx.globalAlpha = 1;
  if (trail.length) {
    const r = trail[trail.length - 1];
    ctx.fillStyle = COLORS.arousal;
    ctx.beginPath();
    ctx.arc(px(r.v), py(r.a), 7, 0, 2 * Math.PI);
    ctx.fill();
  }
}

function draw() {
  if (state.dirty) {
    state.dirty = false;
    drawTimeline();
    drawPlane();
  }
  window.setTimeout(draw, 50);
}

function connect() {
  const source = new EventSource("events");
  state.source = source;
  source.addEventListener("open", () => setStatus("live", "live"));
  source.addEventListener("hello", (e) => showHello(JSON.parse(e.data)));
  source.addEventListener("reading", (e) => showReading(JSON.parse(e.data)));
  source.addEventListener("lag", (e) => { $("lag").textContent = String(JSON.parse(e.data).dropped); });
  source.addEventListener("end", (e) => {
    source.close(); // the run is over: do not reconnect
    showEnd(JSON.parse(e.data));
    state.dirty = true;
  });
  source.addEventListener("error", () => {
    if (state.ended) return;
    setStatus("reconnecting", "reconnecting…");
    if (source.readyState === EventSource.CLOSED) window.setTimeout(connect, 2000);
  });
}

window.addEventListener("resize", () => { state.dirty = true; });
connect();
draw();
