// trialwire monitoring page: study overview, subject charts and the flag queue.
// Plain browser JavaScript with no build step; every number comes from the /v1 API with
// the bearer token the user signs in with (kept in sessionStorage, gone with the tab).
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

const view = document.getElementById("view");
const session = {
  get study() { return sessionStorage.getItem("tw.study"); },
  get token() { return sessionStorage.getItem("tw.token"); },
  save(study, token) { sessionStorage.setItem("tw.study", study); sessionStorage.setItem("tw.token", token); },
  clear() { sessionStorage.removeItem("tw.study"); sessionStorage.removeItem("tw.token"); },
};
let charts = []; // uPlot instances of the current view, destroyed on navigation

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

function flagTable(flags, withSubject) {
  if (!flags.length) return el("p", { class: "hint", id: "flags" }, "No flags waiting for review.");
  const head = el("tr", {}, [withSubject ? "Subject" : null, "Rule", "Severity", "Window", "Values",
    "Status", "Review"].filter(Boolean).map((h) => el("th", {}, h)));
  const rows = flags.map((f) => el("tr", { "data-flag": f.id },
    withSubject ? el("td", {}, el("a", { href: `#/subjects/${enc(f.subject)}` }, f.subject)) : null,
    el("td", {}, `${f.rule_id} v${f.rule_version}`),
    el("td", {}, pill(f.severity)),
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

function flagActions(flag) {
  const act = async (body) => {
    try {
      await api(studyPath(`/flags/${flag.id}/transitions`), { method: "POST", body });
      route();
    } catch (err) { showError(err.message); }
  };
  const reason = el("select", { "aria-label": "reason" }, REASONS.map((r) => el("option", { value: r }, r)));
  const note = el("input", { placeholder: "note", "aria-label": "note", size: 12 });
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
  view.replaceChildren(
    el("p", {}, el("a", { href: "#/" }, "← Study overview")),
    el("h1", {}, `Subject ${code}`),
    el("p", { class: "hint" }, VITALS.map(([m, label]) => `${label}: ${fmtValue(latest[m])}`).join(" · ")),
    ranges,
    el("div", { class: "charts" }, chartBoxes, ecgBox),
    el("h2", {}, `Flags to review (${flags.length})`),
    flagTable(flags, false),
  );
  destroyCharts();
  await Promise.all([
    ...VITALS.map(([metric], i) => drawTrend(chartBoxes[i], code, metric, start, end)),
    drawEcg(ecgBox, code, end),
  ]);
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

async function drawEcg(box, subject, end) {
  const start = new Date(end.getTime() - ECG_LOOKBACK_S * 1000);
  const query = new URLSearchParams({ start: start.toISOString(), end: end.toISOString(), format: "binary" });
  const response = await api(studyPath(`/subjects/${enc(subject)}/ecg?${query}`), { raw: true });
  const segments = JSON.parse(response.headers.get("X-Segments") || "[]");
  const samples = new Float32Array(await response.arrayBuffer());
  box.setAttribute("data-points", String(samples.length));
  if (!segments.length) {
    box.append(el("div", { class: "empty" }, `No ECG in the last ${ECG_LOOKBACK_S / 60} minutes.`));
    return;
  }
  // Lay the segments on one time axis, then keep the newest ECG_STRIP_S seconds.
  const t = [], v = [];
  let offset = 0;
  const t0 = Date.parse(segments[0].time) / 1000;
  for (const seg of segments) {
    const s0 = Date.parse(seg.time) / 1000 - t0;
    for (let i = 0; i < seg.count; i++) { t.push(s0 + i / seg.rate); v.push(samples[offset + i]); }
    offset += seg.count;
  }
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

// ---- routing --------------------------------------------------------------------------

async function route() {
  document.getElementById("error").hidden = true;
  if (!session.token) { destroyCharts(); showLogin(); return; }
  document.getElementById("who").textContent = `study ${session.study}`;
  document.getElementById("sign-out").hidden = false;
  const match = location.hash.match(/^#\/subjects\/(.+)$/);
  try {
    if (match) await showSubject(decodeURIComponent(match[1]), RANGES["24 h"]);
    else { destroyCharts(); await showOverview(); }
  } catch (err) {
    showError(err.message);
  }
}

document.getElementById("sign-out").addEventListener("click", () => {
  session.clear();
  location.hash = "#/";
  route();
});
window.addEventListener("hashchange", route);
route();
