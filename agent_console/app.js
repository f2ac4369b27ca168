// The agent console's wiring: sign-in, the socket's messages, and which view the agent sees.

import { completeWrapUp, forceAgentState, logout, whoAmI } from "./api.js";
import { Availability, describeNextState } from "./availability.js";
import { CallSession, openLocalMedia } from "./call.js";
import { CallView } from "./callview.js";
import { Chat } from "./chat.js";
import { IncomingCall } from "./incoming.js";
import { outbound, SUPERVISOR_ROLES } from "./protocol.js";
import { QueueBoard } from "./queueboard.js";
import { QueueFeed } from "./queuefeed.js";
import { SignIn } from "./signin.js";
import { AgentSocket } from "./socket.js";
import { TransferForm } from "./transfer.js";
import { banner, byId, formatDuration, humanize, renderIdle, showScreen, showWorkspace, toast } from "./ui.js";
import { WrapUpForm } from "./wrapup.js";
import { WrapUpTimer } from "./wrapuptimer.js";

const TITLE = "Kiosk Assist · Agent console";

const model = {
  /** @type {import("./protocol.js").AgentState} */
  state: "offline",
  reason: "",
  /** the state asked for during busy work, applied when it ends ("away:lunch", "offline"; "" = none) */
  nextState: "",
  username: "",
  /** @type {import("./protocol.js").StaffRole} */
  role: "agent",
  /** @type {AgentSocket|null} */
  socket: null,
  /** @type {CallSession|null} */
  call: null,
  /** What the agent needs to remember about the current or last call. */
  callInfo: newCallInfo(),
  /** The call waiting for its wrap-up, from the moment it ends until the wrap-up is accepted. */
  wrapUpCallId: "",
};

/** @returns {{callId: string, kioskId: string, location: string, topic: string, priority: number,
 *            fault: string, notes: string, lasted: number|undefined, reason: string}} */
function newCallInfo(offer = null) {
  return {
    callId: offer?.call_id ?? "",
    kioskId: offer?.kiosk_id ?? "",
    location: offer?.location ?? "",
    topic: offer?.topic ?? "",
    priority: offer?.priority ?? 0,
    fault: offer?.context?.device_fault ?? "",
    notes: offer?.notes ?? "",
    lasted: undefined,
    reason: "",
  };
}

const send = (message) => model.socket?.send(message) ?? false;

/**
 * The request whose answer is still awaited. The server's routing refusals arrive without `ref`, so an
 * error with none that follows one of these soon after is taken as its answer.
 * @type {{type: string, at: number}|null}
 */
let awaiting = null;
const AWAIT_MS = 5000;

/** Send a request that the server answers with a state change, or an error. */
function request(message) {
  if (!send(message)) {
    toast("You are not connected to the server.", { title: "Not sent" });
    return false;
  }
  awaiting = { type: message.type, at: performance.now() };
  return true;
}

/** The type of the request an error answers: its `ref`, or the request still awaited. */
function errorRef(msg) {
  if (msg.ref) return msg.ref;
  const pending = awaiting;
  awaiting = null;
  return pending && performance.now() - pending.at < AWAIT_MS ? pending.type : null;
}

const chat = new Chat();
const callView = new CallView();
const signIn = new SignIn((me) => startConsole(me));
const incoming = new IncomingCall({
  onAccept: (callId) => request(outbound.accept(callId)),
  onDecline: (callId) => {
    releaseRingingMedia();
    request(outbound.decline(callId));
  },
});
const wrapUp = new WrapUpForm((callId, disposition, notes) =>
  request(outbound.wrapUp(callId, disposition, notes)),
);
const wrapUpTimer = new WrapUpTimer((callId) => request(outbound.extendWrapUp(callId)));
const availability = new Availability((state, reason = "") => {
  if (!send(outbound.setState(state, reason))) {
    toast("You are not connected to the server.", { title: "Not sent" });
  }
});
const feed = new QueueFeed({ onSignedOut: () => sessionEnded() });
const board = new QueueBoard(feed, { forceState: supervisorSetState, endWrapUp: supervisorEndWrapUp });
const transfer = new TransferForm(feed, (callId, to) => request(outbound.transfer(callId, to)));

// ------------------------------------------------------------------------------------ what is on screen
function render() {
  availability.render(model);
  renderIdle(model.state, Boolean(model.socket?.opened));
  board.setInCall(Boolean(model.call));
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
  removed_by_supervisor: "a supervisor ended it",
});

/** @param {string} reason */
const endReason = (reason) =>
  reason.startsWith("transferred") ? reason : (END_REASONS[reason] ?? humanize(reason).toLowerCase());

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
    if (msg.role && msg.role !== "kiosk") setRole(msg.role);
    banner("");
    if (msg.resumed) return; // the session goes on: what was said meanwhile follows
    // a new session: what this page believed gives way to what the server says now
    if (model.call && (msg.agent_state !== "in_call" || msg.call_id !== model.call.callId)) endCall();
    if (incoming.callId && (msg.agent_state !== "ringing" || msg.call_id !== incoming.callId)) {
      releaseRingingMedia();
      incoming.hide();
    }
    handlers.agent_state({ state: msg.agent_state ?? "away", call_id: msg.call_id ?? null });
  },

  agent_state(msg) {
    const before = model.state;
    model.state = msg.state;
    model.reason = msg.reason ?? "";
    model.nextState = msg.next_state ?? "";
    if (model.call && !["in_call", "ringing"].includes(msg.state)) callTakenAway(msg);
    if (awaiting && (awaiting.type !== "transfer" || msg.state !== "in_call")) awaiting = null;
    if (msg.state !== "ringing" || (msg.call_id && msg.call_id !== incoming.callId)) incoming.hide();
    if (msg.state === "wrap_up" && msg.call_id) model.wrapUpCallId = msg.call_id;
    if (["available", "away", "offline", "ringing"].includes(msg.state)) model.wrapUpCallId = "";
    if (model.wrapUpCallId) {
      wrapUp.open(model.wrapUpCallId, describeCall());
      wrapUpTimer.show(model.wrapUpCallId, msg.wrap_up_ends_in_s, msg.wrap_up_extendable);
    } else {
      wrapUp.close();
      wrapUpTimer.stop();
    }
    if (before !== msg.state) feed.nudge();
    if (before !== msg.state && model.reason.startsWith("set by ")) {
      toast(`Your state is now ${humanize(msg.state).toLowerCase()} (${model.reason}).`, {
        kind: "info",
        title: "State changed by a supervisor",
      });
    }
    render();
  },

  offer(msg) {
    releaseRingingMedia();
    ringingMedia = openLocalMedia((text) => toast(text, { kind: "error", title: "Media" }));
    incoming.show(msg);
    model.callInfo = newCallInfo(msg);
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
    if (model.call?.callId === msg.call_id) return; // told again after a reconnect: the call goes on
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

  /** The wrap-up is over: filed by the agent, or ended by its timer or by a supervisor. */
  wrap_up_done(msg) {
    if (msg.call_id !== model.wrapUpCallId) return;
    const filedByAgent = msg.by ? msg.by === "agent" : wrapUp.submitted;
    const timedOut = msg.by ? msg.by === "timer" : wrapUpTimer.secondsLeft <= 2;
    model.wrapUpCallId = "";
    wrapUp.close();
    wrapUpTimer.stop();
    if (!filedByAgent) {
      const then = describeNextState(model.nextState) || "available";
      toast(
        timedOut
          ? `The wrap-up time ran out, so the call was filed without an outcome. You are ${then.toLowerCase()} again.`
          : "A supervisor ended your wrap-up; the call was filed without an outcome.",
        { kind: "info", title: timedOut ? "Wrap-up time is over" : "Wrap-up ended" },
      );
    }
    render();
  },

  error(msg) {
    const ref = errorRef(msg);
    if (!model.call && isLateCallMessage(ref, msg.code)) {
      console.info("a late message for an ended call was refused:", msg.message);
      return;
    }
    toast(msg.message, { kind: "error", title: ERROR_TITLES[ref] ?? humanize(msg.code) });
    if (ref === "wrap_up") wrapUp.refused();
    if (ref === "extend_wrap_up") wrapUpTimer.refused();
    if (ref === "transfer") transfer.refused(msg.message);
    if ((ref === "accept" || ref === "decline") && incoming.offer) {
      releaseRingingMedia();
      incoming.hide();
      render();
    }
    if (ref === "set_state") render();
  },
};

const ERROR_TITLES = Object.freeze({
  transfer: "Transfer refused",
  extend_wrap_up: "No more time",
  wrap_up: "Wrap-up refused",
  set_state: "State not changed",
});

/** A refusal of signaling or a hang-up that crossed the call's end in flight: nothing for the agent to do.
 * @param {string|null} ref the refused message's type, when known @param {string} code */
function isLateCallMessage(ref, code) {
  if (["ice", "sdp", "hangup"].includes(ref ?? "")) return true;
  return !ref && (code === "wrong_state" || code === "unknown_call");
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
  transfer.start({ callId: accepted.call_id, topic: model.callInfo.topic, me: model.username });
  model.call = new CallSession(accepted, {
    send,
    onWarning: (text) => toast(text, { kind: "error", title: "Media" }),
    onConnection: (state) => callView.connection(state),
    onChannel: (channel) => {
      if (channel.label === "chat") chat.attach(channel);
      if (channel.label === "control") callView.actions.attach(channel);
    },
    onControl: (message) => callView.actions.receive(message),
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
  transfer.end();
  return lasted;
}

/** The call is no longer this agent's although it did not end here: a transfer took (the customer stays
 * connected for the next agent), or it ended without word reaching this window. Close the media. */
function callTakenAway(msg) {
  const handedTo = transfer.pending;
  model.callInfo.lasted = endCall();
  if (msg.state === "wrap_up") model.wrapUpCallId = msg.call_id || model.callInfo.callId;
  if (handedTo) {
    model.callInfo.reason = `transferred ${handedTo}`;
    toast("The customer stays connected and waits for the next agent.", {
      kind: "success",
      title: `Call transferred ${handedTo}`,
    });
  } else {
    model.callInfo.reason = "ended";
    toast("The call is no longer connected to you.", { kind: "info", title: "Call ended" });
  }
}

// ------------------------------------------------------------------------------------ sign-in and session
function startConsole(me) {
  if (me.role === "it") {
    // IT staff take no calls (the agent socket refuses them): their place is the dashboard
    window.location.assign("/dashboard");
    return;
  }
  showScreen("console-view");
  byId("agent-name").textContent = me.display_name || me.username;
  model.state = "offline";
  model.nextState = "";
  model.username = me.username;
  board.start({ username: me.username, supervisor: false });
  setRole(me.role);
  feed.start();
  render();
  model.socket = new AgentSocket(handlers, {
    onClose: socketClosed,
    onReconnecting: socketReconnecting,
    onUnknown: (msg) => console.info("ignoring message", msg?.type),
  });
  model.socket.connect();
}

/** @param {string} role from sign-in, /api/me or the socket's welcome */
function setRole(role) {
  model.role = role;
  board.setSupervisor(SUPERVISOR_ROLES.includes(role));
}

/** The socket dropped; it is reconnecting. The call's media carries on meanwhile. */
async function socketReconnecting({ text, attempt }) {
  banner(`${text} Reconnecting…`);
  if (attempt >= 3 && (await whoAmI().catch(() => undefined)) === null) sessionEnded();
}

async function socketClosed({ text, opened }) {
  model.socket = null;
  endCall();
  incoming.hide();
  model.state = "offline";
  model.nextState = "";
  wrapUpTimer.stop();
  render();
  if (!opened && (await whoAmI().catch(() => undefined)) === null) {
    sessionEnded();
    return;
  }
  banner(`${text} Reload the page to reconnect.`);
}

/** Everything that runs while signed in stops: the socket, the call, timers, the board's polling. */
function stopConsole() {
  const socket = model.socket;
  model.socket = null;
  socket?.close();
  endCall();
  releaseRingingMedia();
  incoming.hide();
  model.wrapUpCallId = "";
  wrapUp.close();
  wrapUpTimer.stop();
  board.stop();
  feed.stop();
  awaiting = null;
}

/** The server no longer knows this session (it expired, or the account signed in elsewhere). */
function sessionEnded() {
  stopConsole();
  banner("");
  signIn.show("Your session has ended. Please sign in again.");
}

async function signOut() {
  stopConsole();
  await logout().catch(() => undefined);
  banner("");
  signIn.show("You have signed out.", "info");
}

// ------------------------------------------------------------------------------------ supervisors
/** @param {string} name @param {string} state */
async function supervisorSetState(name, state) {
  try {
    const result = await forceAgentState(name, /** @type {"available"|"away"|"offline"} */ (state));
    const later = result.state !== state && result.next_state;
    toast(
      later
        ? `${name} is busy; they will be ${describeNextState(result.next_state).toLowerCase()} when their call ends.`
        : `${name} is now ${humanize(result.state).toLowerCase()}.`,
      { kind: "success", title: "Agent state set" },
    );
  } catch (error) {
    toast(error.message, { title: `Could not set ${name}'s state` });
  }
  await feed.refresh();
}

/** @param {string} name */
async function supervisorEndWrapUp(name) {
  try {
    await completeWrapUp(name);
    toast(`${name}'s wrap-up was ended; the call was filed without an outcome.`, {
      kind: "success",
      title: "Wrap-up ended",
    });
  } catch (error) {
    toast(error.message, { title: `Could not end ${name}'s wrap-up` });
  }
  await feed.refresh();
}

// ------------------------------------------------------------------------------------ controls
function wireControls() {
  byId("signout").addEventListener("click", signOut);
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
    get nextState() {
      return model.nextState;
    },
    get boardPolling() {
      return feed.polling;
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
