// In-call chat as this client holds it: the messages on screen now, each with the moment it
// disappears. Pure (no DOM, no timers, no storage), so it is unit-tested in node
// (tests/units.test.mjs).
//
// Messages live here only, in memory: the key-agreement session (e2ee/mls.ts) hands each one
// over once and keeps no copy, and nothing writes them to localStorage, IndexedDB or anywhere
// else. Each message disappears after the shorter of the room's retention
// (`RoomPolicy.chat_retention_secs`) and its sender's choice (`ttlSecs`, 0 for the room's),
// counted on this client's own clock from when the message arrived: a time the sender claims
// is never trusted.

/** One message on screen. */
export interface ChatEntry {
  id: string;
  /** The participant whose MLS leaf signed it (our own id for ours). */
  sender: string;
  text: string;
  own: boolean;
  /** When it arrived, or we sent it: ms of this client's clock. */
  arrivedAt: number;
  /** When it disappears: ms of this client's clock. */
  expiresAt: number;
  /** Why it could not be sent (ours only), else null. */
  unsent: string | null;
}

/** What a message needs to be added: who, what, and for how long its sender wants it shown. */
export interface NewMessage {
  id: string;
  sender: string;
  text: string;
  own: boolean;
  /** The sender's choice in seconds; 0 leaves it to the room. */
  ttlSecs: number;
}

/** What a sender may choose, in seconds: the room's retention (0), or shorter. */
export const TTL_CHOICES: readonly number[] = [0, 10, 60, 300];

/** The room's retention until the server says otherwise (its default). */
export const DEFAULT_RETENTION_SECS = 3600;

/** When a message that arrived at `arrivedAt` disappears. */
export function expiryOf(arrivedAt: number, retentionSecs: number, ttlSecs: number): number {
  const secs = ttlSecs > 0 ? Math.min(retentionSecs, ttlSecs) : retentionSecs;
  return arrivedAt + secs * 1000;
}

export class ChatLog {
  private entries: ChatEntry[] = [];

  constructor(private retentionSecs = DEFAULT_RETENTION_SECS) {}

  /** The messages on screen, in the order they arrived. */
  get messages(): readonly ChatEntry[] {
    return this.entries;
  }

  /** Adds a message that arrived (or that we sent) at `now`; null if it is already here. */
  add(message: NewMessage, now: number): ChatEntry | null {
    const { id, sender, text, own, ttlSecs } = message;
    if (this.entries.some((e) => e.id === id && e.sender === sender)) return null;
    const entry = { id, sender, text, own, arrivedAt: now, expiresAt: expiryOf(now, this.retentionSecs, ttlSecs), unsent: null };
    this.entries = [...this.entries, entry];
    return entry;
  }

  /** One of ours could not go out; returns whether it is here to be marked. */
  markUnsent(id: string, reason: string): boolean {
    const found = this.entries.some((e) => e.own && e.id === id);
    this.entries = this.entries.map((e) => (e.own && e.id === id ? { ...e, unsent: reason } : e));
    return found;
  }

  /**
   * The room's retention changed. A shorter one applies to the messages on screen too; a longer
   * one only to those that come next, so that nothing stays longer than it was meant to when it
   * arrived.
   */
  setRetention(secs: number): void {
    this.retentionSecs = secs;
    this.entries = this.entries.map((e) => ({ ...e, expiresAt: Math.min(e.expiresAt, e.arrivedAt + secs * 1000) }));
  }

  /** Drops the messages whose time is up at `now`; returns whether any went. */
  expire(now: number): boolean {
    const kept = this.entries.filter((e) => e.expiresAt > now);
    const changed = kept.length !== this.entries.length;
    this.entries = kept;
    return changed;
  }
}
