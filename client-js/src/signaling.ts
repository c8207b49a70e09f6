// The signaling connection: one WebSocket at `/ws` carrying the JSON messages of
// `proto/src/signal.rs` (see docs/protocol.md). This module knows the wire format and the
// keepalive; what the messages mean for the meeting is room.ts's and meeting.ts's business.

/** The protocol version this client speaks. */
export const PROTOCOL_VERSION = 2;
/** The lowest protocol version this client accepts; the server never answers below it. */
export const MIN_PROTOCOL_VERSION = 2;

const PING_INTERVAL_MS = 10_000;

/**
 * One participant as the server shows them (`ParticipantInfo`): the identity its join token
 * authenticated, never a display name (names come from the MLS group, see e2ee/mls.ts).
 */
export interface ParticipantInfo {
  id: string;
  identity: string;
  microphone: boolean;
  camera: boolean;
  /** Sharing a screen now. */
  screen: boolean;
  /** A host of the room. */
  host: boolean;
}

/** A kind of media a participant publishes (`Source`); each has its own SFrame context. */
export type Source = 'microphone' | 'camera' | 'screen' | 'screen_audio';

/** What a join token allows, after the room's policy (`Grants`). */
export interface Grants {
  publish: Source[];
  subscribe: boolean;
  host: boolean;
  bypass_lobby: boolean;
}

/** A room's policy, set by its hosts (`RoomPolicy`). */
export interface RoomPolicy {
  lobby: boolean;
  locked: boolean;
  max_participants: number;
  screen_share: 'granted' | 'hosts';
  /** How long chat messages stay on every client, in seconds (a sender may choose shorter). */
  chat_retention_secs: number;
  /**
   * The SFU names the active speaker from the audio level in every microphone packet: clients
   * negotiate that header extension only while this is on (see media.ts). Off by default;
   * absent from an older server.
   */
  server_speaker_detection?: boolean;
}

/** Someone waiting in the lobby, as hosts see them (`LobbyEntry`). */
export interface LobbyEntry {
  id: string;
  identity: string;
}

/** Stable error codes sent by the server (`ErrorCode`). */
export type ErrorCode =
  | 'bad_message'
  | 'message_too_large'
  | 'unsupported_version'
  | 'invalid_token'
  | 'token_expired'
  | 'wrong_room'
  | 'unknown_room'
  | 'not_joined'
  | 'already_joined'
  | 'replaced'
  | 'media_error'
  | 'media_timeout'
  | 'internal'
  | 'forbidden'
  | 'not_allowed'
  | 'unknown_participant'
  | 'denied'
  | 'removed'
  | 'revoked'
  | 'meeting_ended'
  | 'room_locked'
  | 'room_full'
  | 'mls_stale_commit'
  | 'mls_not_member'
  | 'mls_invalid_commit'
  | 'mls_invalid_message';

/** How this participant takes part in the room's MLS group (`E2eeSetup`). Bytes are base64. */
export interface E2eeSetup {
  group_id: string;
  external_sender: { signature_key: string; identity: string };
  create_group: boolean;
}

/** Browser to server (`ClientMessage`). */
export type ClientMessage =
  // No `name`: display names travel only inside the MLS group, end-to-end encrypted.
  | { type: 'join'; room: string; token: string; min_version?: number }
  // `sources` names what each sending m-line (by mid) carries; the SFU checks it against the
  // grants.
  | { type: 'offer'; sdp: string; sources: Record<string, Source> }
  | { type: 'answer'; sdp: string }
  | { type: 'publish_state'; microphone: boolean; camera: boolean; screen: boolean }
  // How large each received video is shown, by receiving mid (0: off screen); the SFU picks
  // simulcast layers by it.
  | { type: 'tile_sizes'; tiles: { mid: string; height: number }[] }
  // Host actions: the server checks the host grant and refuses the rest with `forbidden`.
  | { type: 'admit'; participant_id: string }
  | { type: 'deny'; participant_id: string }
  | { type: 'mute'; participant_id: string; source: Source }
  | { type: 'remove'; participant_id: string }
  | { type: 'revoke'; identity?: string; token_id?: string }
  | { type: 'set_policy'; policy: RoomPolicy }
  | { type: 'end_meeting' }
  // Every 10 s: the worst connection quality this client scored over the period and the frames
  // it could not decrypt since its last report (docs/metrics.md); nothing per track or person.
  | { type: 'quality_report'; quality: 'good' | 'fair' | 'poor' | 'lost'; decrypt_failures: number }
  | { type: 'ping' }
  | { type: 'leave' }
  // The MLS messages are made by the key-agreement session in wasm (veil-e2ee), which sends
  // them as JSON; they are listed here for completeness.
  | { type: 'mls_key_package'; key_package: string }
  | { type: 'mls_group_created'; group_info: string }
  | { type: 'mls_joined'; epoch: number; leaf: number }
  | { type: 'mls_commit'; epoch: number; commit: string; welcome?: string }
  | { type: 'mls_application'; epoch: number; message: string };

/** A TURN relay the server names, as `RTCPeerConnection` takes it. */
export interface IceServer {
  urls: string[];
  username: string;
  credential: string;
}

/**
 * The relays of a `joined` message that can be what they claim: `turn:` or `turns:` URLs with
 * string credentials. Anything else the server sends there is dropped, never handed to the
 * peer connection (which would throw, or try a `stun:` or other URL the node did not mean).
 */
export function relayServers(value: unknown): IceServer[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((entry: unknown) => {
    if (typeof entry !== 'object' || entry === null) return [];
    const { urls, username, credential } = entry as Record<string, unknown>;
    if (!Array.isArray(urls) || typeof username !== 'string' || typeof credential !== 'string') return [];
    const relays = urls.filter((u): u is string => typeof u === 'string' && /^turns?:[^\s]+$/.test(u));
    return relays.length > 0 ? [{ urls: relays, username, credential }] : [];
  });
}

/** Server to browser (`ServerMessage`). */
export type ServerMessage =
  | {
      type: 'joined';
      participant_id: string;
      room: string;
      identity: string;
      grants: Grants;
      policy: RoomPolicy;
      participants: ParticipantInfo[];
      e2ee: E2eeSetup;
      // TURN relays with this participant's own short-lived credentials (absent: none).
      ice_servers?: IceServer[];
    }
  | { type: 'lobby'; room: string }
  | { type: 'lobby_updated'; waiting: LobbyEntry[] }
  | { type: 'policy_updated'; policy: RoomPolicy; grants: Grants }
  | { type: 'mute_requested'; source: Source }
  | { type: 'participant_joined'; participant: ParticipantInfo }
  | { type: 'participant_updated'; participant: ParticipantInfo }
  | { type: 'participant_left'; participant_id: string }
  | { type: 'answer'; sdp: string }
  | { type: 'offer'; sdp: string }
  // Only these simulcast layers of our sending m-line `mid` reach anyone; the rest may pause.
  | { type: 'layers_wanted'; mid: string; rids: string[] }
  // The room's server-side speaker detection names who speaks (null: nobody any more). A
  // claim of the server: believed only for a member of our encrypted group.
  | { type: 'active_speaker'; participant: string | null }
  | { type: 'pong' }
  | { type: 'mls_create_group'; group_id: string }
  | { type: 'mls_add_request'; participant_id: string; key_package: string; committer: string }
  | { type: 'mls_proposal'; proposal: string; epoch: number; committer: string }
  | { type: 'mls_commit'; commit: string; epoch: number }
  | { type: 'mls_commit_accepted'; epoch: number }
  | { type: 'mls_welcome'; welcome: string }
  | { type: 'mls_application'; from: string; message: string }
  | { type: 'error'; code: ErrorCode; message: string; fatal: boolean };

/** Why the connection ended, when it ended without a fatal error from the server. */
export interface CloseInfo {
  code: number;
  reason: string;
  /** True when the socket never opened. */
  neverOpened: boolean;
}

export interface SignalingHandlers {
  onMessage(msg: ServerMessage): void;
  /** The socket closed. Not called after `close()`. */
  onClose(info: CloseInfo): void;
}

/** The `/ws` URL on the host that served this page. */
export function signalingUrl(loc: Location = location): string {
  const scheme = loc.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${loc.host}/ws`;
}

const SERVER_TYPES = new Set<string>([
  'joined',
  'lobby',
  'lobby_updated',
  'policy_updated',
  'mute_requested',
  'participant_joined',
  'participant_updated',
  'participant_left',
  'answer',
  'offer',
  'layers_wanted',
  'active_speaker',
  'pong',
  'mls_create_group',
  'mls_add_request',
  'mls_proposal',
  'mls_commit',
  'mls_commit_accepted',
  'mls_welcome',
  'mls_application',
  'error',
]);

/** Parses one text frame; `null` for anything that is not a message of this protocol. */
export function parseServerMessage(text: string): ServerMessage | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const type = (value as { type?: unknown }).type;
  if (typeof type !== 'string' || !SERVER_TYPES.has(type)) return null;
  const { v: _v, ...msg } = value as Record<string, unknown>;
  return msg as unknown as ServerMessage;
}

export class Signaling {
  private readonly ws: WebSocket;
  private pingTimer: number | undefined;
  private closedByUs = false;
  private opened = false;
  /** Messages sent before the socket opened, in order. */
  private readonly backlog: string[] = [];

  constructor(
    url: string,
    private readonly handlers: SignalingHandlers,
  ) {
    this.ws = new WebSocket(url);
    this.ws.addEventListener('open', () => {
      this.opened = true;
      for (const text of this.backlog.splice(0)) this.ws.send(text);
      this.pingTimer = window.setInterval(() => this.send({ type: 'ping' }), PING_INTERVAL_MS);
    });
    this.ws.addEventListener('message', (ev) => {
      if (typeof ev.data !== 'string') return;
      const msg = parseServerMessage(ev.data);
      if (msg === null) {
        console.warn('veil: ignoring unknown signaling message', ev.data.slice(0, 200));
        return;
      }
      this.handlers.onMessage(msg);
    });
    this.ws.addEventListener('close', (ev) => {
      this.stopPing();
      if (this.closedByUs) return;
      this.closedByUs = true;
      this.handlers.onClose({ code: ev.code, reason: ev.reason, neverOpened: !this.opened });
    });
  }

  /** Sends `msg` with this client's protocol version; queued until the socket is open. */
  send(msg: ClientMessage): void {
    if (this.closedByUs) return;
    const text = JSON.stringify({ v: PROTOCOL_VERSION, ...msg });
    if (this.ws.readyState === WebSocket.CONNECTING) {
      this.backlog.push(text);
    } else if (this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(text);
    }
  }

  /** Closes the socket without telling the handlers (the caller knows why). */
  close(): void {
    this.closedByUs = true;
    this.stopPing();
    if (this.ws.readyState === WebSocket.CONNECTING || this.ws.readyState === WebSocket.OPEN) {
      this.ws.close(1000, 'bye');
    }
  }

  /** Sends `leave` and closes: the participant is leaving on purpose. */
  leave(): void {
    if (this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify({ v: PROTOCOL_VERSION, type: 'leave' }));
    }
    this.close();
  }

  private stopPing(): void {
    if (this.pingTimer !== undefined) window.clearInterval(this.pingTimer);
    this.pingTimer = undefined;
  }
}
