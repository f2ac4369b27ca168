// The agent console's wiring: sign-in, the socket's messages, and which view the agent sees.

import { logout, whoAmI } from "./api.js";
import { CallSession, openLocalMedia } from "./call.js";
import { CallView } from "./callview.js";
import { Chat } from "./chat.js";
import { IncomingCall } from "./incoming.js";
import { outbound } from "./protocol.js";
import { SignIn } from "./signin.js";
import { AgentSocket } from "./socket.js";
import {
  banner,
  byId,
  formatDuration,
  humanize,
  renderAgentState,
  showScreen,
  showWorkspace,
  toast,
} from "./ui.js";
import { WrapUpForm } from "./wrapup.js";

const TITLE = "Kiosk Assist · Agent console";

const model = {
  /** @type {import("./protocol.js").AgentState} */
  state: "offline",
  /** @type {AgentSocket|null} */
  socket: null,
  /** @type {CallSession|null} */
  call: null,
  /** What the agent needs to remember about the current or last call. */
  callInfo: { callId: "", kioskId: "", location: "", topic: "", lasted: undefined, reason: "" },
  /** The call waiting for its wrap-up, from the moment it ends until the wrap-up is accepted. */
  wrapUpCallId: "",
};

const send = (message) => model.socket?.send(message) ?? false;

const chat = new Chat();
const callView = new CallView();
const signIn = new SignIn((me) => startConsole(me));
const incoming = new IncomingCall({
  onAccept: (callId) => send(outbound.accept(callId)),
  onDecline: (callId) => {
    releaseRingingMedia();
    send(outbound.decline(callId));
  },
});
const wrapUp = new WrapUpForm((callId, disposition, notes) =>
  send(outbound.wrapUp(callId, disposition, notes)),
);

// ------------------------------------------------------------------------------------ what is on screen
function render() {
  renderAgentState(model.state);
  let view = "idle-view";
  if (model.call) view = "call-view";
  else if (model.wrapUpCallId) view = "wrapup-view";
  else if (incoming.offer) view = "incoming-call";
  const before = byId(view).hidden;
  showWorkspace(view);
  document.title = view === "incoming-call" ? `Incoming call · ${TITLE}` : TITLE;
  if (before && view === "incoming-call") incoming.focus();
  if (before && view === "wrapup-view") wrapUp.focus();
}

const END_REASONS = Object.freeze({
  agent_hangup: "you hung up",
  kiosk_hangup: "the customer hung up",
  kiosk_cancelled: "the customer cancelled",
  kiosk_disconnected: "the kiosk lost its connection",
  agent_disconnected: "your connection dropped",
  media_failed: "the video connection failed",
});

/** @param {string} reason */
const endReason = (reason) => END_REASONS[reason] ?? humanize(reason).toLowerCase();

function describeCall() {
  const { kioskId, location, topic, lasted, reason } = model.callInfo;
  const what = [kioskId, location, topic && humanize(topic)].filter(Boolean).join(" · ");
  return lasted === undefined ? what : `${what} — ${formatDuration(lasted)}, ${endReason(reason)}.`;
}

// ------------------------------------------------------------------------------------ server messages
const handlers = {
  welcome(msg) {
    byId("agent-name").textContent = msg.display_name || msg.identity;
    wrapUp.setDispositions(msg.dispositions ?? []);
    banner("");
    handlers.agent_state({ state: msg.agent_state ?? "away", call_id: null });
  },

  agent_state(msg) {
    model.state = msg.state;
    if (msg.state !== "ringing" || (msg.call_id && msg.call_id !== incoming.callId)) incoming.hide();
    if (msg.state === "wrap_up" && msg.call_id) model.wrapUpCallId = msg.call_id;
    if (["available", "away", "offline", "ringing"].includes(msg.state)) model.wrapUpCallId = "";
    if (model.wrapUpCallId) wrapUp.open(model.wrapUpCallId, describeCall());
    else wrapUp.close();
    render();
  },

  offer(msg) {
    releaseRingingMedia();
    ringingMedia = openLocalMedia((text) => toast(text, { kind: "error", title: "Media" }));
    incoming.show(msg);
    model.callInfo = {
      callId: msg.call_id,
      kioskId: msg.kiosk_id,
      location: msg.location,
      topic: msg.topic,
      lasted: undefined,
      reason: "",
    };
    render();
  },

  offer_revoked(msg) {
    if (incoming.callId !== msg.call_id) return;
    releaseRingingMedia();
    incoming.hide();
    const why = msg.reason === "timeout" ? "it was not answered in time" : humanize(msg.reason).toLowerCase();
    toast(`The call from ${model.callInfo.kioskId} went back to the queue: ${why}.`, {
      kind: "info",
      title: "Missed call",
    });
    render();
  },

  call_accepted(msg) {
    incoming.hide();
    const media = ringingMedia;
    ringingMedia = null;
    startCall(msg, media);
    render();
  },

  sdp(msg) {
    if (model.call?.callId === msg.call_id && msg.sdp_type === "offer") model.call.handleOffer(msg.sdp);
  },

  ice(msg) {
    if (model.call?.callId === msg.call_id) model.call.handleCandidate(msg.candidate ?? null);
  },

  call_ended(msg) {
    if (model.call?.callId !== msg.call_id) return;
    model.callInfo.lasted = endCall();
    model.callInfo.reason = msg.reason;
    if (msg.state === "completed") {
      model.wrapUpCallId = msg.call_id;
      wrapUp.open(msg.call_id, describeCall());
    }
    if (msg.reason !== "agent_hangup") {
      toast(`The call ended: ${endReason(msg.reason)}.`, { kind: "info", title: "Call ended" });
    }
    render();
  },

  wrap_up_done() {},

  error(msg) {
    if (!model.call && isLateCallMessage(msg)) {
      console.info("a late message for an ended call was refused:", msg.message);
      return;
    }
    toast(msg.message, { kind: "error", title: humanize(msg.code) });
    if (msg.ref === "wrap_up") wrapUp.refused();
    if ((msg.ref === "accept" || msg.ref === "decline") && incoming.offer) {
      releaseRingingMedia();
      incoming.hide();
      render();
    }
    if (msg.ref === "set_state") render();
  },
};

/** A refusal of signaling or a hang-up that crossed the call's end in flight: nothing for the agent to do. */
function isLateCallMessage(msg) {
  if (["ice", "sdp", "hangup"].includes(msg.ref)) return true;
  return !msg.ref && (msg.code === "wrong_state" || msg.code === "unknown_call");
}

// ------------------------------------------------------------------------------------ the call
/** The camera and microphone opened while the current offer rings (handed to the call on accept). */
let ringingMedia = null;

function releaseRingingMedia() {
  const media = ringingMedia;
  ringingMedia = null;
  media?.then((stream) => stream.getTracks().forEach((track) => track.stop()));
}

function startCall(accepted, media = null) {
  model.call?.close();
  chat.reset();
  model.callInfo = { ...model.callInfo, callId: accepted.call_id, kioskId: accepted.kiosk_id };
  model.call = new CallSession(accepted, {
    send,
    onWarning: (text) => toast(text, { kind: "error", title: "Media" }),
    onConnection: (state) => callView.connection(state),
    onChannel: (channel) => {
      if (channel.label === "chat") chat.attach(channel);
    },
    remoteVideo: callView.remote,
    localVideo: callView.local,
  }, media);
  callView.start(model.callInfo);
}

/** Close the call's media; returns how long it lasted (seconds). */
function endCall() {
  const lasted = model.call ? callView.stop() : 0;
  model.call?.close();
  model.call = null;
  chat.detach();
  return lasted;
}

// ------------------------------------------------------------------------------------ sign-in and session
function startConsole(me) {
  showScreen("console-view");
  byId("agent-name").textContent = me.display_name || me.username;
  model.state = "offline";
  render();
  model.socket = new AgentSocket(handlers, {
    onClose: socketClosed,
    onUnknown: (msg) => console.info("ignoring message", msg?.type),
  });
  model.socket.connect();
}

async function socketClosed({ text, opened }) {
  model.socket = null;
  endCall();
  incoming.hide();
  model.state = "offline";
  render();
  if (!opened && (await whoAmI().catch(() => undefined)) === null) {
    signIn.show("Your session has ended. Please sign in again.");
    return;
  }
  banner(`${text} Reload the page to reconnect.`);
}

async function signOut() {
  const socket = model.socket;
  model.socket = null;
  socket?.close();
  endCall();
  incoming.hide();
  model.wrapUpCallId = "";
  await logout().catch(() => undefined);
  banner("");
  signIn.show("You have signed out.", "info");
}

// ------------------------------------------------------------------------------------ controls
function wireControls() {
  byId("signout").addEventListener("click", signOut);
  byId("state-available").addEventListener("click", () => send(outbound.setState("available")));
  byId("state-away").addEventListener("click", () => send(outbound.setState("away", "break")));
  callView.hangup.addEventListener("click", () => {
    if (!model.call) return;
    callView.hangup.disabled = true;
    send(outbound.hangup(model.call.callId));
  });
}

/** Read-only hooks for tests and support staff: what the console is doing right now. */
function exposeForTests() {
  const hooks = Object.freeze({
    get pc() {
      return model.call?.pc ?? null;
    },
    get state() {
      return model.state;
    },
    get callId() {
      return model.call?.callId ?? null;
    },
  });
  Object.defineProperty(window, "kioskAssist", { value: hooks, writable: false, configurable: false });
}

async function boot() {
  wireControls();
  exposeForTests();
  try {
    const me = await whoAmI();
    if (me) startConsole(me);
    else signIn.show();
  } catch (error) {
    signIn.show(error.message);
  }
}

boot();
