// Transfer, cold: hand the call to another queue and/or a named free agent, with notes for whoever takes it.
// The customer stays connected at the kiosk; this agent's part ends (the server puts them in wrap-up).

import { byId, humanize } from "./ui.js";

/**
 * Give a select these options, keeping its choice when still offered; untouched when nothing changed
 * (a menu the agent has open stays open through the next poll).
 * @param {HTMLSelectElement} select @param {HTMLOptionElement[]} options
 */
function setOptions(select, options) {
  const same =
    select.options.length === options.length &&
    options.every((o, i) => select.options[i].value === o.value && select.options[i].text === o.text);
  if (same) return;
  const chosen = select.value;
  select.replaceChildren(...options);
  if (options.some((o) => o.value === chosen)) select.value = chosen;
}

export class TransferForm {
  /**
   * @param {import("./queuefeed.js").QueueFeed} feed where the queues and the free agents come from
   * @param {(callId: string, to: {toTopic: string, toAgent: string, notes: string}) => boolean} transfer
   */
  constructor(feed, transfer) {
    this.feed = feed;
    this.callId = "";
    this.topic = "";
    this.me = "";
    /** where a transfer was asked for and not yet answered ("to the cards queue"), "" when none */
    this.pending = "";
    this.form = /** @type {HTMLFormElement} */ (byId("transfer-panel"));
    this.openButton = /** @type {HTMLButtonElement} */ (byId("transfer-open"));
    this.topicSelect = /** @type {HTMLSelectElement} */ (byId("transfer-topic"));
    this.agentSelect = /** @type {HTMLSelectElement} */ (byId("transfer-agent"));
    this.notes = /** @type {HTMLTextAreaElement} */ (byId("transfer-notes"));
    this.submit = /** @type {HTMLButtonElement} */ (byId("transfer-submit"));
    this.error = byId("transfer-error");
    this.openButton.addEventListener("click", () => (this.form.hidden ? this.open() : this.close()));
    byId("transfer-cancel").addEventListener("click", () => this.close());
    this.topicSelect.addEventListener("change", () => this.#fill(this.feed.snapshot));
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.#send(transfer);
    });
    feed.subscribe((snapshot) => {
      if (!this.form.hidden) this.#fill(snapshot);
    });
  }

  /** A call started: transfers are about it. @param {{callId: string, topic: string, me: string}} call */
  start({ callId, topic, me }) {
    this.callId = callId;
    this.topic = topic;
    this.me = me;
    this.pending = "";
    this.openButton.disabled = false;
    this.close();
    this.form.reset();
  }

  /** The call is over for this agent (ended or handed on). */
  end() {
    this.callId = "";
    this.pending = "";
    this.openButton.disabled = true;
    this.close();
  }

  open() {
    if (!this.callId) return;
    this.form.hidden = false;
    this.openButton.setAttribute("aria-expanded", "true");
    this.#note("");
    this.submit.disabled = false;
    this.submit.textContent = "Transfer call";
    this.#fill(this.feed.snapshot);
    this.feed.want("transfer", true);
    this.feed.refresh();
    this.topicSelect.focus();
  }

  close() {
    this.form.hidden = true;
    this.openButton.setAttribute("aria-expanded", "false");
    this.feed.want("transfer", false);
  }

  /** The server refused the transfer: the call goes on; let the agent choose again. */
  refused(message) {
    this.pending = "";
    this.submit.disabled = false;
    this.submit.textContent = "Transfer call";
    if (!this.form.hidden) this.#note(message);
  }

  /** Queues, and the agents free now (in the chosen queue, or in any), keeping what the agent chose. */
  #fill(snapshot) {
    const queues = snapshot?.queues ?? [];
    const label = (q) => (q.label && q.label !== q.topic ? q.label : humanize(q.topic));
    const topicOptions = queues.map((q) => {
      const waiting = q.waiting ? ` · ${q.waiting} waiting` : "";
      const text = q.topic === this.topic ? `${label(q)} (this call's queue)` : `${label(q)}${waiting}`;
      return new Option(text, q.topic);
    });
    const placeholder = queues.length ? "Keep this call's queue" : "Loading queues…";
    setOptions(this.topicSelect, [new Option(placeholder, ""), ...topicOptions]);

    /** @type {Map<string, string[]>} free agents and their queues */
    const free = new Map();
    for (const q of queues) {
      if (this.topicSelect.value && q.topic !== this.topicSelect.value) continue;
      for (const a of q.agents ?? []) {
        if (a.state !== "available" || a.username === this.me) continue;
        free.set(a.username, [...(free.get(a.username) ?? []), label(q)]);
      }
    }
    const agentOptions = [...free.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, where]) => new Option(`${name} · ${where.join(", ")}`, name));
    const anyone = free.size ? "Anyone in the queue" : "Anyone in the queue (no one is free now)";
    setOptions(this.agentSelect, [new Option(anyone, ""), ...agentOptions]);
  }

  #send(transfer) {
    const toTopic = this.topicSelect.value;
    const toAgent = this.agentSelect.value;
    if (!this.callId) return;
    if (!toTopic && !toAgent) {
      this.#note("Choose a queue or an agent to transfer the call to.");
      this.topicSelect.focus();
      return;
    }
    this.#note("");
    if (transfer(this.callId, { toTopic, toAgent, notes: this.notes.value.trim() })) {
      this.pending = toAgent ? `to ${toAgent}` : `to the ${humanize(toTopic).toLowerCase()} queue`;
      this.submit.disabled = true;
      this.submit.textContent = "Transferring…";
    }
  }

  #note(message) {
    this.error.textContent = message;
    this.error.hidden = !message;
  }
}
