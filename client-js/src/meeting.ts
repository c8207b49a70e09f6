// One attempt at being in a meeting: the signaling connection, the media session and the local
// devices, wired together. A rejoin is a new Meeting.

import type { LocalMedia } from './devices';
import type { JoinLink } from './link';
import { MediaSession, type FrameTransforms, clearFrames } from './media';
import {
  MIN_PROTOCOL_VERSION,
  Signaling,
  signalingUrl,
  type ErrorCode,
  type ParticipantInfo,
  type ServerMessage,
} from './signaling';

/** Why a meeting ended against the participant's will. */
export type FatalReason = ErrorCode | 'connection_lost' | 'unreachable' | 'media_failed' | 'join_timeout';

export interface MeetingView {
  joined(self: { id: string; name: string }, others: ParticipantInfo[]): void;
  participantJoined(p: ParticipantInfo): void;
  participantUpdated(p: ParticipantInfo): void;
  participantLeft(participantId: string): void;
  remoteTrack(participantId: string, track: MediaStreamTrack): void;
  remoteTrackRemoved(participantId: string, track: MediaStreamTrack): void;
  /** The meeting is over; everything is already closed. */
  fatal(reason: FatalReason, message: string): void;
  /** Something went wrong but the meeting goes on. */
  notice(message: string): void;
}

declare global {
  interface Window {
    /** For tests and for people debugging a call: the peer connection and our id. */
    veilDebug?: { pc: RTCPeerConnection; participantId: string };
  }
}

const JOIN_TIMEOUT_MS = 15_000;

export class Meeting {
  participantId: string | null = null;
  media: MediaSession | null = null;
  private signaling: Signaling | null = null;
  private ended = false;
  private joinTimer: number | undefined;
  private published: { microphone: boolean; camera: boolean } | null = null;
  private readonly onLocalChange = (): void => this.localChanged();

  constructor(
    private readonly link: JoinLink,
    private readonly name: string,
    private readonly local: LocalMedia,
    private readonly view: MeetingView,
    private readonly transforms: FrameTransforms = clearFrames,
  ) {}

  start(): void {
    this.signaling = new Signaling(signalingUrl(), {
      onMessage: (msg) => this.onMessage(msg),
      onClose: (info) => {
        if (info.neverOpened) this.fail('unreachable', 'Could not reach the meeting server.');
        else this.fail('connection_lost', 'The connection to the meeting server was lost.');
      },
    });
    performance.mark('veil:join');
    this.signaling.send({
      type: 'join',
      room: this.link.room,
      token: this.link.token,
      min_version: MIN_PROTOCOL_VERSION,
      ...(this.name ? { name: this.name } : {}),
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

  private onMessage(msg: ServerMessage): void {
    if (this.ended) return;
    switch (msg.type) {
      case 'joined':
        this.onJoined(msg.participant_id, msg.name, msg.participants);
        break;
      case 'participant_joined':
        if (msg.participant.id !== this.participantId) this.view.participantJoined(msg.participant);
        break;
      case 'participant_updated':
        if (msg.participant.id !== this.participantId) this.view.participantUpdated(msg.participant);
        break;
      case 'participant_left':
        this.view.participantLeft(msg.participant_id);
        break;
      case 'answer':
        this.media?.handleAnswer(msg.sdp);
        break;
      case 'offer':
        void this.media?.handleOffer(msg.sdp);
        break;
      case 'pong':
        break;
      case 'error':
        if (msg.fatal) this.fail(msg.code, msg.message);
        else this.view.notice(msg.message);
        break;
    }
  }

  private onJoined(participantId: string, name: string, others: ParticipantInfo[]): void {
    performance.mark('veil:joined');
    window.clearTimeout(this.joinTimer);
    this.participantId = participantId;
    if (this.media) window.veilDebug = { pc: this.media.pc, participantId };
    this.view.joined({ id: participantId, name }, others);
    this.publishState();
    this.media?.joined();
  }

  /** The peer connection and its offer are made while the join is in flight. */
  private startMedia(): void {
    const media = new MediaSession(
      { audio: this.local.audioTrack, video: this.local.videoTrack },
      {
        signal: (m) => this.signaling?.send(m),
        remoteTrack: (pid, track) => this.view.remoteTrack(pid, track),
        remoteTrackRemoved: (pid, track) => this.view.remoteTrackRemoved(pid, track),
        failed: (message) => this.fail('media_failed', message),
      },
      this.transforms,
    );
    this.media = media;
    void media.start();
  }

  private localChanged(): void {
    if (this.ended || !this.media) return;
    void this.media.replaceAudio(this.local.audioTrack);
    void this.media.replaceVideo(this.local.videoTrack);
    this.publishState();
  }

  private publishState(): void {
    if (this.participantId === null) return; // sent right after `joined`
    const state = { microphone: this.local.microphoneOn, camera: this.local.cameraOn };
    if (
      this.published &&
      this.published.microphone === state.microphone &&
      this.published.camera === state.camera
    )
      return;
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
    this.local.removeEventListener('change', this.onLocalChange);
    this.media?.close();
    this.local.stop();
  }
}
