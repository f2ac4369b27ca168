// The ringing panel: who is calling, from where, about what, how long they have waited, and how long
// the agent has left to answer.

import { byId, formatDuration, humanize, languageLabel } from "./ui.js";

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
    this.#renderContext(offer.context ?? {});
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
