// The console's side of the wire protocol (signaling/protocol.py is the source of truth).
// Every message is a JSON object with a `type` tag; these builders are the only way the console makes one.

/**
 * @typedef {"offline"|"available"|"away"|"ringing"|"in_call"|"wrap_up"} AgentState
 * @typedef {{urls: string[], username?: string, credential?: string}} IceServer
 * @typedef {{candidate: string, sdpMid?: string|null, sdpMLineIndex?: number|null}} IceCandidate
 * @typedef {{type: "welcome", identity: string, display_name?: string, dispositions?: string[],
 *            agent_state?: AgentState}} Welcome
 * @typedef {{type: "agent_state", state: AgentState, reason?: string, call_id?: string|null}} AgentStateMsg
 * @typedef {{type: "offer", call_id: string, kiosk_id: string, location: string, topic: string,
 *            language: string, waited_s: number, expires_in_s: number,
 *            context?: Object<string, string>}} Offer
 * @typedef {{type: "call_accepted", call_id: string, kiosk_id: string, ice_servers: IceServer[]}} CallAccepted
 * @typedef {{type: "call_ended", call_id: string, state: string, reason: string}} CallEnded
 * @typedef {{type: "error", code: string, message: string, ref?: string|null}} ErrorMsg
 */

export const AGENT_STATES = Object.freeze(["offline", "available", "away", "ringing", "in_call", "wrap_up"]);

export const outbound = Object.freeze({
  /** @param {"available"|"away"} state @param {string} [reason] */
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
