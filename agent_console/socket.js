// The agent's WebSocket to the signaling server: JSON in, typed messages out, one handler per message type.
//
// When the connection drops (a network blip, a laptop's sleep, a server restart) it reconnects with backoff
// and resumes the session: the server replays every message sent meanwhile, in order, once (each numbered
// message carries `seq`; the welcome gives the resume token). The call's media, peer to peer, carries on.

import { outbound } from "./protocol.js";

const HEARTBEAT_MS = 10_000;
/** About 0, 0.3, 1.2, 2.7, 4.8 s, then every 7 s, each with up to 20 % jitter. */
const RECONNECT_DELAYS_MS = [0, 300, 1200, 2700, 4800];
const RECONNECT_EVERY_MS = 7000;
/** Closes after which reconnecting cannot help. */
const FINAL_CLOSES = new Set([4001, 4401, 4403]);

/** Close codes the server uses, with what they mean to the agent. */
const CLOSE_REASONS = Object.freeze({
  1001: "The server is restarting.",
  4001: "You signed in from another window; this one is disconnected.",
  4008: "The connection was too slow and was closed.",
  4401: "Your session has ended. Please sign in again.",
  4403: "You were signed out by an administrator. Please sign in again.",
});

export class AgentSocket {
  /**
   * @param {Object<string, (msg: any) => void>} handlers keyed by message `type`
   * @param {{onOpen?: () => void, onClose?: (info: {code: number, text: string, opened: boolean}) => void,
   *          onReconnecting?: (info: {code: number, text: string, attempt: number}) => void,
   *          onUnknown?: (msg: any) => void}} [hooks]
   */
  constructor(handlers, hooks = {}) {
    this.handlers = handlers;
    this.hooks = hooks;
    this.ws = null;
    this.opened = false;
    this.heartbeat = 0;
    /** The session to resume, from the last welcome, and the last numbered message received. */
    this.resumeToken = "";
    this.lastSeq = 0;
    this.attempt = 0;
    this.retry = 0;
    this.stopped = false;
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const resume = this.resumeToken
      ? `?resume=${encodeURIComponent(this.resumeToken)}&last_seq=${this.lastSeq}`
      : "";
    const ws = new WebSocket(`${scheme}//${location.host}/ws/agent${resume}`);
    this.ws = ws;
    ws.addEventListener("open", () => this.#opened());
    ws.addEventListener("message", (event) => this.#received(event.data));
    ws.addEventListener("close", (event) => this.#closed(event));
  }

  /** Send one message made by `outbound` in protocol.js; false when the socket is not open. */
  send(message) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  close() {
    this.stopped = true;
    clearTimeout(this.retry);
    clearInterval(this.heartbeat);
    if (this.ws) {
      this.ws.close(1000, "signed out");
      this.ws = null;
    }
  }

  #opened() {
    this.opened = true;
    this.attempt = 0;
    this.heartbeat = setInterval(() => this.send(outbound.heartbeat()), HEARTBEAT_MS);
    this.hooks.onOpen?.();
  }

  #received(data) {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      console.warn("ignoring a frame that is not JSON");
      return;
    }
    if (typeof msg?.seq === "number") {
      if (msg.seq <= this.lastSeq) return; // already received before a reconnect
      this.lastSeq = msg.seq;
    }
    if (msg?.type === "welcome") {
      this.resumeToken = msg.resume_token ?? "";
      if (!msg.resumed) this.lastSeq = msg.last_seq ?? 0; // a new session counts on from here
    }
    const handler = this.handlers[msg?.type];
    if (handler) handler(msg);
    else this.hooks.onUnknown?.(msg);
  }

  #closed(event) {
    clearInterval(this.heartbeat);
    if (this.ws === null) return; // closed on purpose
    this.ws = null;
    const text = CLOSE_REASONS[event.code] ?? "The connection to the server was lost.";
    if (this.stopped || FINAL_CLOSES.has(event.code) || !this.opened) {
      this.hooks.onClose?.({ code: event.code, text, opened: this.opened });
      return;
    }
    const base = RECONNECT_DELAYS_MS[this.attempt] ?? RECONNECT_EVERY_MS;
    this.attempt += 1;
    this.hooks.onReconnecting?.({ code: event.code, text, attempt: this.attempt });
    this.retry = setTimeout(() => this.connect(), base * (0.8 + Math.random() * 0.4));
  }
}
