// One call's media: the agent's camera and microphone, and the RTCPeerConnection to the kiosk.
//
// The kiosk makes the offer (video, audio and the `chat` and `control` data channels); the console answers,
// trickles its ICE candidates including the final end-of-candidates (null), and shows the kiosk's media.
//
// Both ends send a heartbeat on the `control` channel twice a second. When the kiosk's stop for 2 s the
// media path is broken: the call shows "Reconnecting…" and the kiosk, which notices too, offers again over
// a new peer connection; a new offer replaces this page's connection (the camera stays open). Every other
// message on `control` (the kiosk's answers to the agent's actions, and the ID photo's binary parts) goes to
// `deps.onControl` (actions.js); any message at all counts as a sign of life.

import { CallStatsReporter } from "./callstats.js";
import { candidateToWire, outbound } from "./protocol.js";

const HEARTBEAT_MS = 500;
const SILENCE_MS = 2000;
const HEARTBEAT = JSON.stringify({ type: "heartbeat" });

const MEDIA_ATTEMPTS = [
  { video: { width: { ideal: 1280 }, height: { ideal: 720 } }, audio: true },
  { video: false, audio: true },
];

/** The agent's camera and microphone; falls back to the microphone alone, then to receiving only.
 * The console opens them while a call rings, so accepting does not wait for the camera. */
export async function openLocalMedia(onWarning) {
  for (const constraints of MEDIA_ATTEMPTS) {
    try {
      return await navigator.mediaDevices.getUserMedia(constraints);
    } catch (error) {
      console.warn("getUserMedia failed", constraints, error);
    }
  }
  onWarning("Your camera and microphone could not be opened; the customer will not see or hear you.");
  return new MediaStream();
}

export class CallSession {
  /**
   * @param {import("./protocol.js").CallAccepted} accepted
   * @param {{send: (msg: object) => boolean, onWarning: (text: string) => void,
   *          onConnection: (state: RTCPeerConnectionState) => void,
   *          onChannel: (channel: RTCDataChannel) => void,
   *          onControl?: (message: object|ArrayBuffer|Blob) => void,
   *          remoteVideo: HTMLVideoElement, localVideo: HTMLVideoElement}} deps
   */
  constructor(accepted, deps, localMedia = null) {
    this.callId = accepted.call_id;
    this.kioskId = accepted.kiosk_id;
    this.deps = deps;
    /** @type {RTCPeerConnection|null} */
    this.pc = null;
    /** @type {MediaStream|null} */
    this.localStream = null;
    this.remoteStream = new MediaStream();
    /** Candidates that arrived before the kiosk's offer was applied. */
    this.pendingCandidates = [];
    this.closed = false;
    this.config = {
      iceServers: accepted.ice_servers.map(cleanIceServer),
      iceTransportPolicy: accepted.ice_transport_policy === "relay" ? "relay" : "all",
    };
    /** The kiosk's last heartbeat (performance.now()), 0 before the first. */
    this.heardAt = 0;
    this.silent = false;
    this.beat = setInterval(() => this.#heartbeat(), HEARTBEAT_MS);
    /** @type {RTCDataChannel|null} */
    this.control = null;
    /** Reports the call's quality to the server every 5 s while media flows. */
    this.stats = new CallStatsReporter(this.callId, () => this.pc, deps.send);
    /** Serialises set-up, the offer and candidates in arrival order. */
    this.work = this.#start(localMedia).catch((error) => this.#failed("start", error));
  }

  /** The kiosk's SDP offer: apply it, add our media, answer. A later offer (the kiosk reconnecting the
   * media) replaces the peer connection. */
  handleOffer(sdp) {
    this.work = this.work
      .then(async () => {
        if (this.pc?.remoteDescription) this.#newConnection();
        await this.#answer(sdp);
      })
      .catch((error) => this.#failed("answer", error));
  }

  /** @param {import("./protocol.js").IceCandidate|null} candidate */
  handleCandidate(candidate) {
    this.work = this.work.then(() => this.#addCandidate(candidate)).catch((error) => {
      console.warn("a remote ICE candidate was refused", error);
    });
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.beat);
    this.stats.stop();
    this.pc?.close();
    for (const track of this.localStream?.getTracks() ?? []) track.stop();
    this.deps.remoteVideo.srcObject = null;
    this.deps.localVideo.srcObject = null;
  }

  /** @param {Promise<MediaStream>|null} localMedia the camera opened while ringing, if any */
  async #start(localMedia) {
    this.localStream = await (localMedia ?? openLocalMedia(this.deps.onWarning));
    if (this.closed) {
      for (const track of this.localStream.getTracks()) track.stop();
      return;
    }
    this.#newConnection();
  }

  #newConnection() {
    const old = this.pc;
    const pc = new RTCPeerConnection(this.config);
    this.pc = pc;
    this.pendingCandidates = [];
    if (old) {
      old.close();
      this.remoteStream = new MediaStream();
      this.deps.remoteVideo.srcObject = this.remoteStream;
    }
    pc.addEventListener("icecandidate", (event) => {
      if (this.pc === pc) this.deps.send(outbound.ice(this.callId, candidateToWire(event.candidate)));
    });
    pc.addEventListener("track", (event) => this.#remoteTrack(event.track));
    pc.addEventListener("datachannel", (event) => this.#channel(event.channel));
    pc.addEventListener("connectionstatechange", () => {
      if (this.pc !== pc) return;
      const state = pc.connectionState;
      // a broken path is mended by the kiosk's next offer: the agent sees it reconnecting, not failed
      this.deps.onConnection(state === "failed" || state === "disconnected" ? "reconnecting" : state);
    });
  }

  #channel(channel) {
    if (channel.label === "control") {
      this.control = channel;
      channel.binaryType = "arraybuffer"; // the ID photo's parts, before any can arrive
      // beat at once: the kiosk knows the path works as soon as the channel is up
      channel.addEventListener("open", () => channel.send(HEARTBEAT));
      if (channel.readyState === "open") channel.send(HEARTBEAT);
      channel.addEventListener("message", (event) => {
        this.heardAt = performance.now();
        if (this.silent) {
          this.silent = false;
          this.deps.onConnection("connected");
        }
        const message = controlMessage(event.data);
        if (message !== null) this.deps.onControl?.(message);
      });
    }
    this.deps.onChannel(channel);
  }

  #heartbeat() {
    if (this.control?.readyState === "open") this.control.send(HEARTBEAT);
    if (this.heardAt && !this.silent && performance.now() - this.heardAt > SILENCE_MS) {
      this.silent = true;
      this.deps.onConnection("reconnecting");
    }
  }

  async #answer(sdp) {
    const pc = this.pc;
    if (!pc || this.closed) return;
    await pc.setRemoteDescription({ type: "offer", sdp });
    for (const track of this.localStream?.getTracks() ?? []) pc.addTrack(track, this.localStream);
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    this.deps.send(outbound.answer(this.callId, pc.localDescription?.sdp ?? answer.sdp ?? ""));
    // the self-view starts only now: rendering it must not delay the answer
    this.deps.localVideo.srcObject = this.localStream;
    const pending = this.pendingCandidates.splice(0);
    for (const candidate of pending) await this.#addCandidate(candidate);
  }

  async #addCandidate(candidate) {
    const pc = this.pc;
    if (!pc || this.closed) return;
    if (!pc.remoteDescription) {
      this.pendingCandidates.push(candidate);
      return;
    }
    await (candidate ? pc.addIceCandidate(candidate) : pc.addIceCandidate());
  }

  #remoteTrack(track) {
    this.remoteStream.addTrack(track);
    const video = this.deps.remoteVideo;
    if (video.srcObject !== this.remoteStream) video.srcObject = this.remoteStream;
    video.play().catch((error) => {
      if (error?.name === "NotAllowedError") {
        this.deps.onWarning("The browser blocked the customer's audio; click the video to hear them.");
      }
    });
  }

  #failed(step, error) {
    console.error(`call ${this.callId}: ${step} failed`, error);
    this.deps.onWarning(`The video connection could not be set up (${step}: ${error?.message ?? error}).`);
  }
}

/** A `control` message from the kiosk other than its heartbeat: a JSON object parsed, binary data as it is;
 * null for a heartbeat, or for text that is not a JSON object. @param {string|ArrayBuffer|Blob} data */
function controlMessage(data) {
  if (typeof data !== "string") return data;
  if (data === HEARTBEAT) return null;
  try {
    const message = JSON.parse(data);
    if (message !== null && typeof message === "object" && message.type !== "heartbeat") return message;
  } catch {
    console.warn("ignoring a control message that is not JSON");
  }
  return null;
}

/** Only the fields RTCPeerConnection understands (the server omits empty ones). */
function cleanIceServer(server) {
  const clean = { urls: server.urls };
  if (server.username) clean.username = server.username;
  if (server.credential) clean.credential = server.credential;
  return clean;
}
