// The console's quality report for its call, every 5 s (`call_stats`): what the browser's getStats() says
// about the media it receives from the kiosk and the path between them. The server scores it (an E-model
// MOS for audio, a video score) and tells IT when a call stays poor.
//
// Loss and bitrates cover the interval since the previous report (differences of the cumulative counters);
// frame rate, size, jitter and round-trip time are the browser's current figures.

import { outbound } from "./protocol.js";

const REPORT_MS = 5000;
const CANDIDATE_TYPES = new Set(["host", "srflx", "prflx", "relay"]);
const LIMITATIONS = new Set(["none", "cpu", "bandwidth", "other"]);

/** A number rounded to 2 decimals and kept in [0, high], or undefined (left out of the message). */
function bounded(value, high) {
  if (typeof value !== "number" || !Number.isFinite(value)) return undefined;
  return Math.round(Math.min(Math.max(value, 0), high) * 100) / 100;
}

function lossPct(now, before) {
  if (!now) return undefined;
  const lost = (now.packetsLost ?? 0) - (before?.packetsLost ?? 0);
  const received = (now.packetsReceived ?? 0) - (before?.packetsReceived ?? 0);
  const total = Math.max(lost, 0) + Math.max(received, 0);
  return total > 0 ? bounded((100 * Math.max(lost, 0)) / total, 100) : 0;
}

function kbps(bytesNow, bytesBefore, seconds) {
  if (typeof bytesNow !== "number" || seconds <= 0) return undefined;
  return bounded(((bytesNow - (bytesBefore ?? 0)) * 8) / 1000 / seconds, 1e6);
}

/** The entries of one getStats() report this module reads, by role. */
export function pick(report) {
  const picked = { audioIn: null, videoIn: null, videoOut: null, pair: null, local: null, at: 0 };
  let selectedPairId = null;
  report.forEach((stats) => {
    if (stats.type === "inbound-rtp" && stats.kind === "audio") picked.audioIn = stats;
    else if (stats.type === "inbound-rtp" && stats.kind === "video") picked.videoIn = stats;
    else if (stats.type === "outbound-rtp" && stats.kind === "video") picked.videoOut = stats;
    else if (stats.type === "transport" && stats.selectedCandidatePairId) {
      selectedPairId = stats.selectedCandidatePairId;
    }
  });
  report.forEach((stats) => {
    if (stats.type !== "candidate-pair") return;
    if (selectedPairId ? stats.id === selectedPairId : stats.nominated && stats.state === "succeeded") {
      picked.pair = stats;
    }
  });
  if (picked.pair) picked.local = report.get(picked.pair.localCandidateId) ?? null;
  picked.at = performance.now();
  return picked;
}

/** The `stats` of a `call_stats` message: the figures of `now` over the interval since `before`. */
export function summarise(now, before) {
  const seconds = before ? (now.at - before.at) / 1000 : 0;
  const { audioIn, videoIn, videoOut, pair, local } = now;
  const stats = {
    rtt_ms: bounded((pair?.currentRoundTripTime ?? NaN) * 1000, 60000),
    jitter_ms: bounded((audioIn?.jitter ?? NaN) * 1000, 60000),
    audio_loss_pct: lossPct(audioIn, before?.audioIn),
    video_loss_pct: lossPct(videoIn, before?.videoIn),
    packets_lost: bounded((audioIn?.packetsLost ?? 0) + (videoIn?.packetsLost ?? 0), 2 ** 53),
    fps: bounded(videoIn?.framesPerSecond, 240),
    bitrate_kbps: kbps(videoIn?.bytesReceived, before?.videoIn?.bytesReceived, seconds),
    width: videoIn?.frameWidth,
    height: videoIn?.frameHeight,
    freezes: videoIn?.freezeCount,
    fps_sent: bounded(videoOut?.framesPerSecond, 240),
    bitrate_sent_kbps: kbps(videoOut?.bytesSent, before?.videoOut?.bytesSent, seconds),
  };
  const buffered = (audioIn?.jitterBufferDelay ?? 0) - (before?.audioIn?.jitterBufferDelay ?? 0);
  const emitted = (audioIn?.jitterBufferEmittedCount ?? 0) - (before?.audioIn?.jitterBufferEmittedCount ?? 0);
  if (emitted > 0) stats.jitter_buffer_ms = bounded((1000 * buffered) / emitted, 60000);
  if (CANDIDATE_TYPES.has(local?.candidateType)) stats.candidate_type = local.candidateType;
  if (LIMITATIONS.has(videoOut?.qualityLimitationReason)) stats.limitation = videoOut.qualityLimitationReason;
  for (const [name, value] of Object.entries(stats)) {
    if (value === undefined || (typeof value === "number" && !Number.isFinite(value))) delete stats[name];
  }
  if (!before) delete stats.bitrate_kbps;
  return stats;
}

export class CallStatsReporter {
  /**
   * @param {string} callId
   * @param {() => RTCPeerConnection|null} currentPc the call's peer connection (replaced on reconnects)
   * @param {(msg: object) => boolean} send
   */
  constructor(callId, currentPc, send) {
    this.callId = callId;
    this.currentPc = currentPc;
    this.send = send;
    this.previous = null;
    this.previousPc = null;
    this.timer = setInterval(() => this.#report().catch((e) => console.warn("call stats", e)), REPORT_MS);
  }

  stop() {
    clearInterval(this.timer);
  }

  async #report() {
    const pc = this.currentPc();
    if (!pc || pc.connectionState !== "connected") return;
    const now = pick(await pc.getStats());
    const before = this.previousPc === pc ? this.previous : null; // a new connection counts afresh
    this.previous = now;
    this.previousPc = pc;
    if (!before) return; // the first look only starts the interval
    this.send(outbound.callStats(this.callId, summarise(now, before)));
  }
}
