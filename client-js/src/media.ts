// The media connection to the SFU: one RTCPeerConnection per meeting.
//
// The client sends on two sendonly transceivers (microphone, camera) that exist for the whole
// call; switching a device or the camera on and off swaps the track with `replaceTrack`, never
// renegotiating. The client offers once, after `joined`; from then on the SFU offers whenever
// other participants' tracks come or go and the client answers. All negotiation runs through one
// promise queue so that offers and answers never interleave.
//
// Every remote track's `msid` stream id is the participant id of its sender, so `ontrack` tells
// whose tile a track belongs to.
//
// End-to-end encryption hooks in through `FrameTransforms`: it is handed every sender right after
// its transceiver is created (before the first offer) and every receiver when its track arrives;
// `e2ee/transforms.ts` attaches an `RTCRtpScriptTransform` (one worker, SFrame) to each.

import type { ClientMessage } from './signaling';

/**
 * Where per-sender and per-receiver encoded transforms attach (E2EE). Called exactly once per
 * sender, and once per (receiver, participant) assignment: a receiver the SFU reuses for another
 * participant is announced again with the new participant id.
 */
export interface FrameTransforms {
  /** Needed by the legacy `createEncodedStreams` path; `RTCRtpScriptTransform` needs nothing. */
  readonly peerConnectionConfig?: Partial<RTCConfiguration>;
  attachSender(sender: RTCRtpSender, kind: 'audio' | 'video'): void;
  attachReceiver(receiver: RTCRtpReceiver, participantId: string): void;
}

/** No transform: frames travel as the encoder made them. */
export const clearFrames: FrameTransforms = {
  attachSender() {},
  attachReceiver() {},
};

export interface MediaSessionEvents {
  /** An `offer` or `answer` for the server. */
  signal(msg: Extract<ClientMessage, { type: 'offer' | 'answer' }>): void;
  /** `track` now carries `participantId`'s media. */
  remoteTrack(participantId: string, track: MediaStreamTrack): void;
  /** `track` no longer carries `participantId`'s media. */
  remoteTrackRemoved(participantId: string, track: MediaStreamTrack): void;
  /** Negotiation or the connection failed for good. */
  failed(message: string): void;
}

const ANSWER_TIMEOUT_MS = 15_000;
/** How long the connection may stay `disconnected` before it counts as lost. */
const DISCONNECTED_GRACE_MS = 10_000;

/**
 * Codecs that are not media codecs of their own: retransmission and forward error correction
 * wrap the media codec's packets, so they stay allowed alongside it.
 */
const AUXILIARY_CODECS = new Set(['video/rtx', 'video/red', 'video/ulpfec', 'video/flexfec-03']);

/**
 * Restricts the transceiver to `mimeType` (plus retransmission and FEC for video). End-to-end
 * encryption needs it: the SFrame transform keeps the VP8 and Opus headers in the clear, and
 * codecs whose packetizer parses the payload (H.264, AV1) break on ciphertext.
 */
function restrictCodec(tx: RTCRtpTransceiver, kind: 'audio' | 'video', mimeType: string): void {
  if (typeof tx.setCodecPreferences !== 'function') return;
  const codecs = RTCRtpReceiver.getCapabilities(kind)?.codecs;
  if (!codecs) return;
  const wanted = mimeType.toLowerCase();
  const main = codecs.filter((c) => c.mimeType.toLowerCase() === wanted);
  if (main.length === 0) return;
  const auxiliary = codecs.filter((c) => AUXILIARY_CODECS.has(c.mimeType.toLowerCase()));
  try {
    tx.setCodecPreferences([...main, ...auxiliary]);
  } catch (err) {
    console.warn('veil: setCodecPreferences failed', err);
  }
}

export class MediaSession {
  readonly pc: RTCPeerConnection;
  private readonly audio: RTCRtpTransceiver;
  private readonly video: RTCRtpTransceiver;
  /** Negotiation steps run one after another. */
  private queue: Promise<void> = Promise.resolve();
  private awaitingAnswer: ((sdp: string) => void) | null = null;
  /** Which participant each remote track currently belongs to. */
  private readonly trackOwner = new Map<MediaStreamTrack, string>();
  private disconnectedTimer: number | undefined;
  private closed = false;
  private openGate: () => void = () => {};
  private readonly joinedGate = new Promise<void>((resolve) => {
    this.openGate = resolve;
  });

  /** `audio` and `video` are the first tracks to send; either may be null (device off). */
  constructor(
    tracks: { audio: MediaStreamTrack | null; video: MediaStreamTrack | null },
    private readonly events: MediaSessionEvents,
    private readonly transforms: FrameTransforms = clearFrames,
  ) {
    this.pc = new RTCPeerConnection({
      iceServers: [],
      bundlePolicy: 'max-bundle',
      rtcpMuxPolicy: 'require',
      ...transforms.peerConnectionConfig,
    });
    this.pc.addEventListener('track', (ev) => this.onTrack(ev));
    this.pc.addEventListener('connectionstatechange', () => this.onConnectionState());

    // Both transceivers exist from the start, with or without a track, so that turning a device
    // on later is a replaceTrack and not a renegotiation.
    this.audio = this.pc.addTransceiver(tracks.audio ?? 'audio', { direction: 'sendonly' });
    this.video = this.pc.addTransceiver(tracks.video ?? 'video', { direction: 'sendonly' });
    restrictCodec(this.audio, 'audio', 'audio/opus');
    restrictCodec(this.video, 'video', 'video/VP8');
    this.transforms.attachSender(this.audio.sender, 'audio');
    this.transforms.attachSender(this.video.sender, 'video');
  }

  /**
   * Prepares the offer of the sending transceivers right away and sends it once `joined()` is
   * called, then applies the SFU's answer. Creating the offer while the join is in flight takes
   * it off the join time; the server still sees the offer only after `joined`.
   */
  start(): Promise<void> {
    return this.enqueue(async () => {
      const offer = await this.pc.createOffer();
      await this.pc.setLocalDescription(offer);
      await this.joinedGate;
      let timer: number | undefined;
      const answered = new Promise<string>((resolve, reject) => {
        this.awaitingAnswer = resolve;
        timer = window.setTimeout(
          () => reject(new Error('the server did not answer the media offer.')),
          ANSWER_TIMEOUT_MS,
        );
      });
      this.events.signal({ type: 'offer', sdp: this.pc.localDescription?.sdp ?? offer.sdp ?? '' });
      performance.mark('veil:offer-sent');
      const sdp = await answered.finally(() => window.clearTimeout(timer));
      await this.pc.setRemoteDescription({ type: 'answer', sdp });
      performance.mark('veil:answer-applied');
    });
  }

  /** The server accepted the join: the prepared offer may go out. */
  joined(): void {
    this.openGate();
  }

  /** The server's `answer` to our offer. */
  handleAnswer(sdp: string): void {
    const resolve = this.awaitingAnswer;
    this.awaitingAnswer = null;
    if (resolve) resolve(sdp);
    else console.warn('veil: ignoring an answer nobody asked for');
  }

  /** A server `offer`: other participants' tracks came or went. */
  handleOffer(sdp: string): Promise<void> {
    performance.mark('veil:server-offer');
    return this.enqueue(async () => {
      await this.pc.setRemoteDescription({ type: 'offer', sdp });
      const answer = await this.pc.createAnswer();
      await this.pc.setLocalDescription(answer);
      this.events.signal({ type: 'answer', sdp: this.pc.localDescription?.sdp ?? answer.sdp ?? '' });
    });
  }

  /** Swaps the microphone track (null sends nothing). */
  replaceAudio(track: MediaStreamTrack | null): Promise<void> {
    return this.replace(this.audio.sender, track);
  }

  /** Swaps the camera track (null sends nothing). */
  replaceVideo(track: MediaStreamTrack | null): Promise<void> {
    return this.replace(this.video.sender, track);
  }

  /** The participant whose media `track` carries, if any. */
  ownerOf(track: MediaStreamTrack): string | undefined {
    return this.trackOwner.get(track);
  }

  /** The participant whose media the remote track with id `trackId` carries, if any. */
  ownerOfTrackId(trackId: string): string | undefined {
    for (const [track, owner] of this.trackOwner) if (track.id === trackId) return owner;
    return undefined;
  }

  close(): void {
    this.closed = true;
    window.clearTimeout(this.disconnectedTimer);
    this.awaitingAnswer = null;
    this.pc.close();
  }

  private async replace(sender: RTCRtpSender, track: MediaStreamTrack | null): Promise<void> {
    if (this.closed || sender.track === track) return;
    try {
      await sender.replaceTrack(track);
    } catch (err) {
      console.warn('veil: replaceTrack failed', err);
    }
  }

  private enqueue(step: () => Promise<void>): Promise<void> {
    const run = this.queue.then(async () => {
      if (this.closed) return;
      try {
        await step();
      } catch (err) {
        if (this.closed) return;
        const message = err instanceof Error ? err.message : String(err);
        this.events.failed(`Setting up audio and video failed: ${message}`);
      }
    });
    this.queue = run;
    return run;
  }

  private onTrack(ev: RTCTrackEvent): void {
    const stream = ev.streams[0];
    if (!stream) {
      console.warn('veil: remote track without a stream id; cannot tell whose it is');
      return;
    }
    const track = ev.track;
    const participantId = stream.id;
    const previous = this.trackOwner.get(track);
    if (previous === participantId) return;
    if (previous !== undefined) this.events.remoteTrackRemoved(previous, track);
    this.trackOwner.set(track, participantId);
    this.transforms.attachReceiver(ev.receiver, participantId);
    this.events.remoteTrack(participantId, track);
    stream.addEventListener('removetrack', (e) => {
      if (e.track === track && this.trackOwner.get(track) === participantId) {
        this.trackOwner.delete(track);
        this.events.remoteTrackRemoved(participantId, track);
      }
    });
  }

  private onConnectionState(): void {
    if (this.closed) return;
    const state = this.pc.connectionState;
    performance.mark(`veil:pc-${state}`);
    window.clearTimeout(this.disconnectedTimer);
    if (state === 'failed') {
      this.events.failed('The media connection to the server was lost.');
    } else if (state === 'disconnected') {
      this.disconnectedTimer = window.setTimeout(() => {
        if (!this.closed && this.pc.connectionState === 'disconnected') {
          this.events.failed('The media connection to the server was lost.');
        }
      }, DISCONNECTED_GRACE_MS);
    }
  }
}
