// The console's side of the wire protocol (signaling/protocol.py is the source of truth).
// Every message is a JSON object with a `type` tag; these builders are the only way the console makes one.

/**
 * @typedef {"offline"|"available"|"away"|"ringing"|"in_call"|"wrap_up"} AgentState
 * @typedef {{urls: string[], username?: string, credential?: string}} IceServer
 * @typedef {{candidate: string, sdpMid?: string|null, sdpMLineIndex?: number|null}} IceCandidate
 * @typedef {"agent"|"supervisor"|"admin"} StaffRole
 * @typedef {{type: "welcome", identity: string, role?: StaffRole|"kiosk", display_name?: string,
 *            topics?: string[], dispositions?: string[], agent_state?: AgentState}} Welcome
 * @typedef {{type: "agent_state", state: AgentState, reason?: string, call_id?: string|null,
 *            next_state?: string|null, wrap_up_ends_in_s?: number|null,
 *            wrap_up_extendable?: boolean|null}} AgentStateMsg
 *   `next_state`: asked for during busy work ("away:lunch", "offline"), applied when it ends;
 *   `wrap_up_ends_in_s`: in wrap-up, when the server ends it on its own;
 *   `wrap_up_extendable`: in wrap-up, whether more time may still be asked for (once per call).
 * @typedef {{type: "offer", call_id: string, kiosk_id: string, location: string, topic: string,
 *            language: string, waited_s: number, expires_in_s: number,
 *            context?: Object<string, string>, priority?: number, notes?: string}} Offer
 *   `priority` 1+ means a device fault at the kiosk (`context.device_fault` says which);
 *   `notes` come from agents who transferred the call, one "agent: text" line each.
 * @typedef {{type: "call_accepted", call_id: string, kiosk_id: string, ice_servers: IceServer[]}} CallAccepted
 * @typedef {{type: "call_ended", call_id: string, state: string, reason: string}} CallEnded
 * @typedef {{type: "wrap_up_done", call_id: string, by?: "agent"|"timer"|"supervisor"}} WrapUpDone
 * @typedef {{type: "error", code: string, message: string, ref?: string|null}} ErrorMsg
 */

export const AGENT_STATES = Object.freeze(["offline", "available", "away", "ringing", "in_call", "wrap_up"]);

/** States in which the agent is working a call; a change of availability asked then waits for it to end. */
export const BUSY_STATES = Object.freeze(["ringing", "in_call", "wrap_up"]);

/** Roles that see the supervisor's actions on the queue board. */
export const SUPERVISOR_ROLES = Object.freeze(["supervisor", "admin"]);

export const outbound = Object.freeze({
  /** @param {"available"|"away"|"offline"} state @param {string} [reason] */
  setState: (state, reason = "") => ({ type: "set_state", state, reason }),
  /** @param {string} callId */
  accept: (callId) => ({ type: "accept", call_id: callId }),
  /** @param {string} callId */
  decline: (callId) => ({ type: "decline", call_id: callId }),
  /** @param {string} callId @param {string} sdp */
  answer: (callId, sdp) => ({ type: "sdp", call_id: callId, sdp_type: "answer", sdp }),
  /** @param {string} callId @param {IceCandidate|null} candidate null marks the end of candidates */
  ice: (callId, candidate) => ({ type: "ice", call_id: callId, candidate }),
  /** @param {string} callId */
  hangup: (callId) => ({ type: "hangup", call_id: callId }),
  /** @param {string} callId @param {string} disposition @param {string} notes */
  wrapUp: (callId, disposition, notes) => ({ type: "wrap_up", call_id: callId, disposition, notes }),
  /** More time for the wrap-up (the server grants it once per call). @param {string} callId */
  extendWrapUp: (callId) => ({ type: "extend_wrap_up", call_id: callId }),
  /**
   * A cold transfer to a queue and/or a named free agent; the notes travel with the call.
   * @param {string} callId @param {{toTopic?: string, toAgent?: string, notes?: string}} to
   */
  transfer: (callId, { toTopic = "", toAgent = "", notes = "" }) => {
    const message = { type: "transfer", call_id: callId, notes };
    if (toTopic) message.to_topic = toTopic;
    if (toAgent) message.to_agent = toAgent;
    return message;
  },
  /** The call's quality over the last 5 s (see callstats.js). @param {string} callId @param {object} stats */
  callStats: (callId, stats) => ({ type: "call_stats", call_id: callId, stats }),
  heartbeat: () => ({ type: "heartbeat" }),
});

/**
 * The protocol's form of a browser ICE candidate: exactly the fields the server accepts
 * (`RTCIceCandidate.toJSON()` also carries `usernameFragment`, which the server's schema refuses).
 * @param {RTCIceCandidate|null} candidate
 * @returns {IceCandidate|null}
 */
export function candidateToWire(candidate) {
  if (candidate === null) return null;
  const { candidate: line, sdpMid, sdpMLineIndex } = candidate.toJSON();
  return { candidate: line ?? "", sdpMid: sdpMid ?? null, sdpMLineIndex: sdpMLineIndex ?? null };
}
