// The agent's actions on the kiosk, over the call's `control` data channel (kiosk_client/control.py holds the
// protocol): a message or a document shown on the customer's screen, and a photo of the customer's ID, which
// the kiosk takes only with the customer's consent.
//
// The photo comes back as an `id_photo` header {request_id, size, sha256, width, height, mime} followed by
// `size` bytes in binary messages, in order; it is reassembled, its byte count and SHA-256 checked, and only
// then shown (through a Blob object URL, revoked when the photo goes). A refusal comes as `id_photo_refused`.

import { byId } from "./ui.js";

/** The kiosk ignores longer control messages. */
const MAX_CONTROL_BYTES = 64 * 1024;
/** A header announcing more than this is not believed. */
const MAX_PHOTO_BYTES = 20 * 1024 * 1024;
/** How long a photo request waits for the kiosk's next word (the answer, then each part of the photo). */
const PHOTO_ANSWER_MS = 60_000;
const PHOTO_TYPES = Object.freeze(["image/jpeg", "image/png", "image/webp"]);
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;
const DEFAULT_REASON = "To check your identity document";

/** The agent's actions, as the kiosk reads them (kiosk_client/control.py). */
const toKiosk = Object.freeze({
  /** @param {string} text */
  showMessage: (text) => ({ type: "show_message", text }),
  /** @param {string} title @param {string} text */
  showDocument: (title, text) => ({ type: "show_document", title, text }),
  /** @param {string} requestId @param {string} reason */
  requestIdPhoto: (requestId, reason) => ({ type: "request_id_photo", request_id: requestId, reason }),
});

const PHOTO_STATUS = Object.freeze({
  waiting: "Waiting for the customer's consent…",
  receiving: "Receiving photo…",
  received: "Photo received",
  refused: "Declined by the customer",
  damaged: "The photo arrived damaged; ask again",
  noAnswer: "No answer from the kiosk",
  interrupted: "The connection to the kiosk was interrupted; ask again",
});

/**
 * @typedef {{requestId: string, size: number, sha256: string, width: number, height: number, mime: string}}
 *   PhotoHeader
 * @typedef {{header: PhotoHeader, parts: Uint8Array[], received: number}} PhotoParts
 */

/** An `id_photo` header, checked; null when it cannot describe a photo this console would show. */
function photoHeader(message) {
  const { request_id: requestId, size, sha256, width, height, mime = "image/jpeg" } = message;
  const sound =
    Number.isSafeInteger(size) && size > 0 && size <= MAX_PHOTO_BYTES &&
    typeof sha256 === "string" && SHA256_HEX.test(sha256.toLowerCase()) &&
    Number.isSafeInteger(width) && width > 0 && Number.isSafeInteger(height) && height > 0 &&
    PHOTO_TYPES.includes(mime);
  return sound ? { requestId, size, sha256: sha256.toLowerCase(), width, height, mime } : null;
}

/** The photo as a Blob when every byte arrived and its SHA-256 is the header's; null otherwise.
 * @param {PhotoParts} photo */
async function verified({ header, parts, received }) {
  if (received !== header.size || !globalThis.crypto?.subtle) return null;
  const blob = new Blob(parts, { type: header.mime });
  const digest = await crypto.subtle.digest("SHA-256", await blob.arrayBuffer());
  const hex = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
  return hex === header.sha256 ? blob : null;
}

/** 38_211 → "37 KB" */
function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

/** A fresh request id the kiosk accepts (^[A-Za-z0-9._:-]+$, at most 64 characters). */
function newRequestId() {
  const random = crypto.getRandomValues(new Uint8Array(16));
  return `photo-${Array.from(random, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** Show or clear a form's inline message. @param {HTMLElement} el @param {string} text */
function say(el, text) {
  el.textContent = text;
  el.hidden = !text;
}

/**
 * The fields' trimmed values; null, with the form's message saying what is missing and the field focused,
 * when one is empty.
 * @param {HTMLElement} error @param {[HTMLInputElement|HTMLTextAreaElement, string][]} fields
 */
function filled(error, fields) {
  for (const [field] of fields) field.removeAttribute("aria-invalid");
  const empty = fields.find(([field]) => !field.value.trim());
  if (empty) {
    empty[0].setAttribute("aria-invalid", "true");
    say(error, empty[1]);
    empty[0].focus();
    return null;
  }
  say(error, "");
  return fields.map(([field]) => field.value.trim());
}

/** One photo request at a time: its status line, the photo's parts as they arrive, and the photo shown. */
class IdPhotoReceiver {
  /** @param {() => void} onSettled told when a request is answered, fails or is given up */
  constructor(onSettled) {
    this.onSettled = onSettled;
    this.status = byId("id-photo-status");
    this.figure = byId("id-photo-figure");
    this.image = /** @type {HTMLImageElement} */ (byId("id-photo"));
    this.caption = byId("id-photo-caption");
    /** @type {{id: string, timer: number, photo: PhotoParts|null}|null} the request awaiting its answer */
    this.request = null;
    /** the object URL of the photo on screen, "" when none */
    this.url = "";
  }

  get waiting() {
    return this.request !== null;
  }

  /** A request was sent: forget the last photo and wait for the customer. @param {string} id */
  start(id) {
    this.clear();
    this.request = { id, timer: 0, photo: null };
    this.#arm();
    this.#say("waiting", PHOTO_STATUS.waiting);
  }

  refused(message) {
    if (message.request_id !== this.request?.id) return;
    const reason = String(message.reason ?? "").trim();
    const byCustomer = !reason || reason.toLowerCase() === PHOTO_STATUS.refused.toLowerCase();
    this.#settle("refused", byCustomer ? PHOTO_STATUS.refused : `The kiosk sent no photo: ${reason}`);
  }

  header(message) {
    if (message.request_id !== this.request?.id) return; // a photo no longer asked for: its parts are dropped
    const header = photoHeader(message);
    if (!header) {
      this.#settle("damaged", PHOTO_STATUS.damaged);
      return;
    }
    this.request.photo = { header, parts: [], received: 0 };
    this.#arm();
    this.#say("receiving", PHOTO_STATUS.receiving);
  }

  /** One binary part of the photo. @param {Uint8Array} bytes */
  async part(bytes) {
    const request = this.request;
    const photo = request?.photo;
    if (!photo) return; // no photo under way: the rest of one given up
    photo.parts.push(bytes);
    photo.received += bytes.byteLength;
    this.#arm();
    if (photo.received < photo.header.size) return;
    const blob = await verified(photo);
    if (this.request !== request) return;
    if (blob) await this.#show(blob, photo.header);
    else this.#settle("damaged", PHOTO_STATUS.damaged);
  }

  /** The channel the request went over is gone: its answer will not come. */
  interrupted() {
    if (this.request) this.#settle("failed", PHOTO_STATUS.interrupted);
  }

  /** No request, no photo, no status (a new call, or the call's end). */
  clear() {
    if (this.request) clearTimeout(this.request.timer);
    this.request = null;
    this.#forgetPhoto();
    this.#say("", "");
  }

  /** @param {Blob} blob @param {PhotoHeader} header */
  async #show(blob, header) {
    const request = this.request;
    this.#forgetPhoto();
    this.url = URL.createObjectURL(blob);
    this.image.src = this.url;
    try {
      await this.image.decode();
    } catch {
      // not a picture after all, or cleared meanwhile (which forgot the photo already)
      if (this.request === request) {
        this.#forgetPhoto();
        this.#settle("damaged", PHOTO_STATUS.damaged);
      }
      return;
    }
    if (this.request !== request) return;
    const size = `${this.image.naturalWidth}×${this.image.naturalHeight}`;
    this.caption.textContent = `${size} · ${formatBytes(header.size)}`;
    this.figure.hidden = false;
    this.#settle("received", PHOTO_STATUS.received);
  }

  #forgetPhoto() {
    if (this.url) URL.revokeObjectURL(this.url);
    this.url = "";
    this.image.removeAttribute("src");
    this.caption.textContent = "";
    this.figure.hidden = true;
  }

  /** (Re)start the wait for the kiosk's next word on the request. */
  #arm() {
    const request = this.request;
    if (!request) return;
    clearTimeout(request.timer);
    request.timer = setTimeout(() => {
      if (this.request === request) this.#settle("failed", PHOTO_STATUS.noAnswer);
    }, PHOTO_ANSWER_MS);
  }

  #settle(state, text) {
    if (this.request) clearTimeout(this.request.timer);
    this.request = null;
    this.#say(state, text);
    this.onSettled();
  }

  #say(state, text) {
    this.status.textContent = text;
    this.status.dataset.state = state;
  }
}

/** The "Customer's screen" panel of the in-call view: what the agent shows or asks for on the kiosk. */
export class KioskActions {
  constructor() {
    /** @type {RTCDataChannel|null} the call's `control` channel */
    this.channel = null;
    /** Messages from the kiosk, handled one after the other (a photo's parts in order). */
    this.inbox = Promise.resolve();
    this.photo = new IdPhotoReceiver(() => this.#updateControls());
    this.offline = byId("kiosk-actions-offline");
    this.sentNote = byId("kiosk-actions-sent");
    this.messageInput = /** @type {HTMLInputElement} */ (byId("action-message-input"));
    this.messageButton = /** @type {HTMLButtonElement} */ (byId("action-show-message"));
    this.messageError = byId("action-message-error");
    this.titleInput = /** @type {HTMLInputElement} */ (byId("action-document-title"));
    this.textInput = /** @type {HTMLTextAreaElement} */ (byId("action-document-text"));
    this.documentButton = /** @type {HTMLButtonElement} */ (byId("action-show-document"));
    this.documentError = byId("action-document-error");
    this.reasonInput = /** @type {HTMLInputElement} */ (byId("action-photo-reason"));
    this.photoButton = /** @type {HTMLButtonElement} */ (byId("action-request-photo"));
    this.photoError = byId("action-photo-error");
    this.#onSubmit("action-message-form", () => this.#showMessage());
    this.#onSubmit("action-document-form", () => this.#showDocument());
    this.#onSubmit("action-photo-form", () => this.#requestPhoto());
    this.#updateControls();
  }

  /** @param {RTCDataChannel} channel the call's `control` channel (a new one when the media reconnects) */
  attach(channel) {
    this.photo.interrupted(); // what was asked over the previous channel is answered over that one, if at all
    this.channel = channel;
    channel.binaryType = "arraybuffer";
    channel.addEventListener("open", () => this.channel === channel && this.#updateControls());
    channel.addEventListener("close", () => {
      if (this.channel !== channel) return;
      this.photo.interrupted();
      this.#updateControls();
    });
    this.#updateControls();
  }

  /** A message from the kiosk other than its heartbeat: a parsed JSON object, or binary data.
   * @param {object|ArrayBuffer|Blob} message */
  receive(message) {
    this.inbox = this.inbox
      .then(() => this.#handle(message))
      .catch((error) => console.warn("a control message from the kiosk could not be handled", error));
  }

  /** A new call: empty forms, no photo. */
  reset() {
    this.channel = null;
    this.photo.clear();
    for (const id of ["action-message-form", "action-document-form", "action-photo-form"]) {
      /** @type {HTMLFormElement} */ (byId(id)).reset();
    }
    this.reasonInput.value = DEFAULT_REASON;
    for (const field of [this.messageInput, this.titleInput, this.textInput, this.reasonInput]) {
      field.removeAttribute("aria-invalid");
    }
    for (const el of [this.messageError, this.documentError, this.photoError]) say(el, "");
    this.sentNote.textContent = "";
    showPrivacy(true, true);
    this.#updateControls();
  }

  /** The call is over: nothing more is sent, and the customer's photo leaves the screen. */
  detach() {
    this.channel = null;
    this.photo.clear();
    this.#updateControls();
  }

  async #handle(message) {
    if (message instanceof Blob) return this.photo.part(new Uint8Array(await message.arrayBuffer()));
    if (message instanceof ArrayBuffer) return this.photo.part(new Uint8Array(message));
    if (ArrayBuffer.isView(message)) {
      return this.photo.part(new Uint8Array(message.buffer, message.byteOffset, message.byteLength));
    }
    const requestId = message?.request_id;
    const known = typeof requestId === "string" && REQUEST_ID.test(requestId);
    if (known && message.type === "id_photo") return this.photo.header(message);
    if (known && message.type === "id_photo_refused") return this.photo.refused(message);
    if (message?.type === "privacy") return showPrivacy(message.microphone !== false, message.camera !== false);
    console.info("ignoring a control message from the kiosk", message?.type);
  }

  #showMessage() {
    const values = filled(this.messageError, [
      [this.messageInput, "Type the message to show on the kiosk's screen."],
    ]);
    if (!values || !this.#send(toKiosk.showMessage(values[0]), this.messageError)) return;
    this.messageInput.value = "";
    this.#sent("Message");
  }

  #showDocument() {
    const values = filled(this.documentError, [
      [this.titleInput, "Give the document a title."],
      [this.textInput, "Type or paste the document's text."],
    ]);
    if (!values || !this.#send(toKiosk.showDocument(values[0], values[1]), this.documentError)) return;
    this.#sent(`Document “${values[0]}”`);
  }

  #requestPhoto() {
    const values = filled(this.photoError, [
      [this.reasonInput, "Say why you need the photo: the customer reads it."],
    ]);
    if (!values || this.photo.waiting) return;
    const id = newRequestId();
    if (!this.#send(toKiosk.requestIdPhoto(id, values[0]), this.photoError)) return;
    this.photo.start(id);
    this.#updateControls();
  }

  /** @param {object} message @param {HTMLElement} error where to say why it was not sent */
  #send(message, error) {
    const wire = JSON.stringify(message);
    if (new TextEncoder().encode(wire).byteLength > MAX_CONTROL_BYTES) {
      say(error, "This is too long for the kiosk's screen; shorten it.");
      return false;
    }
    if (this.channel?.readyState !== "open") {
      say(error, "The kiosk is not connected; try again once the call reconnects.");
      return false;
    }
    try {
      this.channel.send(wire);
    } catch (failure) {
      console.warn("a control message could not be sent", failure);
      say(error, "The kiosk is not connected; try again once the call reconnects.");
      return false;
    }
    return true;
  }

  #sent(what) {
    const time = new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    this.sentNote.textContent = `${what} sent to the kiosk at ${time}.`;
  }

  /** @param {string} id @param {() => void} action */
  #onSubmit(id, action) {
    byId(id).addEventListener("submit", (event) => {
      event.preventDefault();
      action();
    });
  }

  #updateControls() {
    const open = this.channel?.readyState === "open";
    this.messageButton.disabled = !open;
    this.documentButton.disabled = !open;
    this.photoButton.disabled = !open || this.photo.waiting;
    this.offline.hidden = open;
  }
}

/** Whether the customer muted or turned the camera off (the kiosk's `privacy` message), next to the
 * connection's state; hidden while both are on. @param {boolean} microphone @param {boolean} camera */
function showPrivacy(microphone, camera) {
  const pill = byId("customer-privacy");
  const off = [microphone ? "" : "Customer muted", camera ? "" : "Customer's camera off"].filter(Boolean);
  pill.textContent = off.join(" · ");
  pill.hidden = off.length === 0;
}
