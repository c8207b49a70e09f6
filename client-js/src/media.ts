// The media connection to the SFU: one RTCPeerConnection per meeting.
//
// The client sends on one sendonly transceiver per source its join token lets it publish
// (microphone, camera, and for a screen grant the screen and its audio), created once for the
// whole call; switching a device, the camera or a screen share on and off swaps the track with
// `replaceTrack`, never renegotiating. A participant that publishes nothing offers one
// receive-only m-line, so the connection comes up. The client offers once, after `joined`,
// naming each sending m-line's source (the SFU checks them against the grants, which the room's
// policy may have narrowed: such transceivers are made inactive before the offer goes out); from
// then on the SFU offers whenever other participants' tracks come or go and the client answers.
// All negotiation runs through one promise queue so that offers and answers never interleave.
//
// When the network drops, the connection goes `disconnected`. A short drop heals by itself: the
// browser's consent checks reach the SFU again on the same path and media resumes, with no
// renegotiation (the SFU keeps a silent participant for 30 s). If the connection is still down
// after a few seconds, or `failed`, the client restarts ICE (new credentials, new candidates: a
// new network or address) with an offer through signaling, and repeats that while it stays
// down; only after 30 s does the connection count as lost.
//
// The browser offers the RFC 6464 audio-level header extension on audio m-lines, which would
// tell the SFU how loud each of our microphone's packets is. The server needs that only in a
// room whose policy turns on server-side speaker detection. Otherwise our sending transceivers
// stop negotiating it (`setHeaderExtensionsToNegotiate`), and, for a browser without that call
// and against a server that offers it anyway, the offers we send and the server's offers we
// apply lose it (`withoutAudioLevels`): it is never negotiated and never sent. A policy change
// offers again; a browser re-offers an extension once refused only through that call.
//
// Every remote track's `msid` stream id is the participant id of its sender and its track id
// `ID-SOURCE-MID`, so `ontrack` tells whose tile a track belongs to and what it claims to be
// (the decrypting worker holds it to that claim: a frame must be encrypted for that source).
//
// End-to-end encryption hooks in through `FrameTransforms`: it is handed every sender right after
// its transceiver is created (before the first offer) and every receiver when its track arrives;
// `e2ee/transforms.ts` attaches an `RTCRtpScriptTransform` (one worker, SFrame) to each.

import type { ClientMessage, IceServer, Source } from './signaling';

/**
 * Where per-sender and per-receiver encoded transforms attach (E2EE). Called exactly once per
 * sender, and once per (receiver, participant) assignment: a receiver the SFU reuses for another
 * participant is announced again with the new participant id.
 */
export interface FrameTransforms {
  /** Needed by the legacy `createEncodedStreams` path; `RTCRtpScriptTransform` needs nothing. */
  readonly peerConnectionConfig?: Partial<RTCConfiguration>;
  attachSender(sender: RTCRtpSender, source: Source): void;
  attachReceiver(receiver: RTCRtpReceiver, participantId: string, source: Source): void;
}

/** No transform: frames travel as the encoder made them. */
export const clearFrames: FrameTransforms = {
  attachSender() {},
  attachReceiver() {},
};

export interface MediaSessionEvents {
  /** An `offer` or `answer` for the server. */
  signal(msg: Extract<ClientMessage, { type: 'offer' | 'answer' }>): void;
  /** `track` now carries `participantId`'s `source`. */
  remoteTrack(participantId: string, track: MediaStreamTrack, source: Source): void;
  /** `track` no longer carries `participantId`'s media. */
  remoteTrackRemoved(participantId: string, track: MediaStreamTrack): void;
  /** Negotiation or the connection failed for good. */
  failed(message: string): void;
}

const ANSWER_TIMEOUT_MS = 15_000;

/**
 * The camera's simulcast layers, low to high as the SFU expects them listed: a quarter, half and
 * full resolution (180p, 360p and 720p of a 720p camera), each its own RTP stream, each
 * encrypted by the frame transform like any frame. The SFU forwards each subscriber the one
 * that fills its tile; the bitrates are the ceilings of a typical conferencing ladder.
 */
export const CAMERA_LAYERS: RTCRtpEncodingParameters[] = [
  { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150_000 },
  { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500_000 },
  { rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 1_500_000 },
];
/** How long the connection may stay down before the client restarts ICE (and between restarts). */
const ICE_RESTART_AFTER_MS = 5_000;
/** How long the connection may stay down before it counts as lost (the SFU waits as long). */
const RECONNECT_GIVE_UP_MS = 30_000;

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

const AUDIO_LEVEL_URI = 'urn:ietf:params:rtp-hdrext:ssrc-audio-level';
const AUDIO_LEVEL_EXTMAP = /^a=extmap:\d+(?:\/\w+)? urn:ietf:params:rtp-hdrext:ssrc-audio-level(?:\s.*)?$/;

/** `sdp` without the audio-level header extension (RFC 6464), so that it is not negotiated. */
export function withoutAudioLevels(sdp: string): string {
  const eol = sdp.includes('\r\n') ? '\r\n' : '\n';
  return sdp
    .split(/\r?\n/)
    .filter((line) => !AUDIO_LEVEL_EXTMAP.test(line))
    .join(eol);
}

/** A header extension a transceiver may negotiate (WebRTC extensions; not in TypeScript's DOM types). */
interface HeaderExtension {
  uri: string;
  direction: RTCRtpTransceiverDirection | 'stopped';
}
interface WithHeaderExtensions {
  headerExtensionsToNegotiate?: HeaderExtension[];
  getHeaderExtensionsToNegotiate?(): HeaderExtension[];
  setHeaderExtensionsToNegotiate?(extensions: HeaderExtension[]): void;
}

/**
 * Lets `tx` negotiate the audio-level extension (`on`) or not, where the browser has the call
 * (elsewhere `withoutAudioLevels` keeps it out of what the server sees). A browser offers an
 * extension the last answer left out only once told to again.
 */
function negotiateAudioLevels(tx: RTCRtpTransceiver, on: boolean): void {
  const t = tx as RTCRtpTransceiver & WithHeaderExtensions;
  const current = t.headerExtensionsToNegotiate ?? t.getHeaderExtensionsToNegotiate?.();
  if (!current || typeof t.setHeaderExtensionsToNegotiate !== 'function') return;
  const wanted: HeaderExtension[] = current.map((e) => ({
    uri: e.uri,
    direction: e.uri === AUDIO_LEVEL_URI ? (on ? 'sendrecv' : 'stopped') : e.direction,
  }));
  try {
    t.setHeaderExtensionsToNegotiate(wanted);
  } catch (err) {
    console.warn('veil: cannot choose the header extensions to negotiate', err);
  }
}

/**
 * `sdp` (our offer) with the audio-level extension under id 1 where the browser chose another
 * and 1 is free: the SFU (str0m) maps the extension to 1 and does not take a new id on an
 * m-line already negotiated, which is what a browser picks when the extension comes back.
 */
export function audioLevelsAtId1(sdp: string): string {
  if (/^a=extmap:1[ /]/m.test(sdp)) return sdp;
  return sdp.replace(/^a=extmap:\d+((?:\/\w+)? urn:ietf:params:rtp-hdrext:ssrc-audio-level)/gm, 'a=extmap:1$1');
}

/** The sources a client sends, in the order of its m-lines. */
const SENDING: readonly Source[] = ['microphone', 'camera', 'screen', 'screen_audio'];

const isAudio = (source: Source): boolean => source === 'microphone' || source === 'screen_audio';

/** Screen audio goes with the screen grant. */
const grantOf = (source: Source): Source => (source === 'screen_audio' ? 'screen' : source);

/**
 * The `a=msid` track id of m-line `mid` in `sdp` (browsers give remote tracks ids of their own,
 * so the SFU's label is read from the description).
 */
export function msidTrackId(sdp: string, mid: string): string | null {
  for (const section of sdp.split(/\r?\nm=/).slice(1)) {
    const lines = section.split(/\r?\n/);
    if (!lines.includes(`a=mid:${mid}`)) continue;
    for (const line of lines) {
      const m = /^a=msid:\S+ (\S+)$/.exec(line);
      if (m) return m[1] ?? null;
    }
  }
  return null;
}

/**
 * The source a remote track claims, from its track id `PARTICIPANT-SOURCE-MID`; by its kind
 * when the id says nothing (microphone for audio, camera for video).
 */
export function sourceOfTrack(trackId: string, participantId: string, kind: string): Source {
  const rest = trackId.startsWith(`${participantId}-`) ? trackId.slice(participantId.length + 1) : '';
  const named = rest.slice(0, rest.lastIndexOf('-'));
  if ((SENDING as readonly string[]).includes(named)) return named as Source;
  return kind === 'audio' ? 'microphone' : 'camera';
}

export class MediaSession {
  readonly pc: RTCPeerConnection;
  /** One sendonly transceiver per source we may publish. */
  private readonly senders = new Map<Source, RTCRtpTransceiver>();
  /** Negotiation steps run one after another. */
  private queue: Promise<void> = Promise.resolve();
  private awaitingAnswer: ((sdp: string) => void) | null = null;
  /** Which participant each remote track currently belongs to. */
  private readonly trackOwner = new Map<MediaStreamTrack, string>();
  /** While the connection is down: restarts ICE every few seconds, and gives up after 30 s. */
  private restartTimer: number | undefined;
  private giveUpTimer: number | undefined;
  private restarting = false;
  private closed = false;
  /** The room lets the server read our audio levels (server-side speaker detection). */
  private serverLevels = false;
  /** What the last offer asked of the audio-level extension. */
  private levelsChosen = false;
  /** Our first offer went out: a change of `serverLevels` needs a new one. */
  private offered = false;
  private openGate: (joined: { publish: Source[]; relays: IceServer[] }) => void = () => {};
  private readonly joinedGate = new Promise<{ publish: Source[]; relays: IceServer[] }>((resolve) => {
    this.openGate = resolve;
  });

  /**
   * `publish` is what the join token grants (the server may narrow it at `joined`); `tracks`
   * are the first tracks to send, any of them null (device off).
   */
  constructor(
    publish: readonly Source[],
    tracks: Partial<Record<Source, MediaStreamTrack | null>>,
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

    // Every granted source's transceiver exists from the start, with or without a track, so
    // that turning a device or a share on later is a replaceTrack and not a renegotiation.
    for (const source of SENDING.filter((s) => publish.includes(grantOf(s)))) {
      const kind = isAudio(source) ? 'audio' : 'video';
      const init: RTCRtpTransceiverInit = { direction: 'sendonly' };
      if (source === 'camera') init.sendEncodings = CAMERA_LAYERS.map((l) => ({ ...l }));
      const tx = this.pc.addTransceiver(tracks[source] ?? kind, init);
      restrictCodec(tx, kind, kind === 'audio' ? 'audio/opus' : 'video/VP8');
      this.transforms.attachSender(tx.sender, source);
      this.senders.set(source, tx);
    }
    // Publishing nothing: one m-line to receive on, so that ICE and DTLS come up.
    if (this.senders.size === 0) this.pc.addTransceiver('audio', { direction: 'recvonly' });
  }

  /**
   * The SFU needs only the simulcast layers `rids` of our sending m-line `mid`: the others
   * pause (saving our uplink and encoder) until a later message names them. At worst a server
   * pauses what it could drop anyway.
   */
  async setActiveLayers(mid: string, rids: string[]): Promise<void> {
    const tx = [...this.senders.values()].find((t) => t.mid === mid);
    if (!tx) return;
    const params = tx.sender.getParameters();
    let changed = false;
    for (const encoding of params.encodings ?? []) {
      if (encoding.rid === undefined) continue;
      const active = rids.includes(encoding.rid);
      if (encoding.active !== active) {
        encoding.active = active;
        changed = true;
      }
    }
    if (!changed) return;
    await tx.sender.setParameters(params).catch((err: unknown) => console.warn('veil: cannot pause layers', err));
  }

  /** Whether this session can send `source` (granted at join and still allowed). */
  canSend(source: Source): boolean {
    return this.senders.get(source)?.direction === 'sendonly';
  }

  /**
   * Prepares the offer of the sending transceivers right away and sends it once `joined()` is
   * called, then applies the SFU's answer. Creating the offer while the join is in flight takes
   * it off the join time; the server still sees the offer only after `joined`.
   */
  start(): Promise<void> {
    return this.enqueue(async () => {
      this.chooseAudioLevels();
      let offer = await this.createOwnOffer();
      await this.pc.setLocalDescription(offer);
      const { publish: allowed, relays } = await this.joinedGate;
      // The room's policy took a source away: that m-line sends nothing, or the SFU would
      // refuse the whole offer.
      const barred = [...this.senders].filter(([source]) => !allowed.includes(grantOf(source)));
      // The room may have opted in to server-side speaker detection meanwhile.
      const levelsChanged = this.chooseAudioLevels();
      // The node names TURN relays: gather again with them (an ICE restart of the offer not
      // yet sent), so that a network that blocks the SFU still reaches it through a relay.
      const relayed = relays.length > 0 && this.useRelays(relays);
      if (barred.length > 0 || levelsChanged || relayed) {
        for (const [, tx] of barred) tx.direction = 'inactive';
        offer = await this.createOwnOffer({ iceRestart: relayed });
        await this.pc.setLocalDescription(offer);
      }
      await this.offerAndApplyAnswer(offer);
    });
  }

  /**
   * Makes the sending transceivers negotiate the audio-level extension as the room's policy
   * says; returns whether that changed since the last offer.
   */
  private chooseAudioLevels(): boolean {
    const changed = this.levelsChosen !== this.serverLevels;
    this.levelsChosen = this.serverLevels;
    for (const tx of this.senders.values()) negotiateAudioLevels(tx, this.serverLevels);
    return changed;
  }

  /** Sends the local offer `offer` (already set) to the server and applies its answer. */
  private async offerAndApplyAnswer(offer: RTCSessionDescriptionInit): Promise<void> {
    let timer: number | undefined;
    const answered = new Promise<string>((resolve, reject) => {
      this.awaitingAnswer = resolve;
      timer = window.setTimeout(
        () => reject(new Error('the server did not answer the media offer.')),
        ANSWER_TIMEOUT_MS,
      );
    });
    const sources: Record<string, Source> = {};
    for (const [source, tx] of this.senders) if (tx.mid !== null && tx.direction === 'sendonly') sources[tx.mid] = source;
    this.offered = true;
    const sdp = this.pc.localDescription?.sdp ?? offer.sdp ?? '';
    this.events.signal({ type: 'offer', sdp: this.serverLevels ? sdp : withoutAudioLevels(sdp), sources });
    performance.mark('veil:offer-sent');
    const answer = await answered.finally(() => window.clearTimeout(timer));
    await this.pc.setRemoteDescription({ type: 'answer', sdp: answer });
    performance.mark('veil:answer-applied');
  }

  /**
   * Restarts ICE: new credentials and candidates, offered to the SFU through signaling, on the
   * same connection (same tracks, same DTLS keys). A restart that fails is rolled back and
   * tried again while the connection stays down.
   */
  private restartIce(): void {
    if (this.closed || this.restarting || this.pc.signalingState !== 'stable') return;
    this.restarting = true;
    performance.mark('veil:ice-restart');
    void this.enqueue(async () => {
      try {
        this.pc.restartIce();
        this.chooseAudioLevels();
        const offer = await this.createOwnOffer({ iceRestart: true });
        await this.pc.setLocalDescription(offer);
        await this.offerAndApplyAnswer(offer);
      } catch (err) {
        console.warn('veil: ICE restart failed', err);
        this.awaitingAnswer = null;
        if (!this.closed && this.pc.signalingState === 'have-local-offer') {
          await this.pc.setLocalDescription({ type: 'rollback' }).catch(() => {});
        }
      } finally {
        this.restarting = false;
      }
    });
  }

  /**
   * Every offer of ours. The receiving transceivers the SFU's offers made would list every
   * codec the browser has, whose payload types Chromium then cannot demultiplex against the
   * other m-lines of the bundle ("Failed to apply demuxer criteria"), failing the offer: they
   * receive Opus and VP8 only, and say so first.
   */
  private createOwnOffer(options?: RTCOfferOptions): Promise<RTCSessionDescriptionInit> {
    const sending = [...this.senders.values()];
    for (const tx of this.pc.getTransceivers().filter((t) => !sending.includes(t))) {
      const kind = tx.receiver.track.kind === 'audio' ? 'audio' : 'video';
      restrictCodec(tx, kind, kind === 'audio' ? 'audio/opus' : 'video/VP8');
    }
    return this.pc.createOffer(options);
  }

  /**
   * Whether the room's policy lets the server read our audio levels. Set before `joined` it
   * shapes the first offer; a later change offers again, so that the extension is negotiated
   * (or dropped) at once.
   */
  setServerLevels(on: boolean): void {
    if (this.serverLevels === on) return;
    this.serverLevels = on;
    if (!this.offered || this.closed) return;
    void this.enqueue(async () => {
      if (this.closed || this.pc.signalingState !== 'stable' || this.levelsChosen === this.serverLevels) return;
      try {
        this.chooseAudioLevels();
        const created = await this.createOwnOffer();
        const offer = { type: created.type, sdp: audioLevelsAtId1(created.sdp ?? '') };
        await this.pc.setLocalDescription(offer);
        await this.offerAndApplyAnswer(offer);
      } catch (err) {
        console.warn('veil: renegotiating audio levels failed', err);
        this.awaitingAnswer = null;
        // The state moved on while the offer was out (TypeScript keeps the check above's).
        const state = this.pc.signalingState as RTCSignalingState;
        if (!this.closed && state === 'have-local-offer') {
          await this.pc.setLocalDescription({ type: 'rollback' }).catch(() => {});
        }
      }
    });
  }

  /**
   * The server accepted the join with what we may `publish`, and the TURN `relays` we may use:
   * the prepared offer may go out.
   */
  joined(publish: Source[], relays: IceServer[] = []): void {
    this.openGate({ publish, relays });
  }

  /** Adds the TURN `relays` to the connection's ICE servers; false if the browser refused them. */
  private useRelays(relays: IceServer[]): boolean {
    try {
      this.pc.setConfiguration({ ...this.pc.getConfiguration(), iceServers: relays });
      return true;
    } catch (err) {
      console.warn('veil: the TURN servers were refused', err);
      return false;
    }
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
      // An answer can only accept what the offer lists: without the extension in it, ours
      // leaves it out too, whatever the server asked.
      await this.pc.setRemoteDescription({ type: 'offer', sdp: this.serverLevels ? sdp : withoutAudioLevels(sdp) });
      const answer = await this.pc.createAnswer();
      await this.pc.setLocalDescription(answer);
      this.events.signal({ type: 'answer', sdp: this.pc.localDescription?.sdp ?? answer.sdp ?? '' });
    });
  }

  /** Swaps the track of `source` (null sends nothing); a source we cannot send is ignored. */
  replaceTrack(source: Source, track: MediaStreamTrack | null): Promise<void> {
    const tx = this.senders.get(source);
    if (!tx) return Promise.resolve();
    return this.replace(tx.sender, tx.direction === 'sendonly' ? track : null);
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
    this.stopReconnecting();
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
    const mid = ev.transceiver.mid;
    const label = mid !== null ? msidTrackId(this.pc.remoteDescription?.sdp ?? '', mid) : null;
    const source = sourceOfTrack(label ?? '', participantId, track.kind);
    this.transforms.attachReceiver(ev.receiver, participantId, source);
    this.events.remoteTrack(participantId, track, source);
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
    if (state === 'connected') {
      this.stopReconnecting();
      return;
    }
    if (state !== 'disconnected' && state !== 'failed') return;
    if (this.giveUpTimer === undefined) {
      this.giveUpTimer = window.setTimeout(() => {
        if (!this.closed && this.pc.connectionState !== 'connected') {
          this.events.failed('The media connection to the server was lost.');
        }
      }, RECONNECT_GIVE_UP_MS);
    }
    if (this.restartTimer === undefined) {
      this.restartTimer = window.setInterval(() => this.restartIce(), ICE_RESTART_AFTER_MS);
    }
    if (state === 'failed') this.restartIce();
  }

  private stopReconnecting(): void {
    window.clearTimeout(this.giveUpTimer);
    window.clearInterval(this.restartTimer);
    this.giveUpTimer = undefined;
    this.restartTimer = undefined;
  }
}
