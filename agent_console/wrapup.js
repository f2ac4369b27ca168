// After a call: the agent records the outcome (a disposition code) and notes, then becomes available again.

import { byId, humanize } from "./ui.js";

export class WrapUpForm {
  /** @param {(callId: string, disposition: string, notes: string) => boolean} submit */
  constructor(submit) {
    this.callId = null;
    /** the agent filed this wrap-up (its end is their own doing, not the timer's) */
    this.submitted = false;
    this.form = /** @type {HTMLFormElement} */ (byId("wrapup-form"));
    this.select = /** @type {HTMLSelectElement} */ (byId("disposition-select"));
    this.notes = /** @type {HTMLTextAreaElement} */ (byId("wrapup-notes"));
    this.button = /** @type {HTMLButtonElement} */ (byId("wrapup-submit"));
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!this.callId || !this.form.reportValidity()) return;
      if (submit(this.callId, this.select.value, this.notes.value.trim())) {
        this.button.disabled = true;
        this.submitted = true;
      }
    });
  }

  /** @param {string[]} dispositions the codes the server accepts, in its order */
  setDispositions(dispositions) {
    const keep = this.select.value;
    const placeholder = this.select.options[0];
    const options = dispositions.map((code) => new Option(humanize(code), code));
    this.select.replaceChildren(placeholder, ...options);
    if (dispositions.includes(keep)) this.select.value = keep;
  }

  /** @param {string} callId @param {string} summary what the call was, for the agent's memory */
  open(callId, summary) {
    if (this.callId !== callId) {
      this.callId = callId;
      this.submitted = false;
      this.form.reset();
      byId("wrapup-summary").textContent = summary;
    }
    this.button.disabled = false;
  }

  /** The server refused the wrap-up: let the agent correct it. */
  refused() {
    this.button.disabled = false;
    this.submitted = false;
  }

  close() {
    this.callId = null;
    this.submitted = false;
    this.form.reset();
  }

  focus() {
    this.select.focus();
  }
}
