// The in-call screen around the media: who the call is with, its duration, the connection's health, and
// the customer's screen (what the agent shows or asks for on the kiosk: actions.js).

import { KioskActions } from "./actions.js";
import { handoverTitle, priorityLabel } from "./incoming.js";
import { byId, formatDuration, humanize, renderHandoverNotes } from "./ui.js";

const CONNECTION_TEXT = Object.freeze({
  new: "Connecting…",
  connecting: "Connecting…",
  connected: "Connected",
  disconnected: "Reconnecting…",
  reconnecting: "Reconnecting…",
  failed: "Connection failed",
  closed: "Closed",
});

export class CallView {
  constructor() {
    this.startedAt = 0;
    this.timer = 0;
    this.remote = /** @type {HTMLVideoElement} */ (byId("remote-video"));
    this.local = /** @type {HTMLVideoElement} */ (byId("local-video"));
    this.hangup = /** @type {HTMLButtonElement} */ (byId("hangup"));
    /** The agent's actions on the kiosk, over the call's `control` channel. */
    this.actions = new KioskActions();
    this.remote.addEventListener("click", () => this.remote.play().catch(() => undefined));
    this.remote.addEventListener("playing", () => {
      byId("remote-placeholder").hidden = true;
    });
  }

  /**
   * @param {{kioskId: string, location: string, topic: string, priority?: number, fault?: string,
   *          notes?: string}} call
   */
  start({ kioskId, location, topic, priority = 0, fault = "", notes = "" }) {
    byId("call-title").textContent = `Kiosk ${kioskId}`;
    byId("call-subtitle").textContent = [location, topic && humanize(topic)].filter(Boolean).join(" · ");
    const badge = byId("call-priority");
    badge.textContent = priorityLabel(priority, fault);
    badge.hidden = !badge.textContent;
    // what the agent must not forget during the call: the fault, and what earlier agents handed over
    byId("call-fault-text").textContent = fault;
    byId("call-fault").hidden = !fault;
    const noted = renderHandoverNotes(byId("call-notes-list"), notes);
    byId("call-notes-handover").hidden = noted === 0;
    byId("call-notes-title").textContent = handoverTitle(noted);
    byId("call-notes").hidden = !fault && noted === 0;
    byId("remote-placeholder").hidden = false;
    this.hangup.disabled = false;
    this.actions.reset();
    this.connection("new");
    this.startedAt = performance.now();
    clearInterval(this.timer);
    this.timer = setInterval(() => this.#tick(), 1000);
    this.#tick();
  }

  /** @returns {number} how long the call lasted, in seconds */
  stop() {
    clearInterval(this.timer);
    this.timer = 0;
    this.actions.detach();
    return (performance.now() - this.startedAt) / 1000;
  }

  /** @param {RTCPeerConnectionState|"new"|"reconnecting"} state */
  connection(state) {
    const pill = byId("call-connection");
    pill.textContent = CONNECTION_TEXT[state] ?? state;
    pill.dataset.conn = state;

  }

  #tick() {
    byId("call-timer").textContent = formatDuration((performance.now() - this.startedAt) / 1000);
  }
}
