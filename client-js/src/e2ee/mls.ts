// The page's side of the key agreement: a thin adapter over `WasmSession`, the state machine
// every Veil client runs (veil-e2ee's `session`, in Rust). All the rules live there: roster
// binding (nobody the room does not show gets into the group, nobody is added twice, nobody
// present is removed), committing adds and removals with fallbacks when the designated
// committer stays silent, display names and chat exchanged inside the group, and the risks to
// show. This file only moves messages and time:
//
// - every server message goes in (as JSON); the session ignores what is not about the roster
//   or the group;
// - what comes out goes on: messages to the server, each epoch's keys and leaf map to the
//   encoded-transform worker, "changed" and chat messages to the UI;
// - the session says when it next wants time; a timer calls it then.
//
// Times are `performance.now()` milliseconds.

import { cleanChat, WasmSession } from 'veil-e2ee';

import type { ClientMessage, ServerMessage } from '../signaling';

/** One group member as the session shows it. */
export interface GroupMember {
  leaf: number;
  participantId: string;
  /** The identity the server authenticated for it (join token), once the roster showed it. */
  identity: string | null;
  /** The display name it sent inside the group, cleaned; `null` until it arrived. */
  name: string | null;
  /** Another member shows the same name. */
  duplicateName: boolean;
  fingerprint: string;
}

/** Why the call is at risk (the group and the room disagree). */
export interface Risk {
  kind: 'not-in-room' | 'not-in-group' | 'refused-commit';
  participantId: string;
  message: string;
}

/** The group as this member sees it now. */
export interface GroupState {
  epoch: number;
  /** The epoch's verification code, the same for every member ("dddd dddd dddd"). */
  code: string;
  members: GroupMember[];
  /** Our own key fingerprint. */
  fingerprint: string;
  risks: Risk[];
}

/** Another member's chat message, as the session hands it on. */
export interface ChatReceived {
  id: string;
  /** The participant id of the member whose leaf signed it (never the server's word). */
  sender: string;
  /** Cleaned by the session. */
  text: string;
  /** How long the sender wants it shown, in seconds; 0 for the room's retention. */
  ttlSecs: number;
  /** The epoch it was encrypted in. */
  epoch: number;
}

/** One of our chat messages, as the others will see it. */
export interface ChatSent {
  id: string;
  text: string;
}

/** Who sits at which leaf in an epoch. */
export interface Leaf {
  leaf: number;
  participantId: string;
}

export interface MlsEvents {
  send(msg: ClientMessage): void;
  /** A new epoch: `secret` is its SFrame base key, for the worker only. */
  epoch(epoch: number, leaf: number, secret: Uint8Array, members: Leaf[]): void;
  /** Members, names, the code or the risks changed. */
  changed(): void;
  /** A commit removed us from the group: no key works any more. */
  evicted(): void;
  /** Something went wrong that the session survived. */
  problem(message: string): void;
  /** Another member's chat message arrived. */
  chat(message: ChatReceived): void;
  /** One of our chat messages could not go out after all. */
  chatUnsent(id: string, reason: string): void;
}

type SessionOutput =
  | { type: 'send'; message: string }
  | { type: 'epoch'; epoch: number; leaf: number; secret: Uint8Array; members: Leaf[] }
  | { type: 'changed' }
  | { type: 'evicted' }
  | { type: 'problem'; message: string }
  | ({ type: 'chat' } & ChatReceived)
  | { type: 'chat-unsent'; id: string; reason: string }
  | { type: 'timeout'; at: number };

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class MlsSession {
  private readonly session: WasmSession;
  private timer: number | undefined;
  private closed = false;
  /** What the group looks like, refreshed on every "changed". */
  state: GroupState | null = null;

  /** Starts from the server's `joined` message; the first messages go out at once. */
  constructor(
    joined: Extract<ServerMessage, { type: 'joined' }>,
    displayName: string,
    private readonly events: MlsEvents,
  ) {
    this.session = new WasmSession(JSON.stringify(joined), displayName, performance.now());
    this.drain();
  }

  /** Hands the session a server message. */
  handle(msg: ServerMessage): void {
    if (this.closed) return;
    try {
      this.session.handle(JSON.stringify(msg), performance.now());
    } catch (err) {
      this.events.problem(`MLS: ${describe(err)}`);
    }
    this.drain();
  }

  /**
   * Sends a chat message to the group's members now. Throws an Error whose `kind` is
   * `not-in-group` or `empty-message` (nothing printable in `text`).
   */
  sendChat(text: string, ttlSecs: number): ChatSent {
    const id = this.session.sendChat(text, ttlSecs, performance.now());
    this.drain();
    return { id, text: cleanChat(text) };
  }

  /** Members of the group (empty until we are in it). */
  members(): GroupMember[] {
    return this.state?.members ?? [];
  }

  close(): void {
    this.closed = true;
    window.clearTimeout(this.timer);
    this.session.free();
  }

  private drain(): void {
    for (;;) {
      const out = this.session.poll() as SessionOutput;
      switch (out.type) {
        case 'send':
          this.events.send(JSON.parse(out.message) as ClientMessage);
          break;
        case 'epoch':
          performance.mark(`veil:epoch-${out.epoch}`);
          this.refresh();
          this.events.epoch(out.epoch, out.leaf, out.secret, out.members);
          break;
        case 'changed':
          this.refresh();
          this.events.changed();
          break;
        case 'evicted':
          this.state = null;
          this.events.evicted();
          break;
        case 'problem':
          this.events.problem(out.message);
          break;
        case 'chat': {
          const { id, sender, text, ttlSecs, epoch } = out;
          this.events.chat({ id, sender, text, ttlSecs, epoch });
          break;
        }
        case 'chat-unsent':
          this.events.chatUnsent(out.id, out.reason);
          break;
        case 'timeout':
          this.schedule(out.at);
          return;
      }
    }
  }

  private schedule(at: number): void {
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(() => {
      if (this.closed) return;
      try {
        this.session.tick(performance.now());
      } catch (err) {
        this.events.problem(`MLS: ${describe(err)}`);
      }
      this.drain();
    }, Math.max(0, at - performance.now()));
  }

  private refresh(): void {
    const epoch = this.session.epoch();
    const code = this.session.code();
    if (epoch === undefined || code === undefined || this.session.isEvicted()) {
      this.state = null;
      return;
    }
    this.state = {
      epoch,
      code,
      members: this.session.members() as GroupMember[],
      fingerprint: this.session.fingerprint(),
      risks: this.session.risks() as Risk[],
    };
  }
}
