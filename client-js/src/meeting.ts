// One attempt at being in a meeting: the signaling connection, the media session, the local
// devices and end-to-end encryption, wired together. A rejoin is a new Meeting.
//
// End-to-end encryption (on unless `window.veilConfig.e2ee === false`, a benchmark switch):
// - the encoded-transform worker (SframeTransforms) is created before the peer connection, so
//   every sender has its transform before the first frame, and every receiver gets one in
//   `ontrack`;
// - after `joined`, the key-agreement session (MlsSession over veil-e2ee's wasm Session) creates
//   or joins the room's group; every server message goes to it, since it holds the group
//   against the roster; each epoch's SFrame secret and leaf map go to the worker; senders drop
//   frames until the first one arrives;
// - the worker's decryption counters, the group's members (names from inside the group), the
//   risks the session names and the user's "Mark verified" choices become a SecuritySnapshot;
// - chat goes out and comes in through the same session, as MLS application messages; the view
//   holds what is on screen (chat.ts), the Meeting none of it.

import { e2eeConfig, type E2eeConfig } from './config';
import type { LocalMedia } from './devices';
import { MlsSession, type ChatReceived, type ChatSent, type GroupMember, type Risk } from './e2ee/mls';
import type { EncryptTimings } from './e2ee/protocol';
import {
  callSecurity,
  ReceiveTracker,
  remoteState,
  selfState,
  type CallSecurity,
  type SecurityState,
} from './e2ee/security';
import { scriptTransformSupported, SframeTransforms, type WorkerReport } from './e2ee/transforms';
import { loadE2ee } from './e2ee/wasm';
import type { JoinLink } from './link';
import { MediaSession, type FrameTransforms, clearFrames } from './media';
import { decodeTokenClaims } from './link';
import type { Assessment } from './quality';
import { decideReport, FailureTally, QualityPeriod, REPORT_INTERVAL_MS } from './qualityreport';
import { initialRoom, reduce, unmutedByUs, type RoomState } from './room';
import {
  MIN_PROTOCOL_VERSION,
  relayServers,
  Signaling,
  signalingUrl,
  type ClientMessage,
  type ErrorCode,
  type RoomPolicy,
  type ServerMessage,
  type Source,
} from './signaling';

/** Why a meeting ended against the participant's will. */
export type FatalReason =
  | ErrorCode
  | 'connection_lost'
  | 'unreachable'
  | 'media_failed'
  | 'join_timeout'
  | 'e2ee_unsupported'
  | 'e2ee_failed';

/** Everything the UI shows about end-to-end encryption. */
export interface SecuritySnapshot {
  /** False only with the benchmark switch `veilConfig.e2ee = false`. */
  e2ee: boolean;
  selfId: string | null;
  epoch: number | null;
  /** The epoch's verification code, identical for every member of the epoch. */
  code: string | null;
  /** The group's members, with the names they sent inside the group (names come only from here). */
  members: GroupMember[];
  /** Why the call is at risk, as the key-agreement session names it; empty when all agree. */
  risks: Risk[];
  /** The state of every participant in the room, ourselves included. */
  states: Map<string, SecurityState>;
  /** Participants the user marked verified (with the fingerprint they have now). */
  verified: Set<string>;
  call: CallSecurity;
  /** The latest group problem, if any. */
  problem: string | null;
}

export interface MeetingView {
  /**
   * The room changed (see room.ts): who is here and in the lobby, our grants, the policy.
   * `msg` is what changed it.
   */
  room(state: RoomState, msg: ServerMessage): void;
  /** We are in the call (after `room` showed it): the peer connection is `media`. */
  joined(selfId: string): void;
  remoteTrack(participantId: string, track: MediaStreamTrack, source: Source): void;
  remoteTrackRemoved(participantId: string, track: MediaStreamTrack): void;
  security(snapshot: SecuritySnapshot): void;
  /** The meeting is over; everything is already closed. */
  fatal(reason: FatalReason, message: string): void;
  /** Something went wrong but the meeting goes on. */
  notice(message: string): void;
  /**
   * The server named the active speaker (a room with server-side speaker detection on). Only a
   * claim: the view believes it for members of the encrypted group alone.
   */
  activeSpeaker(participantId: string | null): void;
  /** Another member's chat message arrived (attributed to the leaf that signed it). */
  chat(message: ChatReceived): void;
  /** One of our chat messages could not go out after all. */
  chatUnsent(id: string, reason: string): void;
}

/** Senders and receivers of the peer connection, and how many have an encoded transform. */
export interface TransformCounts {
  senders: number;
  sendersWithTransform: number;
  receivers: number;
  receiversWithTransform: number;
}

/**
 * For tests and for people debugging a call. TEST/DEBUG ONLY: nothing in the app reads it.
 * Set once joined.
 */
export interface VeilDebug {
  pc: RTCPeerConnection;
  participantId: string;
  /** Whether E2EE is on. */
  e2ee: boolean;
  /** The current MLS epoch, or null before we are in the group. */
  readonly epoch: number | null;
  /** The verification code shown in the header. */
  readonly verificationCode: string | null;
  /** The MLS member list. */
  readonly members: GroupMember[];
  /** Security state by participant id (ourselves included), as the tiles show it. */
  readonly security: Record<string, SecurityState>;
  /** The worker's latest counters (frames encrypted, dropped, decrypted, failures by kind). */
  readonly frames: WorkerReport | null;
  /** How many senders and active receivers carry an encoded transform. */
  transforms(): TransformCounts;
  /** BENCHMARK ONLY (with `veilConfig.benchEncrypt`): the worker's encrypt timings. */
  encryptTimings(): Promise<EncryptTimings | null>;
}

declare global {
  interface Window {
    veilDebug?: VeilDebug;
  }
}

const JOIN_TIMEOUT_MS = 15_000;
/** Security states depend on time (failures must last); recompute this often. */
const SECURITY_TICK_MS = 1_000;

export class Meeting {
  participantId: string | null = null;
  media: MediaSession | null = null;
  private signaling: Signaling | null = null;
  private ended = false;
  private joinTimer: number | undefined;
  private published: { microphone: boolean; camera: boolean; screen: boolean } | null = null;
  /** The room as the server describes it; the views render from it. */
  room: RoomState = initialRoom;
  private readonly onLocalChange = (): void => this.localChanged();

  private readonly e2ee: E2eeConfig;
  private wasm: Promise<WebAssembly.Module> | null = null;
  private sframe: SframeTransforms | null = null;
  private mls: MlsSession | null = null;
  /** Server messages that arrived before the MLS session was ready (it reads them all). */
  private readonly mlsBacklog: ServerMessage[] = [];
  private readonly tracker = new ReceiveTracker();
  /** Participant id → the fingerprint the user marked verified. */
  private readonly verifiedFingerprints = new Map<string, string>();
  private readonly others = new Set<string>();
  private problem: string | null = null;
  private evicted = false;
  private securityTimer: number | undefined;
  private lastSecurityKey = '';
  /** Connection quality reported to the server (qualityreport.ts): scores and failures gathered. */
  private readonly qualityPeriod = new QualityPeriod();
  private readonly decryptFailures = new FailureTally();
  private reportTimer: number | undefined;

  constructor(
    private readonly link: JoinLink,
    private readonly name: string,
    private readonly local: LocalMedia,
    private readonly view: MeetingView,
  ) {
    this.e2ee = e2eeConfig();
  }

  start(): void {
    if (this.e2ee.enabled && !scriptTransformSupported()) {
      this.fail(
        'e2ee_unsupported',
        'This browser has no RTCRtpScriptTransform, which end-to-end encryption needs.',
      );
      return;
    }
    this.signaling = new Signaling(signalingUrl(), {
      onMessage: (msg) => this.onMessage(msg),
      onClose: (info) => {
        if (info.neverOpened) this.fail('unreachable', 'Could not reach the meeting server.');
        else this.fail('connection_lost', 'The connection to the meeting server was lost.');
      },
    });
    performance.mark('veil:join');
    // No display name here: it travels only inside our MLS credential.
    this.signaling.send({
      type: 'join',
      room: this.link.room,
      token: this.link.token,
      min_version: MIN_PROTOCOL_VERSION,
    });
    this.joinTimer = window.setTimeout(
      () => this.fail('join_timeout', 'The meeting server did not let us in within 15 seconds.'),
      JOIN_TIMEOUT_MS,
    );
    this.local.addEventListener('change', this.onLocalChange);
    this.startMedia();
  }

  /** Leaves on purpose: tells the server, closes media, turns the devices off. */
  leave(): void {
    if (this.ended) return;
    this.signaling?.leave();
    this.shutdown();
  }

  /** The user marked `participantId` verified (or took it back) after comparing fingerprints. */
  setVerified(participantId: string, verified: boolean): void {
    const member = this.mls?.members().find((m) => m.participantId === participantId);
    if (verified && member) this.verifiedFingerprints.set(participantId, member.fingerprint);
    else this.verifiedFingerprints.delete(participantId);
    this.updateSecurity(true);
  }

  /** Host actions and the like: the server checks the grants and says `forbidden` if not. */
  send(msg: Extract<ClientMessage, { type: 'admit' | 'deny' | 'mute' | 'remove' | 'revoke' | 'end_meeting' }>): void {
    this.signaling?.send(msg);
  }

  /**
   * Sends a chat message to the encryption group's members; returns its id and its text as they
   * will see it. Throws (with the reason as message) when we are not in the group.
   */
  sendChat(text: string, ttlSecs: number): ChatSent {
    if (this.ended || this.evicted || !this.mls?.state) {
      throw new Error('Chat opens once this device has joined the encryption group.');
    }
    return this.mls.sendChat(text, ttlSecs);
  }

  /** Tells the SFU how large each received video is shown (it picks simulcast layers by it). */
  sendTileSizes(tiles: { mid: string; height: number }[]): void {
    this.signaling?.send({ type: 'tile_sizes', tiles });
  }

  /** One reading of connection quality (every participant's link as seen here, ours included). */
  noteQuality(quality: ReadonlyMap<string, Assessment>): void {
    this.qualityPeriod.add([...quality.values()].map((a) => a.quality));
  }

  /** Every REPORT_INTERVAL_MS: the period's worst score and the failures since the last report. */
  private sendQualityReport(): void {
    if (this.ended) return;
    const report = decideReport(this.qualityPeriod.take(), this.decryptFailures.peek());
    if (!report) return;
    this.decryptFailures.take();
    this.signaling?.send({ type: 'quality_report', ...report });
  }

  /** A host changes the room's policy. */
  setPolicy(policy: RoomPolicy): void {
    this.signaling?.send({ type: 'set_policy', policy });
  }

  /** Whether we can share a screen now: the grants allow it and the media session has a place for it. */
  get canShareScreen(): boolean {
    return this.room.grants?.publish.includes('screen') === true && this.media?.canSend('screen') === true;
  }

  private onMessage(msg: ServerMessage): void {
    if (this.ended) return;
    // The session holds the group against the roster, so it reads every message after `joined`
    // (and ignores those that are about neither).
    if (msg.type !== 'joined') this.toMls(msg);
    const before = this.room;
    this.room = reduce(before, msg);
    if (this.room !== before && msg.type !== 'joined') this.view.room(this.room, msg);
    switch (msg.type) {
      case 'joined':
        this.onJoined(msg);
        break;
      case 'lobby':
        // Waiting for a host may take a while: no join timeout in the lobby.
        window.clearTimeout(this.joinTimer);
        break;
      case 'participant_joined':
        if (msg.participant.id !== this.participantId) {
          this.others.add(msg.participant.id);
          this.updateSecurity();
        }
        break;
      case 'participant_left':
        this.others.delete(msg.participant_id);
        this.tracker.forget(msg.participant_id);
        this.updateSecurity();
        break;
      case 'mute_requested':
        this.mutedByHost(msg.source);
        break;
      case 'layers_wanted':
        void this.media?.setActiveLayers(msg.mid, msg.rids);
        break;
      case 'policy_updated':
        this.media?.setServerLevels(msg.policy.server_speaker_detection === true);
        break;
      case 'active_speaker':
        // A room that did not opt in has no server-side speaker: whatever says so is ignored.
        if (this.room.policy?.server_speaker_detection === true) this.view.activeSpeaker(msg.participant);
        break;
      case 'answer':
        this.media?.handleAnswer(msg.sdp);
        break;
      case 'offer':
        void this.media?.handleOffer(msg.sdp);
        break;
      case 'error':
        if (msg.code.startsWith('mls_')) break; // the session's business
        if (msg.fatal) this.fail(msg.code, msg.message);
        else this.view.notice(msg.message);
        break;
      default:
        break;
    }
  }

  private toMls(msg: ServerMessage): void {
    if (!this.e2ee.enabled) return;
    if (this.mls) this.mls.handle(msg);
    else this.mlsBacklog.push(msg);
  }

  private onJoined(joined: Extract<ServerMessage, { type: 'joined' }>): void {
    const { participant_id: participantId } = joined;
    performance.mark('veil:joined');
    window.clearTimeout(this.joinTimer);
    this.participantId = participantId;
    for (const p of this.room.participants) this.others.add(p.id);
    if (this.media) window.veilDebug = this.debugHooks(this.media.pc, participantId);
    this.view.room(this.room, joined);
    this.view.joined(participantId);
    this.publishState();
    this.media?.setServerLevels(joined.policy.server_speaker_detection === true);
    this.media?.joined(joined.grants.publish, relayServers(joined.ice_servers));
    if (this.e2ee.enabled) this.startMls(joined);
    this.securityTimer = window.setInterval(() => this.updateSecurity(), SECURITY_TICK_MS);
    this.reportTimer = window.setInterval(() => this.sendQualityReport(), REPORT_INTERVAL_MS);
    this.updateSecurity(true);
  }

  private startMls(joined: Extract<ServerMessage, { type: 'joined' }>): void {
    const wasm = this.wasm ?? loadE2ee();
    wasm.then(
      () => {
        if (this.ended) return;
        try {
          this.mls = new MlsSession(joined, this.name, {
            send: (m) => this.signaling?.send(m),
            epoch: (epoch, leaf, secret, members) => {
              this.sframe?.setEpoch(epoch, secret, leaf, members);
              this.updateSecurity(true);
            },
            changed: () => this.updateSecurity(true),
            evicted: () => {
              this.evicted = true;
              this.sframe?.clear();
              this.view.notice('You were removed from the encryption group; media can no longer be decrypted.');
              this.updateSecurity(true);
            },
            problem: (message) => {
              console.warn(`veil: ${message}`);
              this.problem = message;
              this.updateSecurity(true);
            },
            chat: (message) => this.view.chat(message),
            chatUnsent: (id, reason) => this.view.chatUnsent(id, reason),
          });
        } catch (err) {
          this.fail('e2ee_failed', `MLS could not start: ${err instanceof Error ? err.message : err}`);
          return;
        }
        for (const msg of this.mlsBacklog.splice(0)) this.mls.handle(msg);
      },
      (err: unknown) => {
        const why = err instanceof Error ? err.message : String(err);
        this.fail('e2ee_failed', `The encryption module did not load: ${why}`);
      },
    );
  }

  /** The peer connection and its offer are made while the join is in flight. */
  private startMedia(): void {
    let transforms: FrameTransforms = clearFrames;
    if (this.e2ee.enabled) {
      this.wasm = loadE2ee();
      this.sframe = new SframeTransforms(this.wasm, {
        skipEncryption: this.e2ee.skipEncryption,
        benchEncrypt: this.e2ee.benchEncrypt,
        onReport: (report) => {
          this.tracker.update(report.receivers, performance.now());
          this.decryptFailures.observe(report.receivers);
          this.updateSecurity();
        },
        onFailure: (message) => this.fail('e2ee_failed', message),
        onProblem: (message) => {
          this.problem = message;
          this.updateSecurity(true);
        },
      });
      transforms = this.sframe;
    }
    const media = new MediaSession(
      decodeTokenClaims(this.link.token).publish,
      { microphone: this.local.audioTrack, camera: this.local.videoTrack },
      {
        signal: (m) => this.signaling?.send(m),
        remoteTrack: (pid, track, source) => this.view.remoteTrack(pid, track, source),
        remoteTrackRemoved: (pid, track) => this.view.remoteTrackRemoved(pid, track),
        failed: (message) => this.fail('media_failed', message),
      },
      transforms,
    );
    this.media = media;
    void media.start();
  }

  private snapshot(): SecuritySnapshot {
    const now = performance.now();
    const state = this.evicted ? null : (this.mls?.state ?? null);
    const members = state?.members ?? [];
    const risks = state?.risks ?? [];
    const byId = new Map(members.map((m) => [m.participantId, m]));
    const verified = new Set<string>();
    for (const [pid, fp] of this.verifiedFingerprints) {
      // A changed key (a new device, or someone else) resets the mark.
      if (byId.has(pid) && byId.get(pid)?.fingerprint !== fp) this.verifiedFingerprints.delete(pid);
      else if (byId.has(pid)) verified.add(pid);
    }
    const states = new Map<string, SecurityState>();
    const selfId = this.participantId;
    if (selfId !== null) {
      states.set(
        selfId,
        selfState({ e2ee: this.e2ee.enabled, skipEncryption: this.e2ee.skipEncryption, inGroup: state !== null }),
      );
    }
    for (const pid of this.others) {
      states.set(
        pid,
        remoteState({
          e2ee: this.e2ee.enabled,
          selfInGroup: state !== null,
          member: byId.has(pid) && state !== null,
          verified: verified.has(pid),
          history: this.tracker.histories.get(pid),
          now,
        }),
      );
    }
    return {
      e2ee: this.e2ee.enabled,
      selfId,
      epoch: state?.epoch ?? null,
      code: state?.code ?? null,
      members,
      risks,
      states,
      verified,
      call: callSecurity([...states.values()], this.e2ee.enabled, risks.length),
      problem: this.problem,
    };
  }

  /** Tells the view when anything it shows about security changed (or always, with `force`). */
  private updateSecurity(force = false): void {
    if (this.ended || this.participantId === null) return;
    const snap = this.snapshot();
    const key = JSON.stringify([
      snap.epoch,
      snap.code,
      snap.members,
      snap.risks,
      [...snap.states],
      [...snap.verified],
      snap.call,
      snap.problem,
    ]);
    if (!force && key === this.lastSecurityKey) return;
    this.lastSecurityKey = key;
    this.view.security(snap);
  }

  private debugHooks(pc: RTCPeerConnection, participantId: string): VeilDebug {
    const meeting = this;
    return {
      pc,
      participantId,
      e2ee: this.e2ee.enabled,
      get epoch() {
        return meeting.mls?.state?.epoch ?? null;
      },
      get verificationCode() {
        return meeting.mls?.state?.code ?? null;
      },
      get members() {
        return meeting.mls?.members() ?? [];
      },
      get security() {
        return Object.fromEntries(meeting.snapshot().states);
      },
      get frames() {
        return meeting.sframe?.last ?? null;
      },
      transforms() {
        const active = (dir: RTCRtpTransceiverDirection | null, what: 'send' | 'recv'): boolean =>
          dir === 'sendrecv' || dir === `${what}only`;
        const transceivers = pc.getTransceivers();
        const senders = transceivers.filter((t) => active(t.direction, 'send')).map((t) => t.sender);
        const receivers = transceivers.filter((t) => active(t.currentDirection, 'recv')).map((t) => t.receiver);
        return {
          senders: senders.length,
          sendersWithTransform: senders.filter((s) => s.transform).length,
          receivers: receivers.length,
          receiversWithTransform: receivers.filter((r) => r.transform).length,
        };
      },
      encryptTimings() {
        return meeting.sframe ? meeting.sframe.timings() : Promise.resolve(null);
      },
    };
  }

  private localChanged(): void {
    if (this.ended || !this.media) return;
    void this.media.replaceTrack('microphone', this.local.audioTrack);
    void this.media.replaceTrack('camera', this.local.videoTrack);
    void this.media.replaceTrack('screen', this.local.screenTrack);
    void this.media.replaceTrack('screen_audio', this.local.screenAudioTrack);
    this.publishState();
  }

  /** A host turned one of our sources off: do so here too (turning it on again is ours). */
  private mutedByHost(source: Source): void {
    if (source === 'microphone') void this.local.setMicrophone(false);
    else if (source === 'camera') void this.local.setCamera(false);
    else this.local.stopScreen();
  }

  private publishState(): void {
    if (this.participantId === null) return; // sent right after `joined`
    const state = {
      microphone: this.local.microphoneOn,
      camera: this.local.cameraOn,
      screen: this.local.screenOn && this.canShareScreen,
    };
    const was = this.published;
    if (was && was.microphone === state.microphone && was.camera === state.camera && was.screen === state.screen)
      return;
    // Turning on what a host muted is the participant unmuting itself.
    for (const [source, on] of [['microphone', state.microphone], ['camera', state.camera], ['screen', state.screen]] as const) {
      if (on) this.room = unmutedByUs(this.room, source);
    }
    this.published = state;
    this.signaling?.send({ type: 'publish_state', ...state });
  }

  private fail(reason: FatalReason, message: string): void {
    if (this.ended) return;
    this.signaling?.close();
    this.shutdown();
    this.view.fatal(reason, message);
  }

  private shutdown(): void {
    this.ended = true;
    window.clearTimeout(this.joinTimer);
    window.clearInterval(this.securityTimer);
    window.clearInterval(this.reportTimer);
    this.local.removeEventListener('change', this.onLocalChange);
    this.media?.close();
    this.sframe?.close();
    this.mls?.close();
    this.local.stop();
  }
}
