// A call's timeline on the dashboard: every event from the help request to the survey, in time order, with
// its quality samples drawn under the same clock (the events marked on the charts). Opened from a live
// call or an alert; read once per opening (the server records each reading), refreshed on request.

import { ApiError, callTimeline } from "./api.js";
import { clock, el } from "./dashviews.js";
import { qualityCharts } from "./livecalls.js";

const EVENT_LABELS = {
  created: "Help requested",
  queued: "Queued",
  reserved: "Rang an agent",
  released: "Offer released",
  accepted: "Agent accepted",
  media_connected: "Media connected",
  transferred: "Transferred",
  ended: "Call ended",
  wrapped_up: "Wrap-up filed",
  survey: "Survey answered",
  alert_raised: "Alert raised",
  alert_cleared: "Alert cleared",
};
const MARKED = new Set(["accepted", "ended", "transferred", "alert_raised"]);
const CHART_TITLES = ["MOS", "Round trip (ms)", "Loss (%)", "Frames / s"];

const HIDDEN = new Set(["alert_id", "kind"]); // ids for machines; the kind is the event's label already
const label = (kind) => EVENT_LABELS[kind] ?? kind.replaceAll("_", " ");

/** The detail of an event as "name: value" text (objects flattened one level). */
function detailText(detail) {
  return Object.entries(detail ?? {})
    .filter(([name, value]) => value !== null && value !== "" && value !== undefined && !HIDDEN.has(name))
    .map(([name, value]) => `${name.replaceAll("_", " ")}: ${typeof value === "object" ? JSON.stringify(value) : value}`)
    .join(" · ");
}

export class CallTimeline {
  /** @param {HTMLDialogElement} dialog @param {() => any} limits the latest thresholds */
  constructor(dialog, limits) {
    this.dialog = dialog;
    this.limits = limits;
    this.callId = "";
    dialog.querySelector('[data-part="close"]').addEventListener("click", () => dialog.close());
    dialog.querySelector('[data-part="refresh"]').addEventListener("click", () => this.open(this.callId));
  }

  /** @param {string} callId */
  async open(callId) {
    this.callId = callId;
    const body = this.dialog.querySelector('[data-part="body"]');
    this.dialog.querySelector('[data-part="title"]').textContent = `Call ${callId}`;
    body.replaceChildren(el("p", { class: "muted" }, "Loading…"));
    if (!this.dialog.open) this.dialog.showModal();
    try {
      this.#render(body, await callTimeline(callId));
    } catch (error) {
      const text = error instanceof ApiError && error.status === 404 ? "This call is not known." : error.message;
      body.replaceChildren(el("p", { class: "form-error", role: "alert" }, text));
    }
  }

  #render(body, timeline) {
    const call = timeline.call;
    const events = timeline.events;
    const samples = timeline.samples ?? [];
    const times = [...events.map((e) => e.t_ms), ...samples.map((s) => s.t_ms)];
    const start = Math.min(call.created_ms ?? Infinity, ...times);
    const end = Math.max(call.ended_ms ?? 0, ...times, start + 10_000);
    const summary = el("p", { class: "timeline-summary" });
    summary.textContent = [
      `Kiosk ${call.kiosk_id ?? "—"}`, `agent ${call.agent ?? "—"}`, call.topic, call.state,
      call.end_reason ? `ended: ${call.end_reason}` : "", `${samples.length} quality samples`,
    ].filter(Boolean).join(" · ");
    const parts = [summary];
    if (samples.length) {
      const markers = events.filter((e) => MARKED.has(e.kind)).map((e) => ({ t: e.t_ms, label: label(e.kind) }));
      const xLabels = /** @type {[string, string]} */ (["0:00", clock((end - start) / 1000)]);
      const charts = qualityCharts(samples.map(withLoss), start, end, this.limits(), { markers, xLabels });
      const grid = el("div", { class: "charts" });
      grid.append(...charts.map((chart, i) => {
        const figure = el("figure", { class: "chart-box" });
        figure.append(el("figcaption", {}, CHART_TITLES[i]), chart);
        return figure;
      }));
      parts.push(grid);
    }
    const list = el("ol", { class: "timeline-events", "data-testid": "timeline-events" });
    for (const event of events) {
      const item = el("li", { "data-kind": event.kind });
      item.append(el("span", { class: "mono timeline-at" }, `+${clock((event.t_ms - start) / 1000)}`));
      item.append(el("strong", {}, label(event.kind)));
      const time = el("time", { class: "muted", datetime: new Date(event.t_ms).toISOString() });
      time.textContent = new Date(event.t_ms).toLocaleTimeString();
      item.append(time, el("span", { class: "muted timeline-detail" }, detailText(event.detail)));
      list.append(item);
    }
    if (!events.length) list.append(el("li", { class: "muted" }, "No events recorded yet."));
    parts.push(list);
    body.replaceChildren(...parts);
  }
}

/** A stored sample with its loss as the worse of audio and video, as live calls give it. */
function withLoss(sample) {
  const losses = [sample.audio_loss_pct, sample.video_loss_pct].filter((v) => v !== null && v !== undefined);
  return { ...sample, loss_pct: losses.length ? Math.max(...losses) : null };
}
