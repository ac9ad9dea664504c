// The Forge Web UI: plain JavaScript, no build step, no network beyond this server.
// Live updates come from one server-sent-event stream (/api/events) for all projects; when it
// drops, the page polls /api/projects/{id}/status every second until the stream is back.
"use strict";

const MAX_DRAW_POINTS = 800; // points per line drawn; longer histories are thinned (eval points kept)
const FIRST_FETCH_POINTS = 3000; // the first history fetch is thinned server-side to about this many
const FINAL = new Set(["done", "failed", "interrupted", "crashed", "unreadable"]);
const ACTIVE = new Set(["validating", "loading", "preparing", "training", "evaluating", "saving", "exporting"]);

const state = {
  projects: [], // [{id, name, path, ...}]
  byId: {}, // id -> {info, status, historySize, filesVersion, history: {generation, records, lastStep}}
  selected: null,
  source: null,
  pollTimer: null,
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function svgEl(tag, attrs) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) node.setAttribute(k, v);
  return node;
}

async function getJSON(url) {
  const r = await fetch(url, { cache: "no-store" });
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.json();
}

// ---------------------------------------------------------------- formatting

function fmtDuration(s) {
  if (s === null || s === undefined || !isFinite(s) || s < 0) return "—";
  s = Math.round(s);
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  const p2 = (n) => String(n).padStart(2, "0");
  if (d) return `${d}d ${p2(h)}h`;
  if (h) return `${h}h ${p2(m)}m`;
  if (m) return `${m}m ${p2(sec)}s`;
  return `${sec}s`;
}

function fmtNum(v, digits = 4) {
  if (v === null || v === undefined || typeof v !== "number" || !isFinite(v)) return "—";
  if (v !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e6)) return v.toExponential(2);
  return Number(v.toFixed(digits)).toString();
}

function fmtTick(v) {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a < 1e-3 || a >= 1e5) return v.toExponential(1);
  return Number(v.toPrecision(3)).toString();
}

function fmtTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleString();
}

function ageSeconds(iso) {
  const d = new Date(iso);
  return isNaN(d) ? null : (Date.now() - d.getTime()) / 1000;
}

function phaseClass(phase) {
  if (phase === "done") return "done";
  if (phase === "failed" || phase === "crashed") return phase;
  if (phase === "unreadable") return "failed";
  if (phase === "interrupted") return "interrupted";
  if (ACTIVE.has(phase)) return "active";
  return "";
}

// ---------------------------------------------------------------- sidebar

function renderTabs() {
  const nav = $("projects");
  nav.replaceChildren();
  for (const p of state.projects) {
    const s = state.byId[p.id].status || {};
    const phase = s.effective_phase || p.phase;
    const pct = s.total_steps ? Math.min(100, (100 * s.step) / s.total_steps) : 0;
    const tab = el(
      "button",
      { class: "tab", "data-testid": "project-tab", "data-project": p.id, "aria-selected": String(p.id === state.selected), title: p.path },
      el("div", { class: "tab-top" }, el("span", { class: "tab-name", text: p.name }), el("span", { class: `badge small ${phaseClass(phase)}`, "data-testid": "tab-phase", text: phase })),
      el("div", { class: "mini" }, el("div", { class: phaseClass(phase), style: `width:${pct}%` })),
    );
    tab.addEventListener("click", () => select(p.id));
    nav.append(tab);
  }
}

// ---------------------------------------------------------------- status

function renderStatus(s) {
  const phase = s.effective_phase;
  const badge = $("phase");
  badge.textContent = phase;
  badge.className = `badge ${phaseClass(phase)}`;
  badge.dataset.phase = phase;
  $("no-run").hidden = !!s.exists;

  const pct = s.total_steps ? Math.min(100, (100 * s.step) / s.total_steps) : phase === "done" ? 100 : 0;
  const prog = $("progress");
  prog.className = `progress ${phaseClass(phase)}`;
  prog.setAttribute("aria-valuenow", pct.toFixed(1));
  prog.dataset.percent = pct.toFixed(1);
  $("progress-fill").style.width = `${pct}%`;
  $("progress-label").textContent = s.total_steps ? `${pct.toFixed(1)}%` : s.exists ? phase : "";

  const step = $("step");
  step.replaceChildren(String(s.step || 0));
  if (s.total_steps) step.append(el("span", { class: "of", text: ` / ${s.total_steps}` }));
  step.dataset.step = s.step;
  step.dataset.total = s.total_steps;
  $("epoch").textContent = s.total_epochs ? `${fmtNum(s.epoch, 2)} / ${fmtNum(s.total_epochs, 2)}` : fmtNum(s.epoch, 2);

  const eta = $("eta");
  let etaText = fmtDuration(s.eta_seconds);
  $("eta-label").textContent = "ETA";
  if (phase === "done" && s.started_at && s.completed_at) {
    etaText = fmtDuration((new Date(s.completed_at) - new Date(s.started_at)) / 1000);
    $("eta-label").textContent = "took";
  } else if (FINAL.has(phase)) {
    etaText = "—";
  }
  eta.textContent = etaText;
  eta.dataset.seconds = s.eta_seconds ?? "";

  // values the status file lacks (an older writer, a failed run) come from the last history line
  const recs = (state.byId[state.selected] || {}).history?.records || [];
  const last = recs.length ? recs[recs.length - 1] : {};
  const pick = (key) => (typeof s[key] === "number" ? s[key] : typeof last[key] === "number" ? last[key] : null);
  let evalLoss = s.eval_loss;
  for (let i = recs.length - 1; evalLoss == null && i >= 0 && i >= recs.length - 5000; i--) evalLoss = recs[i].eval_loss;
  if (!s.epoch && typeof last.epoch === "number") $("epoch").textContent = fmtNum(last.epoch, 2) + (s.total_epochs ? ` / ${fmtNum(s.total_epochs, 2)}` : "");
  $("loss").textContent = fmtNum(pick("loss"));
  $("eval-loss").textContent = fmtNum(evalLoss);
  const tps = pick("tokens_per_second");
  $("tps").textContent = tps !== null ? Math.round(tps).toLocaleString() : "—";
  $("vram").textContent = typeof s.peak_vram_gb === "number" ? `${s.peak_vram_gb.toFixed(1)} GB` : "—";
  $("lr").textContent = fmtNum(pick("learning_rate"));

  const meta = $("meta");
  meta.replaceChildren();
  const add = (k, v, testid) => {
    if (v === null || v === undefined || v === "") return;
    meta.append(el("span", { "data-testid": testid }, `${k} `, el("b", { text: v })));
  };
  if (s.exists) {
    add("model", s.model, "model");
    add("backend", s.backend, "backend");
    add("run", s.run_id, "run-id");
    add("started", fmtTime(s.started_at), "started");
    add("checkpoint", s.checkpoint_at ? fmtTime(s.checkpoint_at) : null, "checkpoint");
    const age = ageSeconds(s.last_updated);
    add("updated", s.last_updated ? `${fmtDuration(age)} ago` : null, "updated");
    add("pid", s.pid ? `${s.pid}${s.pid_alive === false ? " (gone)" : ""}` : null, "pid");
    if (s.message) add("", s.message, "message");
  }

  const alert = $("alert");
  // a damaged status file (unreadable, or values of the wrong type): its problems and the fix
  const problems = Array.isArray(s.problems) ? s.problems : [];
  const showError = phase === "failed" || phase === "interrupted" || phase === "crashed" || !!s.error || problems.length > 0;
  alert.hidden = !showError;
  if (showError) {
    alert.className = `alert ${phase === "interrupted" ? "interrupted" : ""}`;
    if (phase === "unreadable") {
      $("alert-title").textContent = "Unreadable status file: nothing in it can be shown.";
      $("error").textContent = problems.map((p) => p.message).join("\n");
      $("error-kind").textContent = "damaged status file";
      $("solution").textContent = (problems[0] && problems[0].fix) || "—";
    } else if (phase === "crashed") {
      const who = s.pid_alive === false ? `process ${s.pid ?? "?"} is gone` : `no forge process holds the project lock (process ${s.pid ?? "?"} is not the writer)`;
      $("alert-title").textContent = `Crashed: the status says “${s.phase}”, but ${who} and the file has not changed for ${fmtDuration(s.age_seconds)}.`;
      $("error").textContent = s.error || "The training process stopped without writing a final status (killed, out of host memory, or the machine rebooted).";
      $("error-kind").textContent = s.error_kind || "crashed";
      $("solution").textContent = s.solution || "—"; // the server names the command, with the project folder
    } else {
      $("alert-title").textContent = phase === "interrupted" ? "Interrupted" : phase === "failed" ? "Failed" : s.error ? "Error" : "Damaged status file";
      $("error").textContent = s.error || (problems.length ? "" : "(no error message)");
      $("error-kind").textContent = s.error_kind || (problems.length ? "damaged status file" : "—");
      $("solution").textContent = s.solution || (problems.length ? problems[0].fix : "—");
    }
    if (phase !== "unreadable" && problems.length) {
      const lines = problems.map((p) => p.message).join("\n");
      $("error").textContent = $("error").textContent ? `${$("error").textContent}\n${lines}` : lines;
    }
  }
}

// ---------------------------------------------------------------- history and charts

function mergeHistory(h, data, incremental) {
  if (!incremental || data.generation !== h.generation) {
    h.records = data.records;
  } else if (data.records.length) {
    const first = data.records[0].step;
    let i = h.records.length;
    while (i > 0 && h.records[i - 1].step >= first) i--;
    h.records.length = i;
    for (const r of data.records) h.records.push(r);
  }
  h.generation = data.generation;
  h.lastStep = h.records.length ? h.records[h.records.length - 1].step : null;
}

async function fetchHistory(id) {
  const p = state.byId[id];
  if (p.historyBusy) { p.historyAgain = true; return; }
  p.historyBusy = true;
  try {
    do {
      p.historyAgain = false;
      const h = p.history;
      const incremental = h.generation !== null && h.lastStep !== null;
      const url = incremental
        ? `/api/projects/${encodeURIComponent(id)}/history?since=${h.lastStep - 1}`
        : `/api/projects/${encodeURIComponent(id)}/history?max_points=${FIRST_FETCH_POINTS}`;
      const data = await getJSON(url);
      if (incremental && data.generation !== h.generation) {
        h.generation = null; h.lastStep = null; p.historyAgain = true; // start over
        continue;
      }
      mergeHistory(h, data, incremental);
    } while (p.historyAgain);
  } catch (e) {
    console.warn(e);
  } finally {
    p.historyBusy = false;
  }
  if (id === state.selected) {
    drawCharts();
    if (p.status) renderStatus(p.status);
  }
}

function thin(points, max) {
  if (points.length <= max) return points;
  const stride = points.length / max, out = [];
  for (let i = 0; i < max; i++) out.push(points[Math.floor(i * stride)]);
  if (out[out.length - 1] !== points[points.length - 1]) out.push(points[points.length - 1]);
  return out;
}

function niceTicks(lo, hi, n) {
  if (hi <= lo) { hi = lo + 1; }
  const span = hi - lo, raw = span / n, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
  const ticks = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

// series: [{name, points: [[x, y]], cls, dots, lastId}]
function drawChart(svg, series, opts) {
  const W = Math.max(200, svg.clientWidth || 600), H = Math.max(120, svg.clientHeight || 260);
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.replaceChildren();
  const all = series.flatMap((s) => s.points);
  svg.dataset.points = String(all.length);
  if (!all.length) {
    svg.append(Object.assign(svgEl("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "empty-text" }), { textContent: opts.empty }));
    return;
  }
  const m = { l: 56, r: 14, t: 10, b: 26 };
  let x0 = Math.min(...all.map((p) => p[0])), x1 = Math.max(...all.map((p) => p[0]));
  let y0 = Math.min(...all.map((p) => p[1])), y1 = Math.max(...all.map((p) => p[1]));
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) { y1 += Math.abs(y1) * 0.1 || 1; y0 -= Math.abs(y0) * 0.1 || 0; }
  const pad = (y1 - y0) * 0.06;
  y0 = opts.zeroBased ? Math.min(0, y0) : y0 - pad; y1 += pad;
  const X = (x) => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
  const Y = (y) => H - m.b - ((y - y0) / (y1 - y0)) * (H - m.t - m.b);

  for (const t of niceTicks(y0, y1, 5)) {
    if (t < y0 || t > y1) continue;
    svg.append(svgEl("line", { x1: m.l, x2: W - m.r, y1: Y(t), y2: Y(t), class: "grid" }));
    svg.append(Object.assign(svgEl("text", { x: m.l - 6, y: Y(t) + 4, "text-anchor": "end", class: "axis" }), { textContent: fmtTick(t) }));
  }
  for (const t of niceTicks(x0, x1, 6)) {
    if (t < x0 || t > x1) continue;
    svg.append(Object.assign(svgEl("text", { x: X(t), y: H - 8, "text-anchor": "middle", class: "axis" }), { textContent: fmtTick(t) }));
  }
  svg.append(Object.assign(svgEl("text", { x: W - m.r, y: H - 8, "text-anchor": "end", class: "axis" }), { textContent: "" }));

  for (const s of series) {
    if (!s.points.length) continue;
    const d = s.points.map((p, i) => `${i ? "L" : "M"}${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join("");
    svg.append(svgEl("path", { d, class: s.cls, "data-testid": `${s.name}-line`, "data-points": s.points.length }));
    if (s.dots && s.points.length <= 200) {
      for (const p of s.points) svg.append(svgEl("circle", { cx: X(p[0]), cy: Y(p[1]), r: 3, class: "evalpt" }));
    }
    if (s.lastId) {
      const p = s.points[s.points.length - 1];
      svg.append(svgEl("circle", { cx: X(p[0]), cy: Y(p[1]), r: 4.5, class: `last ${s.cls}`, "data-testid": s.lastId, "data-step": p[0], "data-value": p[1] }));
    }
  }

  // hover readout: the nearest step of each series
  const hl = svgEl("line", { class: "hover-line", y1: m.t, y2: H - m.b, visibility: "hidden" });
  const ht = svgEl("text", { class: "hover-text", y: m.t + 12, visibility: "hidden" });
  svg.append(hl, ht);
  svg.onmousemove = (ev) => {
    const r = svg.getBoundingClientRect();
    const px = ((ev.clientX - r.left) / r.width) * W;
    const xv = x0 + ((px - m.l) / (W - m.l - m.r)) * (x1 - x0);
    const parts = [];
    let sx = null;
    for (const s of series) {
      if (!s.points.length) continue;
      let best = s.points[0];
      for (const p of s.points) if (Math.abs(p[0] - xv) < Math.abs(best[0] - xv)) best = p;
      if (sx === null) sx = best[0];
      parts.push(`${s.label} ${fmtNum(best[1])}`);
    }
    if (sx === null) return;
    hl.setAttribute("x1", X(sx)); hl.setAttribute("x2", X(sx)); hl.setAttribute("visibility", "visible");
    ht.textContent = `step ${sx}  ${parts.join("  ")}`;
    const right = X(sx) > W / 2;
    ht.setAttribute("x", right ? X(sx) - 6 : X(sx) + 6);
    ht.setAttribute("text-anchor", right ? "end" : "start");
    ht.setAttribute("visibility", "visible");
  };
  svg.onmouseleave = () => { hl.setAttribute("visibility", "hidden"); ht.setAttribute("visibility", "hidden"); };
}

function drawCharts() {
  const p = state.byId[state.selected];
  if (!p) return;
  const recs = p.history.records || [];
  const train = [], evals = [], lr = [];
  for (const r of recs) {
    if (typeof r.loss === "number") train.push([r.step, r.loss]);
    if (typeof r.eval_loss === "number") evals.push([r.step, r.eval_loss]);
    if (typeof r.learning_rate === "number") lr.push([r.step, r.learning_rate]);
  }
  const empty = p.status && p.status.exists ? "waiting for the first logged step…" : "no training history yet";
  drawChart($("loss-chart"), [
    { name: "train-loss", label: "train", points: thin(train, MAX_DRAW_POINTS), cls: "train", lastId: "loss-last-point" },
    { name: "eval-loss", label: "eval", points: thin(evals, MAX_DRAW_POINTS), cls: "eval", dots: true, lastId: "eval-loss-last-point" },
  ], { empty });
  drawChart($("lr-chart"), [
    { name: "lr", label: "lr", points: thin(lr, MAX_DRAW_POINTS), cls: "lr", lastId: "lr-last-point" },
  ], { empty, zeroBased: true });
}

// ---------------------------------------------------------------- checklists, metrics, artifacts, log

const MARK = { ok: "✓", warn: "!", fail: "✗" };

function renderChecklist(container, badge, cl) {
  container.replaceChildren();
  if (!cl || !cl.available) {
    container.append(el("p", { class: "unavailable", "data-testid": "unavailable", text: `unavailable: ${cl ? cl.reason : "loading"}` }));
    badge.textContent = "";
    return;
  }
  badge.textContent = cl.ready === null ? "" : cl.ready ? "ready" : "not ready";
  badge.className = `badge small ${cl.ready ? "ok" : "fail"}`;
  for (const [name, items] of Object.entries(cl.sections)) {
    container.append(el("div", { class: "sec", text: name }));
    for (const it of items) {
      // a stale item (forge verify's quality checks on another run's stats) failed unjudged: say so
      const stale = it.stale === true;
      container.append(
        el("div", { class: `item ${it.status}${stale ? " stale" : ""}`, "data-testid": "check-item", "data-status": it.status, "data-stale": stale ? "true" : null },
          el("span", { class: "mark", text: MARK[it.status] || "·" }),
          el("span", { class: "name" }, it.name, stale ? el("span", { class: "badge small warn", "data-testid": "check-stale", text: "stale: older run" }) : null),
          it.detail ? el("span", { class: "detail", text: it.detail }) : null,
          it.fix && it.status !== "ok" ? el("span", { class: "ifix" }, el("span", { class: "muted", text: "fix: " }), it.fix) : null),
      );
    }
  }
}

function lowerIsBetter(metric) {
  return /loss|perplexity|ppl|error|wer|cer/i.test(metric);
}

function renderMetrics(m) {
  const gate = $("gate");
  if (m.gate) {
    // an evaluation of an adapter that has since been replaced says nothing about the one there now
    const stale = m.evaluation_stale === true;
    gate.textContent = (m.gate.passed ? "gate passed" : "gate failed") + (stale ? " (stale: another adapter)" : "");
    gate.className = `badge ${stale ? "" : m.gate.passed ? "ok" : "fail"}`;
    gate.dataset.passed = String(m.gate.passed);
    gate.dataset.stale = String(stale);
    const bits = Object.entries(m.gate).filter(([k]) => k !== "passed").map(([k, v]) => `${k}: ${typeof v === "number" ? fmtNum(v) : v}`);
    $("gate-detail").textContent = bits.join(" · ");
  } else {
    gate.textContent = m.evaluation ? "no gate verdict" : "not evaluated";
    gate.className = "badge";
    gate.dataset.passed = "";
    // what to run next comes from the server (metrics.gate_note), its commands naming the folder
    $("gate-detail").textContent = m.evaluation ? "" : m.gate_note || "";
  }
  const table = $("comparison");
  table.replaceChildren();
  if (m.comparison.length) {
    // a column per artifact evaluated beside the adapter (merged, gguf:q8_0, ...): the --artifact rows
    const arts = Object.keys(m.comparison[0].artifacts || {});
    table.append(el("tr", {}, el("th", { text: "metric" }), el("th", { class: "num", text: "baseline" }), el("th", { class: "num", text: "fine-tuned" }), el("th", { class: "num", text: "change" }), ...arts.map((a) => el("th", { class: "num", "data-artifact": a, text: a }))));
    for (const r of m.comparison) {
      // a score not measured on one side (no generation samples) has a null delta: no colour, no %
      const good = !r.delta ? "" : (r.delta < 0) === lowerIsBetter(r.metric) ? "better" : "worse";
      const rel = r.baseline && r.delta !== null ? ` (${r.delta > 0 ? "+" : ""}${((100 * r.delta) / Math.abs(r.baseline)).toFixed(1)}%)` : "";
      const cells = arts.map((a) => el("td", { class: "num", "data-artifact": a, text: fmtNum((r.artifacts || {})[a]) }));
      table.append(el("tr", { "data-metric": r.metric }, el("td", { text: r.label || r.metric }), el("td", { class: "num", text: fmtNum(r.baseline) }), el("td", { class: "num", text: fmtNum(r.evaluation) }), el("td", { class: `num ${good}`, text: `${r.delta > 0 ? "+" : ""}${fmtNum(r.delta)}${rel}` }), ...cells));
    }
    if (arts.length) {
      // each artifact's own gate: the adapter's threshold, plus template parity
      const rows = (m.evaluation && m.evaluation.artifacts) || [];
      const by = Object.fromEntries(rows.map((x) => [x.artifact, x]));
      const adapterRow = by.adapter;
      const verdict = (x) => (x ? x.verdict + (x.gain_lost !== null && x.gain_lost !== undefined && x.artifact !== "adapter" ? ` (${(100 * x.gain_lost).toFixed(0)}% of gain lost)` : "") : "-");
      table.append(el("tr", { "data-metric": "gate" }, el("td", { text: "gate" }), el("td", { text: "" }), el("td", { class: adapterRow && adapterRow.passed ? "better" : "worse", text: verdict(adapterRow) }), el("td", { text: "" }), ...arts.map((a) => el("td", { class: `num ${by[a] && by[a].passed ? "better" : "worse"}`, "data-artifact": a, title: by[a] ? (by[a].reasons || []).join("; ") : "", text: verdict(by[a]) }))));
    }
  } else {
    const have = m.baseline ? "baseline" : null;
    const note = m.baseline_stale === true ? " (stale: made for another model, val file or settings)" : "";
    table.append(el("tr", {}, el("td", { class: "muted", text: have ? `baseline recorded (${Object.keys(m.baseline).length} keys)${note}; no evaluation yet` : "no baseline and no evaluation yet" })));
  }
  renderStatsFreshness(m);
  const kv = $("train-stats");
  kv.replaceChildren();
  if (!m.training_stats) kv.append(el("span", { class: "muted", text: "no metrics/training-stats.json yet" }));
  if (m.training_stats) {
    for (const [k, v] of Object.entries(m.training_stats)) {
      if (v === null || typeof v === "object") continue; // the record lists keys an older file lacks as null
      kv.append(el("span", { class: "k", text: k }), el("span", { text: typeof v === "number" ? fmtNum(v) : String(v) }));
    }
  }
  for (const [f, why] of Object.entries(m.problems || {})) kv.append(el("span", { class: "k worse", text: f }), el("span", { text: why }));
}

// training-stats.json stays on disk while a newer run trains, or after one failed or was refused
// before writing its own: the server says whose stats they are (metrics_stale), the page marks them
function renderStatsFreshness(m) {
  const badge = $("stats-stale");
  const note = $("stats-note");
  const stale = m.metrics_stale;
  const run = m.training_stats && m.training_stats.run_id;
  badge.dataset.stale = stale === true ? "true" : stale === false ? "false" : "";
  badge.textContent = !m.training_stats ? "" : stale === true ? "stale: older run" : stale === false ? "current run" : "";
  badge.className = `badge small ${stale === true ? "warn" : stale === false ? "ok" : ""}`;
  badge.title = run ? `run ${run}` : "";
  note.hidden = stale !== true;
  note.textContent = stale === true ? m.metrics_stale_reason || "these stats are of an older run" : "";
}

function renderArtifacts(a) {
  const t = $("artifacts-table");
  t.replaceChildren();
  $("artifacts-total").textContent = a.files.length ? `${a.files.length} files, ${a.total_human}` : "";
  if (!a.files.length) {
    t.append(el("tr", {}, el("td", { class: "muted", text: "nothing under models/ yet" })));
    return;
  }
  t.append(el("tr", {}, el("th", { text: "file" }), el("th", { text: "kind" }), el("th", { class: "num", text: "size" })));
  for (const f of a.files) {
    t.append(el("tr", { "data-testid": "artifact", "data-path": f.path }, el("td", {}, el("code", { text: f.path })), el("td", { text: f.kind }), el("td", { class: "num", text: f.size_human })));
  }
}

async function refreshFiles(id) {
  const base = `/api/projects/${encodeURIComponent(id)}`;
  const jobs = [
    getJSON(`${base}/metrics`).then((m) => id === state.selected && renderMetrics(m)),
    getJSON(`${base}/artifacts`).then((a) => id === state.selected && renderArtifacts(a)),
    getJSON(`${base}/checklist`).then((c) => {
      if (id !== state.selected) return;
      renderChecklist($("pre-list"), $("pre-ready"), c.pre_training);
      renderChecklist($("out-list"), $("out-ready"), c.outputs);
    }),
  ];
  if ($("log-details").open) jobs.push(refreshLog(id));
  await Promise.allSettled(jobs);
}

async function refreshLog(id) {
  const l = await getJSON(`/api/projects/${encodeURIComponent(id)}/log?lines=300`);
  if (id !== state.selected) return;
  const pre = $("log");
  const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
  pre.textContent = l.exists ? l.lines.join("\n") : `${l.path} does not exist yet`;
  if (atEnd) pre.scrollTop = pre.scrollHeight;
}

// ---------------------------------------------------------------- inspect: one example as training sees it

async function refreshInspect(id) {
  const split = $("inspect-split").value, n = $("inspect-example").value || 1;
  const base = `/api/projects/${encodeURIComponent(id)}`;
  const pre = $("inspect-text"), counts = $("inspect-counts"), imgs = $("inspect-images");
  counts.textContent = "loading the tokenizer…";
  const r = await fetch(`${base}/inspect?split=${split}&example=${encodeURIComponent(n)}`, { cache: "no-store" });
  const v = await r.json();
  if (id !== state.selected) return;
  pre.replaceChildren();
  imgs.replaceChildren();
  if (!r.ok || !v.ok) { counts.textContent = v.error ? `${v.error} (fix: ${v.fix})` : `HTTP ${r.status}`; return; }
  for (const ref of v.images) {
    if (!ref.startsWith("data:")) imgs.append(el("img", { src: `${base}/files/${ref}`, alt: ref, title: ref, class: "thumb" }));
  }
  if (v.dropped) { counts.textContent = `${v.where}: training drops this example: ${v.dropped}`; return; }
  for (const seg of v.segments) pre.append(el("span", { class: `seg-${seg.kind}`, text: seg.text, title: `${seg.tokens} tokens` }));
  if (v.cut_at !== null) pre.append(el("span", { class: "seg-cut", text: `\n✂ truncated at token ${v.cut_at} of ${v.full_tokens}` }));
  counts.textContent = `${v.where}: ${v.input_ids.length} tokens, ${v.trained} trained, ${v.untrained} untrained, ${v.image_tokens} image tokens`;
}

// ---------------------------------------------------------------- live updates

function onSnapshot(snap) {
  const p = state.byId[snap.project];
  if (!p) return;
  const historyChanged = snap.history_size !== p.historySize;
  // the first snapshot after select() finds what select() already fetched
  const filesChanged = p.filesVersion !== null && snap.files_version !== p.filesVersion;
  const phaseChanged = p.status && p.status.effective_phase !== snap.status.effective_phase;
  // a new run (or a refused one) changes whose stats are current even when no file of metrics/ changed
  const runChanged = p.status && p.status.run_id !== snap.status.run_id;
  p.status = snap.status;
  p.historySize = snap.history_size;
  p.filesVersion = snap.files_version;
  renderTabs();
  if (snap.project !== state.selected) return;
  renderStatus(snap.status);
  if (historyChanged) fetchHistory(snap.project);
  if (filesChanged || phaseChanged || runChanged) refreshFiles(snap.project);
  else if ($("log-details").open && historyChanged) refreshLog(snap.project);
}

function setConn(stateName, text) {
  const c = $("conn");
  c.dataset.state = stateName;
  c.textContent = text;
}

function startPolling() {
  if (state.pollTimer) return;
  setConn("polling", "polling");
  state.pollTimer = setInterval(async () => {
    for (const p of state.projects) {
      try {
        const status = await getJSON(`/api/projects/${encodeURIComponent(p.id)}/status`);
        const prev = state.byId[p.id];
        // without the stream we do not know the history size; refetch while the step moves
        const size = status.step !== (prev.status && prev.status.step) ? `poll-${status.step}-${Date.now()}` : prev.historySize;
        onSnapshot({ project: p.id, status, history_size: size, files_version: prev.filesVersion });
      } catch (e) { setConn("polling", "server unreachable, retrying"); }
    }
  }, 1000);
}

function stopPolling() {
  clearInterval(state.pollTimer);
  state.pollTimer = null;
}

function connect() {
  if (!window.EventSource) { startPolling(); return; }
  const es = new EventSource("/api/events");
  state.source = es;
  es.addEventListener("status", (ev) => onSnapshot(JSON.parse(ev.data)));
  es.onopen = () => { stopPolling(); setConn("live", "live"); };
  es.onerror = () => { if (es.readyState !== EventSource.OPEN) startPolling(); };
}

// ---------------------------------------------------------------- selection

function select(id) {
  if (!state.byId[id]) id = state.projects[0].id;
  state.selected = id;
  if (location.hash !== `#${id}`) history.replaceState(null, "", `#${id}`);
  const p = state.byId[id];
  const info = p.info;
  $("p-name").textContent = info.name;
  $("p-path").textContent = info.path;
  $("project").hidden = false;
  $("project").dataset.project = id;
  renderTabs();
  for (const box of [$("pre-list"), $("out-list")]) box.replaceChildren(el("p", { class: "muted", text: "checking…" }));
  if (p.status) renderStatus(p.status);
  drawCharts();
  fetchHistory(id);
  refreshFiles(id);
}

async function main() {
  try {
    state.projects = await getJSON("/api/projects");
  } catch (e) {
    $("loading").textContent = `Cannot reach the forge server: ${e.message}`;
    return;
  }
  for (const p of state.projects) {
    state.byId[p.id] = { info: p, status: null, historySize: null, filesVersion: null, history: { generation: null, records: [], lastStep: null } };
  }
  $("loading").hidden = true;
  if (!state.projects.length) return;
  const first = await getJSON(`/api/projects/${encodeURIComponent(state.projects[0].id)}/status`).catch(() => null);
  if (first) state.byId[state.projects[0].id].status = first;
  select(decodeURIComponent(location.hash.slice(1)) || state.projects[0].id);
  connect();
  $("log-details").addEventListener("toggle", () => $("log-details").open && refreshLog(state.selected));
  $("inspect-go").addEventListener("click", () => refreshInspect(state.selected));
  window.addEventListener("hashchange", () => select(decodeURIComponent(location.hash.slice(1))));
  window.addEventListener("resize", () => drawCharts());
  // keep "updated N s ago" honest between events
  setInterval(() => { const p = state.byId[state.selected]; if (p && p.status) renderStatus(p.status); }, 5000);
}

main();
