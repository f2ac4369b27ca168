// Text chat with the customer over the call's `chat` data channel.

import { byId } from "./ui.js";

const MAX_LINE = 1000;

export class Chat {
  constructor() {
    /** @type {RTCDataChannel|null} */
    this.channel = null;
    this.log = byId("chat-log");
    this.input = /** @type {HTMLInputElement} */ (byId("chat-input"));
    this.sendButton = /** @type {HTMLButtonElement} */ (byId("chat-send"));
    byId("chat-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.#sendTyped();
    });
    this.input.addEventListener("input", () => this.#updateControls());
  }

  /** @param {RTCDataChannel} channel the call's `chat` channel, as the kiosk opened it */
  attach(channel) {
    this.channel = channel;
    channel.addEventListener("open", () => {
      this.#updateControls();
      this.note("Chat connected.");
    });
    channel.addEventListener("close", () => this.#updateControls());
    channel.addEventListener("message", (event) => {
      const text = typeof event.data === "string" ? event.data : new TextDecoder().decode(event.data);
      this.#append("them", "Customer", text);
    });
    this.#updateControls();
  }

  /** Start a fresh conversation. */
  reset() {
    this.channel = null;
    this.log.replaceChildren();
    this.input.value = "";
    this.#updateControls();
  }

  /** The call ended: keep the transcript on screen, stop sending. */
  detach() {
    this.channel = null;
    this.#updateControls();
  }

  /** A line from the console itself (connection notes). */
  note(text) {
    this.#append("note", "", text);
  }

  #sendTyped() {
    const text = this.input.value.trim().slice(0, MAX_LINE);
    if (!text || this.channel?.readyState !== "open") return;
    this.channel.send(text);
    this.#append("me", "You", text);
    this.input.value = "";
    this.#updateControls();
    this.input.focus();
  }

  #append(who, label, text) {
    const item = document.createElement("li");
    item.className = `chat-line chat-${who}`;
    const meta = document.createElement("span");
    meta.className = "chat-meta";
    const time = new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    meta.textContent = label ? `${label} · ${time}` : time;
    const body = document.createElement("span");
    body.className = "chat-text";
    body.textContent = text;
    item.append(meta, body);
    this.log.append(item);
    this.log.scrollTop = this.log.scrollHeight;
  }

  #updateControls() {
    const open = this.channel?.readyState === "open";
    this.input.disabled = !open;
    this.input.placeholder = open ? "Type a message…" : "Chat opens when the call connects";
    this.sendButton.disabled = !open || this.input.value.trim() === "";
  }
}
