// trialwire monitoring page: study overview, subject charts, the flag queue and each
// flag's view (its readings and ECG around the window, alert deliveries, review history),
// kept current by the study's live change feed. Plain browser JavaScript with no build
// step; every number comes from the /v1 API with the bearer token the user signs in with
// (kept in sessionStorage, gone with the tab).
"use strict";

const VITALS = [
  ["heart_rate", "Heart rate", "/min"],
  ["glucose", "Glucose", "mg/dL"],
  ["spo2", "SpO2", "%"],
  ["body_temperature", "Temperature", "°C"],
];
const RANGES = { "6 h": 6, "24 h": 24, "7 d": 168 };
const REASONS = ["clinically_reviewed", "device_artifact", "data_error", "known_condition", "other"];
const ECG_LOOKBACK_S = 120; // how far back the strip looks for the newest ECG segment
const ECG_STRIP_S = 10;     // seconds of ECG shown
const FLAG_CONTEXT_S = 600; // readings shown before and after a flag's window
const FLAG_ECG_PAD_S = 5;   // ECG shown before and after a flag's window…
const FLAG_ECG_MAX_S = 30;  // …at most this much of it
const COMPLETENESS_DAYS = 14;
const LIVE_RETRY_MS = 3000; // wait before reconnecting the change feed

const view = document.getElementById("view");
const session = {
  get study() { return sessionStorage.getItem("tw.study"); },
  get token() { return sessionStorage.getItem("tw.token"); },
  save(study, token) { sessionStorage.setItem("tw.study", study); sessionStorage.setItem("tw.token", token); },
  clear() { sessionStorage.removeItem("tw.study"); sessionStorage.removeItem("tw.token"); },
};
let charts = []; // uPlot instances of the current view, destroyed on navigation
// What the current view re-reads when the change feed says a flag changed (null: all).
let current = { refresh: async () => {} };

// ---- small DOM and formatting helpers -------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value);
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined));
  return node;
}

const pill = (text, kind) => el("span", { class: `pill ${kind || text}` }, text);
const fmtTime = (iso) => (iso ? new Date(iso).toLocaleString() : "—");
const enc = encodeURIComponent;

function fmtValue(reading) {
  if (!reading) return "—";
  const digits = Math.abs(reading.value) < 100 && reading.value % 1 ? 1 : 0;
  return `${reading.value.toFixed(digits)} ${reading.unit === "Cel" ? "°C" : reading.unit}`;
}

function showError(message) {
  const box = document.getElementById("error");
  box.textContent = message;
  box.hidden = false;
  clearTimeout(showError.timer);
  showError.timer = setTimeout(() => { box.hidden = true; }, 8000);
}

// ---- API ------------------------------------------------------------------------------

class ApiError extends Error {}

async function api(path, { method = "GET", body, raw = false, signingIn = false } = {}) {
  const headers = { Authorization: `Bearer ${session.token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (response.status === 401) {
    if (signingIn) throw new ApiError("the study or token was not accepted");
    session.clear();
    route();
    throw new ApiError("Your session is no longer valid; sign in again.");
  }
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).detail; } catch { /* not JSON */ }
    throw new ApiError(`${response.status}: ${typeof detail === "string" ? detail : JSON.stringify(detail)}`);
  }
  return raw ? response : response.json();
}

const studyPath = (rest) => `/v1/studies/${enc(session.study)}${rest}`;

// ---- views ----------------------------------------------------------------------------

function showLogin() {
  document.getElementById("who").textContent = "";
  document.getElementById("sign-out").hidden = true;
  view.replaceChildren(document.getElementById("login-view").content.cloneNode(true));
  document.getElementById("login").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    session.save(form.get("study").trim(), form.get("token").trim());
    try {
      await api(studyPath(""), { signingIn: true });
      location.hash = "#/";
      route();
    } catch (err) {
      session.clear();
      showError(`Sign-in failed: ${err.message}`);
    }
  });
}

async function showOverview() {
  current = { refresh: () => showOverview() };
  const [overview, flags] = await Promise.all([api(studyPath("/overview")), openFlags()]);
  view.replaceChildren(
    el("h1", {}, `Study ${overview.study}`),
    el("p", { class: "hint" }, `${overview.subjects.length} subjects · as of ${fmtTime(overview.at)}`),
    ...pipelineNotice(overview.pipeline || []),
    subjectTable(overview.subjects),
    el("h2", {}, `Flag queue (${flags.length})`),
    flagTable(flags, true),
  );
}

// Readings are delayed while a stream partition has stalled (the worker restarts itself
// after a few minutes) or lags far behind; say so above the table, whose values it affects.
const LAG_WARN_RECORDS = 1000;

function pipelineNotice(partitions) {
  const stalled = partitions.filter((p) => p.stalled_s !== null);
  const lagging = partitions.filter((p) => p.stalled_s === null && p.lag >= LAG_WARN_RECORDS);
  if (!stalled.length && !lagging.length) return [];  // nothing to say: no element
  const items = [
    ...stalled.map((p) => `${p.topic} [${p.partition}] stalled for ${Math.round(p.stalled_s)} s (${p.lag} waiting)`),
    ...lagging.map((p) => `${p.topic} [${p.partition}] ${p.lag} records behind`),
  ];
  return [el("div", { class: "notice", id: "pipeline-notice", role: "status" },
    el("strong", {}, "Data pipeline delayed: "), items.join("; "),
    " — newest readings and flags may be missing until it catches up.")];
}

function subjectTable(subjects) {
  const head = el("tr", {}, ["Subject", "Site", ...VITALS.map((v) => v[1]), "Open flags", "Gateway",
    "Devices connected", "Completeness 24 h"].map((h) => el("th", {}, h)));
  const rows = subjects.map((s) => {
    const devices = s.gateway ? Object.values(s.gateway.devices) : [];
    const connected = devices.filter((d) => d.connected).length;
    return el("tr", { "data-subject": s.code },
      el("td", {}, el("a", { href: `#/subjects/${enc(s.code)}` }, s.code)),
      el("td", {}, s.site),
      VITALS.map(([metric]) => el("td", { class: "num", title: fmtTime(s.latest[metric]?.time) },
        fmtValue(s.latest[metric]))),
      el("td", { class: "num" }, s.open_flags ? pill(String(s.open_flags), "open") : "0"),
      el("td", {}, s.gateway
        ? [pill(s.gateway.online ? "online" : "offline"), " ", s.gateway.id,
           s.gateway.spool_items ? ` · ${s.gateway.spool_items} queued` : ""]
        : "none"),
      el("td", { class: "num" }, s.gateway ? `${connected}/${devices.length}` : "—"),
      el("td", { class: "num" }, s.completeness_24h === null ? "—"
        : `${Math.round(100 * Math.min(1, s.completeness_24h))}%`));
  });
  return el("table", { id: "subjects" }, el("thead", {}, head), el("tbody", {}, rows));
}

async function openFlags(subject) {
  const lists = await Promise.all(["open", "escalated", "acknowledged"].map((status) => {
    const query = new URLSearchParams({ status, limit: "200" });
    if (subject) query.set("subject", subject);
    return api(studyPath(`/flags?${query}`));
  }));
  return lists.flat().sort((a, b) => b.id - a.id);
}

// A flag raised as data arrived, or later from backfilled (older) data.
const raisedPill = (f) => (f.raised_on === "live" ? pill("live", "live-raised") : pill("backfilled", "backfilled"));

function flagTable(flags, withSubject) {
  const fresh = (f) => live.shown.size > 0 && !live.shown.has(f.id);
  const marked = flags.map((f) => [f, fresh(f)]);
  flags.forEach((f) => live.shown.add(f.id));
  if (!flags.length) return el("p", { class: "hint", id: "flags" }, "No flags waiting for review.");
  const head = el("tr", {}, ["Flag", withSubject ? "Subject" : null, "Rule", "Severity", "Raised",
    "Window", "Values", "Status", "Review"].filter(Boolean).map((h) => el("th", {}, h)));
  const rows = marked.map(([f, isNew]) => el("tr", { "data-flag": f.id, class: isNew ? "fresh" : null },
    el("td", {}, el("a", { href: `#/flags/${f.id}` }, `#${f.id}`)),
    withSubject ? el("td", {}, el("a", { href: `#/subjects/${enc(f.subject)}` }, f.subject)) : null,
    el("td", {}, `${f.rule_id} v${f.rule_version}`),
    el("td", {}, pill(f.severity)),
    el("td", { class: "raised" }, raisedPill(f)),
    el("td", {}, `${fmtTime(f.window_start)} – ${fmtTime(f.window_end)}`),
    el("td", {}, triggerText(f.trigger_values)),
    el("td", { class: "status" }, pill(f.status)),
    el("td", {}, flagActions(f))));
  return el("table", { id: "flags" }, el("thead", {}, head), el("tbody", {}, rows));
}

// trigger_values are [time, value] pairs; the queue shows the first few values.
function triggerText(values) {
  const shown = values.slice(0, 4).map((v) => (Array.isArray(v) ? v[1] : v));
  return shown.join(", ") + (values.length > 4 ? " …" : "");
}

// What the user has chosen or typed in a flag's review controls, kept across the view's
// re-renders (a live refresh must not wipe a reason picked a moment ago).
const drafts = new Map(); // flag id -> { reason, note }

function flagActions(flag) {
  const act = async (body) => {
    try {
      await api(studyPath(`/flags/${flag.id}/transitions`), { method: "POST", body });
      drafts.delete(flag.id);
      route();
    } catch (err) { showError(err.message); }
  };
  const draft = drafts.get(flag.id) || { reason: REASONS[0], note: "" };
  const keep = () => drafts.set(flag.id, { reason: reason.value, note: note.value });
  const reason = el("select", { "aria-label": "reason", onchange: keep },
    REASONS.map((r) => el("option", { value: r }, r)));
  reason.value = draft.reason;
  const note = el("input", { placeholder: "note", "aria-label": "note", size: 12, oninput: keep });
  note.value = draft.note;
  const buttons = [];
  if (flag.status === "open" || flag.status === "escalated") {
    buttons.push(el("button", { class: "primary", onclick: () => act({ action: "acknowledge" }) }, "Acknowledge"));
  }
  if (flag.status === "open" || flag.status === "acknowledged") {
    buttons.push(el("button", { onclick: () => act({ action: "escalate", note: note.value || null }) }, "Escalate"));
  }
  if (flag.status === "acknowledged" || flag.status === "escalated") {
    buttons.push(reason, note, el("button", {
      onclick: () => act({ action: "resolve", reason_code: reason.value, note: note.value || null }),
    }, "Resolve"));
  }
  return el("div", { class: "actions" }, buttons);
}

async function showSubject(code, hours) {
  const end = new Date();
  const start = new Date(end.getTime() - hours * 3600e3);
  const [latest, flags] = await Promise.all([
    api(studyPath(`/subjects/${enc(code)}/latest?${VITALS.map(([m]) => `metric=${m}`).join("&")}`)),
    openFlags(code),
  ]);
  const ranges = el("div", { class: "ranges" }, Object.entries(RANGES).map(([label, h]) =>
    el("button", { class: h === hours ? "active" : null, onclick: () => showSubject(code, h).catch((e) => showError(e.message)) }, label)));
  const chartBoxes = VITALS.map(([metric, label, unit]) =>
    el("div", { class: "chart", "data-metric": metric }, el("strong", {}, `${label} (${unit})`)));
  const ecgBox = el("div", { class: "chart", "data-metric": "ecg" }, el("strong", {}, "ECG strip (lead I, µV)"));
  const completenessBox = el("div", { class: "chart", id: "completeness" },
    el("strong", {}, `Daily completeness and wear time, last ${COMPLETENESS_DAYS} days (local days)`));
  const flagSection = el("section", { id: "flag-section" }, flagSectionContent(flags));
  view.replaceChildren(
    el("p", {}, el("a", { href: "#/" }, "← Study overview")),
    el("h1", {}, `Subject ${code}`),
    el("p", { class: "hint" }, VITALS.map(([m, label]) => `${label}: ${fmtValue(latest[m])}`).join(" · ")),
    ranges,
    flagSection,
    el("div", { class: "charts" }, chartBoxes, ecgBox, completenessBox),
  );
  current = { refresh: async () => flagSection.replaceChildren(...flagSectionContent(await openFlags(code))) };
  destroyCharts();
  await Promise.all([
    ...VITALS.map(([metric], i) => drawTrend(chartBoxes[i], code, metric, start, end)),
    drawEcg(ecgBox, code, end),
    drawCompleteness(completenessBox, code),
  ]);
}

function flagSectionContent(flags) {
  return [el("h2", {}, `Flags to review (${flags.length})`), flagTable(flags, false)];
}

// ---- a flag's view: the data that raised it, where its alert went, its review ---------

async function showFlag(id) {
  const [flag, history, deliveries] = await Promise.all([
    api(studyPath(`/flags/${id}`)), api(studyPath(`/flags/${id}/history`)),
    api(studyPath(`/flags/${id}/deliveries`))]);
  current = { refresh: () => showFlag(id), flag: flag.id };
  const metric = flag.details.metric;
  const known = VITALS.find(([m]) => m === metric);
  const trendBox = el("div", { class: "chart", id: "flag-readings", "data-metric": metric || "" },
    el("strong", {}, known ? `${known[1]} (${known[2]}) around the flag; trigger values marked` : "Readings"));
  const ecgBox = el("div", { class: "chart", id: "flag-ecg", "data-metric": "ecg" },
    el("strong", {}, "ECG around the flag (lead I, µV); the flag's window shaded"));
  view.replaceChildren(
    el("p", {}, el("a", { href: `#/subjects/${enc(flag.subject)}` }, `← Subject ${flag.subject}`)),
    el("h1", {}, `Flag #${flag.id}: ${flag.rule_id} v${flag.rule_version}`),
    el("p", { id: "flag-summary" }, pill(flag.severity), " ", el("span", { class: "status" }, pill(flag.status)),
      " ", raisedPill(flag), ` · window ${fmtTime(flag.window_start)} – ${fmtTime(flag.window_end)}`,
      ` · device ${flag.device_id || "—"} · values ${triggerText(flag.trigger_values) || "—"}`),
    el("div", { id: "flag-actions" }, flagActions(flag)),
    el("div", { class: "charts" }, trendBox, ecgBox),
    el("h2", {}, "Alert deliveries"), deliveryTable(deliveries),
    el("h2", {}, "Review history"), historyTable(history),
  );
  destroyCharts();
  await Promise.all([drawFlagReadings(trendBox, flag, known), drawFlagEcg(ecgBox, flag)]);
}

function deliveryTable(deliveries) {
  if (!deliveries.length) return el("p", { class: "hint", id: "deliveries" }, "No alert channel took this flag.");
  const head = el("tr", {}, ["Channel", "Kind", "Level", "Status", "Tries", "Latency", "Last answer"]
    .map((h) => el("th", {}, h)));
  const rows = deliveries.map((d) => el("tr", { "data-delivery": d.id },
    el("td", {}, d.channel), el("td", {}, d.kind), el("td", {}, d.escalation ? "escalation" : "first"),
    el("td", { class: "status" }, pill(d.status)),
    el("td", { class: "num", title: d.tries.map((t) => `${t.attempt}: ${t.outcome} ${t.status ?? ""} ${t.error ?? ""}`).join("\n") }, String(d.attempts)),
    el("td", { class: "num" }, d.latency_ms === null ? "—" : `${(d.latency_ms / 1000).toFixed(1)} s`),
    el("td", {}, d.last_error || (d.last_status ? String(d.last_status) : d.next_attempt_at ? `next try ${fmtTime(d.next_attempt_at)}` : "—"))));
  return el("table", { id: "deliveries" }, el("thead", {}, head), el("tbody", {}, rows));
}

function historyTable(entries) {
  if (!entries.length) return el("p", { class: "hint", id: "history" }, "Not reviewed yet.");
  const head = el("tr", {}, ["When", "Who", "Role", "Action", "Reason", "Note"].map((h) => el("th", {}, h)));
  const rows = entries.map((e) => el("tr", {},
    el("td", {}, fmtTime(e.at)), el("td", {}, e.actor), el("td", {}, e.role), el("td", {}, e.action),
    el("td", {}, e.reason || "—"), el("td", {}, (e.details && e.details.note) || "")));
  return el("table", { id: "history" }, el("thead", {}, head), el("tbody", {}, rows));
}

// ---- charts ---------------------------------------------------------------------------

function destroyCharts() {
  charts.forEach((c) => c.destroy());
  charts = [];
}

const chartWidth = (box) => Math.max(320, box.clientWidth - 16);

async function drawTrend(box, subject, metric, start, end) {
  const query = new URLSearchParams({ metric, start: start.toISOString(), end: end.toISOString(), buckets: "300" });
  const page = await api(studyPath(`/subjects/${enc(subject)}/readings?${query}`));
  const buckets = page.buckets || [];
  box.setAttribute("data-points", String(buckets.length));
  if (!buckets.length) {
    box.append(el("div", { class: "empty" }, "No readings in this range."));
    return;
  }
  const x = buckets.map((b) => Date.parse(b.start) / 1000);
  const data = [x, buckets.map((b) => b.mean), buckets.map((b) => b.min), buckets.map((b) => b.max)];
  // The x axis always spans the requested range, so a lone reading sits where it belongs.
  const range = [start.getTime() / 1000, end.getTime() / 1000];
  charts.push(new uPlot({
    width: chartWidth(box), height: 180,
    scales: { x: { time: true, range: () => range } },
    series: [{}, { label: "mean", stroke: "#1f5fa8", width: 2 },
      { label: "min", stroke: "#9db7d8", width: 1 }, { label: "max", stroke: "#9db7d8", width: 1 }],
  }, data, box));
}

// The subject's ECG segments in [start, end) as one time axis: seconds after ``t0`` (default:
// the first segment's start) and the samples (µV). Null when there is none.
async function fetchEcg(subject, start, end, t0) {
  const query = new URLSearchParams({ start: start.toISOString(), end: end.toISOString(), format: "binary" });
  const response = await api(studyPath(`/subjects/${enc(subject)}/ecg?${query}`), { raw: true });
  const segments = JSON.parse(response.headers.get("X-Segments") || "[]");
  const samples = new Float32Array(await response.arrayBuffer());
  if (!segments.length) return null;
  const origin = t0 ?? Date.parse(segments[0].time) / 1000;
  const t = [], v = [];
  let offset = 0;
  for (const seg of segments) {
    const s0 = Date.parse(seg.time) / 1000 - origin;
    for (let i = 0; i < seg.count; i++) { t.push(s0 + i / seg.rate); v.push(samples[offset + i]); }
    offset += seg.count;
  }
  return { t, v };
}

async function drawEcg(box, subject, end) {
  const start = new Date(end.getTime() - ECG_LOOKBACK_S * 1000);
  const ecg = await fetchEcg(subject, start, end);
  box.setAttribute("data-points", String(ecg ? ecg.t.length : 0));
  if (!ecg) {
    box.append(el("div", { class: "empty" }, `No ECG in the last ${ECG_LOOKBACK_S / 60} minutes.`));
    return;
  }
  // Keep the newest ECG_STRIP_S seconds.
  const { t, v } = ecg;
  const from = t[t.length - 1] - ECG_STRIP_S;
  const first = t.findIndex((s) => s >= from);
  box.setAttribute("data-points", String(t.length - first));
  charts.push(new uPlot({
    width: chartWidth(box), height: 160,
    scales: { x: { time: false } },
    axes: [{ label: "s" }, {}],
    series: [{ label: "s" }, { label: "µV", stroke: "#b3261e", width: 1 }],
  }, [t.slice(first), v.slice(first)], box));
}

// The flag's window shaded on a chart whose x axis is in ``toX`` units (and, optionally,
// ticks at the trigger values' times).
function windowPlugin(start, end, ticks = []) {
  return { hooks: { drawClear: [(u) => {
    const ctx = u.ctx;
    const x0 = u.valToPos(start, "x", true), x1 = u.valToPos(end, "x", true);
    ctx.save();
    ctx.fillStyle = "rgba(179, 38, 30, 0.10)";
    ctx.fillRect(x0, u.bbox.top, Math.max(2, x1 - x0), u.bbox.height);
    ctx.strokeStyle = "rgba(179, 38, 30, 0.6)";
    for (const t of ticks) {
      const x = u.valToPos(t, "x", true);
      ctx.beginPath(); ctx.moveTo(x, u.bbox.top); ctx.lineTo(x, u.bbox.top + 8); ctx.stroke();
    }
    ctx.restore();
  }] } };
}

async function drawFlagReadings(box, flag, known) {
  const triggers = flag.trigger_values.filter((v) => Array.isArray(v)).map(([t, v]) => [Date.parse(t) / 1000, v]);
  box.setAttribute("data-triggers", String(triggers.length));
  if (!known) {
    box.append(el("div", { class: "empty" }, "This rule judges no single vital; see the values above."));
    box.setAttribute("data-points", "0");
    return;
  }
  const ws = Date.parse(flag.window_start) / 1000, we = Date.parse(flag.window_end) / 1000;
  const start = new Date((ws - FLAG_CONTEXT_S) * 1000), end = new Date((we + FLAG_CONTEXT_S) * 1000);
  const query = new URLSearchParams({ metric: known[0], start: start.toISOString(), end: end.toISOString(), limit: "2000" });
  let page = await api(studyPath(`/subjects/${enc(flag.subject)}/readings?${query}`));
  let points = page.items.map((r) => [Date.parse(r.time) / 1000, r.value]);
  if (page.next) { // too many to show one by one: means of 500 buckets
    query.delete("limit"); query.set("buckets", "500");
    page = await api(studyPath(`/subjects/${enc(flag.subject)}/readings?${query}`));
    points = page.buckets.map((b) => [Date.parse(b.start) / 1000, b.mean]);
  }
  box.setAttribute("data-points", String(points.length));
  if (!points.length && !triggers.length) {
    box.append(el("div", { class: "empty" }, "No readings around this flag."));
    return;
  }
  // One x axis for readings and trigger values: each series is null where it has no value.
  const byTime = new Map();
  for (const [t, v] of points) byTime.set(t, [v, null]);
  for (const [t, v] of triggers) byTime.set(t, [byTime.get(t)?.[0] ?? null, v]);
  const xs = [...byTime.keys()].sort((a, b) => a - b);
  charts.push(new uPlot({
    width: chartWidth(box), height: 200,
    scales: { x: { time: true, range: () => [start.getTime() / 1000, end.getTime() / 1000] } },
    series: [{}, { label: known[1], stroke: "#1f5fa8", width: 1.5, spanGaps: true },
      { label: "trigger values", stroke: "#b3261e", width: 0, points: { show: true, size: 7, fill: "#b3261e" } }],
    plugins: [windowPlugin(ws, we)],
  }, [xs, xs.map((t) => byTime.get(t)[0]), xs.map((t) => byTime.get(t)[1])], box));
}

async function drawFlagEcg(box, flag) {
  const ws = Date.parse(flag.window_start), we = Date.parse(flag.window_end);
  const start = new Date(ws - FLAG_ECG_PAD_S * 1000);
  const end = new Date(Math.min(we + FLAG_ECG_PAD_S * 1000, start.getTime() + FLAG_ECG_MAX_S * 1000));
  const t0 = start.getTime() / 1000;
  const ecg = await fetchEcg(flag.subject, start, end, t0);
  box.setAttribute("data-points", String(ecg ? ecg.t.length : 0));
  if (!ecg) {
    box.append(el("div", { class: "empty" }, "No ECG around this flag."));
    return;
  }
  const ticks = flag.trigger_values.filter((x) => Array.isArray(x)).map(([time]) => Date.parse(time) / 1000 - t0);
  charts.push(new uPlot({
    width: chartWidth(box), height: 180,
    scales: { x: { time: false } },
    axes: [{ label: `s after ${fmtTime(start.toISOString())}` }, {}],
    series: [{ label: "s" }, { label: "µV", stroke: "#b3261e", width: 1 }],
    plugins: [windowPlugin(ws / 1000 - t0, we / 1000 - t0, ticks)],
  }, [ecg.t, ecg.v], box));
}

// Per day: completeness over the devices with an expected rate, and the wear time of the
// best-worn device (as the study's deviation rules count them).
async function drawCompleteness(box, subject) {
  const end = new Date();
  const start = new Date(end.getTime() - (COMPLETENESS_DAYS - 1) * 86400e3);
  const day = (d) => d.toISOString().slice(0, 10);
  const query = new URLSearchParams({ start: day(start), end: day(end), subject });
  const rows = await api(studyPath(`/completeness?${query}`));
  const days = new Map();
  for (const r of rows) {
    const entry = days.get(r.day) || { wear: 0, parts: [] };
    entry.wear = Math.max(entry.wear, r.wear_minutes);
    if (r.completeness !== null) entry.parts.push(r.completeness);
    days.set(r.day, entry);
  }
  box.setAttribute("data-days", String(days.size));
  if (!days.size) {
    box.append(el("div", { class: "empty" }, "No completeness computed yet for these days."));
    return;
  }
  const bar = (fraction, kind) => {
    const inner = el("span");
    inner.style.width = `${Math.round(100 * Math.max(0, Math.min(1, fraction)))}%`; // CSSOM: allowed by the CSP
    return el("div", { class: `bar ${kind}` }, inner);
  };
  const lines = [...days.entries()].sort(([a], [b]) => (a < b ? 1 : -1)).map(([d, e]) => {
    const completeness = e.parts.length ? e.parts.reduce((a, b) => a + b, 0) / e.parts.length : null;
    return el("div", { class: "day", "data-day": d },
      el("span", {}, d),
      completeness === null ? el("span", { class: "hint" }, "no expected rate") : bar(completeness, completeness < 0.8 ? "short" : ""),
      el("span", { class: "num" }, completeness === null ? "—" : `${Math.round(100 * Math.min(1, completeness))}%`),
      bar(e.wear / 1440, "wear"),
      el("span", { class: "num" }, `${(e.wear / 60).toFixed(1)} h`));
  });
  box.append(el("div", { class: "days" }, el("div", { class: "day hint" }, el("span", {}, "day"),
    el("span", {}, "completeness"), el("span", {}), el("span", {}, "wear time"), el("span", {})), lines));
}

// ---- live updates ---------------------------------------------------------------------
// The page reads GET /v1/studies/{study}/events (server-sent events) with its bearer token
// (fetch: EventSource cannot send one) and re-reads what it shows when a flag of the study
// is raised or changes. The server ends each stream after a few minutes; the page then
// reconnects, and its token is checked again.

const live = { controller: null, timer: null, flags: new Set(), all: false, shown: new Set() };

function setLive(state) {
  const badge = document.getElementById("live");
  badge.hidden = false;
  badge.className = `live ${state}`;
  badge.dataset.state = state;
  badge.textContent = state === "on" ? "● live" : "○ reconnecting…";
}

function stopLive() {
  if (live.controller) live.controller.abort();
  live.controller = null;
  live.shown.clear();
  document.getElementById("live").hidden = true;
}

async function startLive() {
  if (live.controller) return;
  const controller = new AbortController();
  live.controller = controller;
  while (live.controller === controller) {
    try {
      const response = await fetch(studyPath("/events"), {
        headers: { Authorization: `Bearer ${session.token}` }, signal: controller.signal });
      if (response.status === 401) { stopLive(); session.clear(); route(); return; }
      if (!response.ok) throw new ApiError(`live updates: HTTP ${response.status}`);
      setLive("on");
      await readEvents(response.body, onLiveEvent);
    } catch (err) {
      if (controller.signal.aborted) return;
    }
    if (live.controller !== controller) return;
    setLive("off");
    onLiveEvent("resync", {}); // notices may have been missed while disconnected
    await new Promise((resolve) => { setTimeout(resolve, LIVE_RETRY_MS); });
  }
}

async function readEvents(body, handle) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let name = "message", data = "";
      for (const line of frame.split("\n")) {
        if (line.startsWith("event: ")) name = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      if (data) handle(name, JSON.parse(data));
    }
  }
}

function onLiveEvent(name, data) {
  if (name === "hello") return;
  if (name === "resync") live.all = true;
  else live.flags.add(data.flag);
  clearTimeout(live.timer);
  live.timer = setTimeout(refreshLive, 200); // one re-read for a burst of notices
}

// Re-read what the view shows (a flag's view: only when that flag changed); never while
// the user is typing a reason or note in the flag queue: after they leave the field.
async function refreshLive() {
  const focused = document.activeElement;
  if (focused && focused.matches("#view input, #view select")) {
    focused.addEventListener("focusout", () => {
      clearTimeout(live.timer);
      live.timer = setTimeout(refreshLive, 200);
    }, { once: true });
    return;
  }
  const relevant = live.all || current.flag === undefined || live.flags.has(current.flag);
  live.flags.clear();
  live.all = false;
  if (!relevant) return;
  try { await current.refresh(); } catch (err) { showError(err.message); }
}

// ---- routing --------------------------------------------------------------------------

async function route() {
  document.getElementById("error").hidden = true;
  if (!session.token) { stopLive(); destroyCharts(); showLogin(); return; }
  document.getElementById("who").textContent = `study ${session.study}`;
  document.getElementById("sign-out").hidden = false;
  startLive();
  const subject = location.hash.match(/^#\/subjects\/(.+)$/);
  const flag = location.hash.match(/^#\/flags\/(\d+)$/);
  try {
    if (subject) await showSubject(decodeURIComponent(subject[1]), RANGES["24 h"]);
    else if (flag) await showFlag(Number(flag[1]));
    else { destroyCharts(); await showOverview(); }
  } catch (err) {
    showError(err.message);
  }
}

document.getElementById("sign-out").addEventListener("click", () => {
  stopLive();
  session.clear();
  location.hash = "#/";
  route();
});
window.addEventListener("hashchange", route);
route();
