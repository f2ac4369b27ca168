// The agent's WebSocket to the signaling server: JSON in, typed messages out, one handler per message type.

import { outbound } from "./protocol.js";

const HEARTBEAT_MS = 10_000;

/** Close codes the server uses, with what they mean to the agent. */
const CLOSE_REASONS = Object.freeze({
  1001: "The server is restarting.",
  4001: "You signed in from another window; this one is disconnected.",
  4008: "The connection was too slow and was closed.",
  4401: "Your session has ended. Please sign in again.",
});

export class AgentSocket {
  /**
   * @param {Object<string, (msg: any) => void>} handlers keyed by message `type`
   * @param {{onOpen?: () => void, onClose?: (info: {code: number, text: string, opened: boolean}) => void,
   *          onUnknown?: (msg: any) => void}} [hooks]
   */
  constructor(handlers, hooks = {}) {
    this.handlers = handlers;
    this.hooks = hooks;
    this.ws = null;
    this.opened = false;
    this.heartbeat = 0;
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}/ws/agent`);
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
    clearInterval(this.heartbeat);
    if (this.ws) {
      this.ws.close(1000, "signed out");
      this.ws = null;
    }
  }

  #opened() {
    this.opened = true;
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
    const handler = this.handlers[msg?.type];
    if (handler) handler(msg);
    else this.hooks.onUnknown?.(msg);
  }

  #closed(event) {
    clearInterval(this.heartbeat);
    if (this.ws === null) return; // closed on purpose
    this.ws = null;
    const text = CLOSE_REASONS[event.code] ?? "The connection to the server was lost.";
    this.hooks.onClose?.({ code: event.code, text, opened: this.opened });
  }
}
