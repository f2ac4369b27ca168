// The dashboard's live calls: per call, its latest figures (MOS in words and colour) and small charts of
// the last minutes (MOS with the poor band, round-trip time, loss, frame rate), one line per party:
// what the kiosk receives and what the agent's browser receives.

import { lineChart, niceMax } from "./charts.js";
import { clock, el, keyed, part } from "./dashviews.js";

const MIN_WINDOW_MS = 60_000;
const MAX_WINDOW_MS = 600_000;
const PARTIES = [
  { party: "agent", label: "at the agent", cls: "line-agent" },
  { party: "kiosk", label: "at the kiosk", cls: "line-kiosk" },
];
const CANDIDATES = { host: "direct (host)", srflx: "direct (NAT)", prflx: "direct (peer)", relay: "relayed (TURN)" };

/** "good", "fair" or "poor" for a MOS (poor below the server's alert threshold). */
export function mosWord(mos, poor) {
  if (mos === null || mos === undefined) return "no data";
  return mos < poor ? "poor" : mos < 4.0 ? "fair" : "good";
}

const fixed = (digits, unit = "") => (v) => (v === null || v === undefined ? "—" : `${v.toFixed(digits)}${unit}`);

/** The quality charts of a run of samples ({t_ms, party, mos, rtt_ms, loss_pct, fps}) between x0 and x1. */
export function qualityCharts(samples, x0, x1, limits, options = {}) {
  const by = (name) => PARTIES.map(({ party, label, cls }) => ({
    label, cls,
    points: samples.filter((s) => s.party === party).map((s) => [s.t_ms, s[name] ?? null]),
  })).filter((line) => line.points.some(([, v]) => v !== null));
  const peak = (name) => Math.max(0, ...samples.map((s) => s[name] ?? 0));
  const common = { x0, x1, markers: options.markers ?? [], xLabels: options.xLabels };
  return [
    lineChart({
      ...common, title: "Audio quality (MOS)", series: by("mos"), yMin: 1, yMax: 5, format: fixed(1),
      bands: [{ from: 1, to: limits.poor_mos, cls: "band-poor", label: `poor < ${limits.poor_mos}` }],
    }),
    lineChart({ ...common, title: "Round-trip time", unit: "ms", series: by("rtt_ms"), yMax: niceMax(Math.max(100, peak("rtt_ms") * 1.15)) }),
    lineChart({ ...common, title: "Packet loss", unit: "%", series: by("loss_pct"), yMax: niceMax(Math.max(5, peak("loss_pct") * 1.15)) }),
    lineChart({ ...common, title: "Video frame rate", unit: "fps", series: by("fps"), yMax: niceMax(Math.max(30, peak("fps"))) }),
  ];
}

const CHART_TITLES = ["MOS", "Round trip (ms)", "Loss (%)", "Frames / s"];

function callCard(call, openTimeline) {
  const card = el("article", { class: "card live-call", "data-testid": `call-${call.call_id}` });
  const head = el("header", { class: "live-call-head" });
  const title = el("button", { type: "button", class: "live-call-title", "data-part": "title" });
  title.addEventListener("click", () => openTimeline(call.call_id));
  head.append(title, el("span", { class: "muted", "data-part": "who" }), el("span", { class: "mono live-call-clock", "data-part": "clock" }));
  const mos = el("div", { class: "mos" });
  mos.append(el("span", { class: "mos-value mono", "data-testid": "call-mos", "data-part": "mos" }));
  mos.append(el("span", { class: "mos-word", "data-part": "mos-word" }), el("span", { class: "mos-label" }, "MOS"));
  const figures = el("dl", { class: "figures" });
  for (const [name, label] of [["video", "Video score"], ["rtt", "Round trip"], ["jitter", "Jitter"], ["loss", "Loss"],
    ["fps", "Frame rate"], ["bitrate", "Bitrate"], ["size", "Resolution"], ["freezes", "Freezes"],
    ["path", "Path"], ["limit", "Held back by"], ["cpu", "Kiosk CPU"]]) {
    const cell = el("div");
    cell.append(el("dt", {}, label), el("dd", { class: "mono", "data-part": name }));
    figures.append(cell);
  }
  const top = el("div", { class: "live-call-top" });
  top.append(mos, figures);
  const charts = el("div", { class: "charts", "data-part": "charts" });
  const legend = el("p", { class: "legend muted" });
  for (const { label, cls } of PARTIES) {
    const key = el("span", { class: `legend-key ${cls}` });
    key.append(el("span", { class: "legend-swatch", "aria-hidden": "true" }), document.createTextNode(`received ${label}`));
    legend.append(key);
  }
  card.append(head, top, charts, legend);
  return card;
}

function fillCall(card, call, snapshot) {
  const latest = call.latest ?? {};
  const limits = snapshot.limits;
  const word = mosWord(latest.mos, limits.poor_mos);
  card.dataset.quality = word;
  part(card, "title", `Kiosk ${call.kiosk_id}`);
  part(card, "who", `${call.agent ?? "—"} · ${call.topic}`);
  part(card, "clock", clock((snapshot.at_ms - call.started_ms) / 1000));
  part(card, "mos", latest.mos === null || latest.mos === undefined ? "—" : latest.mos.toFixed(1));
  part(card, "mos-word", word);
  part(card, "video", fixed(1)(latest.video_score));
  part(card, "rtt", fixed(0, " ms")(latest.rtt_ms));
  part(card, "jitter", fixed(0, " ms")(latest.jitter_ms));
  part(card, "loss", fixed(1, "%")(latest.loss_pct));
  part(card, "fps", fixed(0)(latest.fps));
  part(card, "bitrate", fixed(0, " kbps")(latest.bitrate_kbps));
  part(card, "size", latest.width && latest.height ? `${latest.width}×${latest.height}` : "—");
  part(card, "freezes", latest.freezes === null || latest.freezes === undefined ? "—" : String(latest.freezes));
  part(card, "path", CANDIDATES[latest.candidate_type] ?? "—");
  part(card, "limit", latest.limitation && latest.limitation !== "none" ? latest.limitation : "nothing");
  part(card, "cpu", fixed(0, "%")(latest.kiosk_cpu_pct));
  const series = call.series ?? [];
  const first = series.length ? series[0].t_ms : snapshot.at_ms;
  const windowMs = Math.min(MAX_WINDOW_MS, Math.max(MIN_WINDOW_MS, snapshot.at_ms - first));
  const charts = qualityCharts(series, snapshot.at_ms - windowMs, snapshot.at_ms, limits);
  card.querySelector('[data-part="charts"]').replaceChildren(
    ...charts.map((chart, i) => {
      const figure = el("figure", { class: "chart-box" });
      figure.append(el("figcaption", {}, CHART_TITLES[i]), chart);
      return figure;
    }),
  );
}

/** The live calls, oldest first. */
export function renderCalls(root, snapshot, openTimeline) {
  const list = root.querySelector('[data-part="call-list"]');
  keyed(list, snapshot.calls, (c) => c.call_id, (call) => callCard(call, openTimeline),
    (card, call) => fillCall(card, call, snapshot));
  part(root, "calls-empty", snapshot.calls.length ? "" : "No calls are connected just now.");
}
