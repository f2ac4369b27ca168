// The ringing panel: who is calling, from where, about what, how long they have waited, and how long
// the agent has left to answer. A device fault and notes from agents who transferred the call stand out.

import { byId, formatDuration, humanize, languageLabel, renderHandoverNotes } from "./ui.js";

/** @param {number} count hand-overs the call has been through */
export const handoverTitle = (count) =>
  count > 1 ? "Notes from the agents who handed this call on" : "Notes from the previous agent";

/** The badge for an offer's priority: priority 1+ means a device fault at the kiosk; 0 shows nothing. */
export function priorityLabel(priority, fault) {
  if (!fault && !(priority > 0)) return "";
  return priority > 1 ? `Device fault · priority ${priority}` : "Device fault";
}

const TICK_MS = 250;

export class IncomingCall {
  /** @param {{onAccept: (callId: string) => void, onDecline: (callId: string) => void}} actions */
  constructor({ onAccept, onDecline }) {
    /** @type {import("./protocol.js").Offer|null} */
    this.offer = null;
    this.receivedAt = 0;
    this.timer = 0;
    this.accept = /** @type {HTMLButtonElement} */ (byId("accept-call"));
    this.decline = /** @type {HTMLButtonElement} */ (byId("decline-call"));
    this.accept.addEventListener("click", () => this.#act(onAccept));
    this.decline.addEventListener("click", () => this.#act(onDecline));
  }

  get callId() {
    return this.offer?.call_id ?? null;
  }

  /** @param {import("./protocol.js").Offer} offer */
  show(offer) {
    this.offer = offer;
    this.receivedAt = performance.now();
    byId("offer-kiosk").textContent = offer.kiosk_id;
    byId("offer-location").textContent = offer.location || "—";
    byId("offer-topic").textContent = humanize(offer.topic);
    byId("offer-language").textContent = languageLabel(offer.language);
    byId("incoming-summary").textContent = `${humanize(offer.topic)} · ${offer.location || offer.kiosk_id}`;
    const { device_fault: fault = "", ...context } = offer.context ?? {};
    this.#renderContext(context);
    this.#renderUrgency(offer.priority ?? 0, fault);
    const handovers = renderHandoverNotes(byId("offer-notes"), offer.notes ?? "");
    byId("offer-notes-wrap").hidden = handovers === 0;
    byId("offer-notes-title").textContent = handoverTitle(handovers);
    this.accept.disabled = false;
    this.decline.disabled = false;
    clearInterval(this.timer);
    this.timer = setInterval(() => this.#tick(), TICK_MS);
    this.#tick();
  }

  hide() {
    clearInterval(this.timer);
    this.timer = 0;
    this.offer = null;
  }

  focus() {
    this.accept.focus();
  }

  #act(action) {
    if (!this.offer) return;
    this.accept.disabled = true;
    this.decline.disabled = true;
    action(this.offer.call_id);
  }

  #renderContext(context) {
    const list = byId("offer-context");
    const entries = Object.entries(context);
    list.replaceChildren(
      ...entries.flatMap(([key, value]) => {
        const row = document.createElement("div");
        const dt = document.createElement("dt");
        const dd = document.createElement("dd");
        dt.textContent = humanize(key);
        dd.textContent = value;
        row.append(dt, dd);
        return [row];
      }),
    );
    byId("offer-context-wrap").hidden = entries.length === 0;
  }

  #renderUrgency(priority, fault) {
    const badge = byId("offer-priority");
    badge.textContent = priorityLabel(priority, fault);
    badge.hidden = !badge.textContent;
    byId("incoming-call").dataset.priority = String(priority);
    byId("offer-fault-text").textContent = fault;
    byId("offer-fault").hidden = !fault;
  }

  #tick() {
    if (!this.offer) return;
    const elapsed = (performance.now() - this.receivedAt) / 1000;
    const total = Math.max(0.001, this.offer.expires_in_s);
    const left = Math.max(0, total - elapsed);
    byId("offer-waited").textContent = formatDuration(this.offer.waited_s + elapsed);
    byId("offer-expiry").textContent =
      left > 0 ? `Answer within ${Math.ceil(left)} s` : "The offer is expiring…";
    byId("offer-expiry-fill").style.setProperty("--left", String(left / total));
    byId("incoming-call").dataset.urgent = String(left <= 5);
  }
}
