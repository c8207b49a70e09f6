// The room as the call screen shows it: one model that the views render from, changed only by
// `reduce` (one server message at a time), and the changes worth telling the person about
// derived by pure functions (`roomNotices`, `groupNotices`). Nothing here touches the DOM or the
// network, so all of it is unit-tested in node (tests/units.test.mjs).
//
// What the server says is taken for what it is: the server's word. Who is in the encrypted
// group, and the names people chose, come from the MLS session (e2ee/mls.ts), which checks the
// server's roster against the group; `groupNotices` reads names from there only.

import type { GroupMember } from './e2ee/mls';
import type { Grants, LobbyEntry, ParticipantInfo, RoomPolicy, ServerMessage, Source } from './signaling';

/** Where we are: waiting for `joined`, in the lobby, or in the call. */
export type Phase = 'joining' | 'lobby' | 'call';

export interface RoomState {
  phase: Phase;
  selfId: string | null;
  /** The identity the server authenticated for us. */
  identity: string | null;
  /** What we may do (after the room's policy); null until joined. */
  grants: Grants | null;
  policy: RoomPolicy | null;
  /** The others, in the order the server announced them. */
  participants: ParticipantInfo[];
  /** Who waits in the lobby (told to hosts only). */
  lobby: LobbyEntry[];
  /** A host muted these of our sources (we turned them off); cleared when we turn them on. */
  mutedByHost: Source[];
}

export const initialRoom: RoomState = {
  phase: 'joining',
  selfId: null,
  identity: null,
  grants: null,
  policy: null,
  participants: [],
  lobby: [],
  mutedByHost: [],
};

/** The room after `msg`. Messages that are not about the room leave it as it is. */
export function reduce(state: RoomState, msg: ServerMessage): RoomState {
  switch (msg.type) {
    case 'lobby':
      return { ...state, phase: 'lobby' };
    case 'joined':
      return {
        ...state,
        phase: 'call',
        selfId: msg.participant_id,
        identity: msg.identity,
        grants: msg.grants,
        policy: msg.policy,
        participants: msg.participants.filter((p) => p.id !== msg.participant_id),
      };
    case 'participant_joined':
      if (msg.participant.id === state.selfId) return state;
      return {
        ...state,
        participants: [...state.participants.filter((p) => p.id !== msg.participant.id), msg.participant],
      };
    case 'participant_updated':
      if (!state.participants.some((p) => p.id === msg.participant.id)) return state;
      return {
        ...state,
        participants: state.participants.map((p) => (p.id === msg.participant.id ? msg.participant : p)),
      };
    case 'participant_left':
      return { ...state, participants: state.participants.filter((p) => p.id !== msg.participant_id) };
    case 'lobby_updated':
      return { ...state, lobby: msg.waiting };
    case 'policy_updated':
      return { ...state, policy: msg.policy, grants: msg.grants };
    case 'mute_requested': {
      const muted = new Set(state.mutedByHost);
      muted.add(msg.source);
      if (msg.source === 'screen') muted.add('screen_audio');
      return { ...state, mutedByHost: [...muted] };
    }
    default:
      return state;
  }
}

/** We turned `source` on ourselves: a host's mute of it is over. */
export function unmutedByUs(state: RoomState, source: Source): RoomState {
  if (!state.mutedByHost.includes(source)) return state;
  return { ...state, mutedByHost: state.mutedByHost.filter((s) => s !== source) };
}

/** Whether we host the room. */
export function isHost(state: RoomState): boolean {
  return state.grants?.host === true;
}

/** Whether we may share a screen now (the server's grants, after the room's policy). */
export function canShareScreen(state: RoomState): boolean {
  return state.grants?.publish.includes('screen') === true;
}

/**
 * Whose screen is shown large: ours while we share, else the participant who started sharing
 * last (the server lists participants in join order; among several sharers the one who most
 * recently started wins, which `previous` remembers).
 */
export function presenter(state: RoomState, selfSharing: boolean, previous: string | null): string | null {
  if (selfSharing && state.selfId) return state.selfId;
  const sharing = state.participants.filter((p) => p.screen).map((p) => p.id);
  if (previous !== null && sharing.includes(previous)) return previous;
  return sharing.at(-1) ?? null;
}

/** Something to tell the person, as a toast. */
export interface Notice {
  text: string;
  /** An error-styled toast. */
  alert?: boolean;
}

const SOURCE_WORDS: Record<Source, string> = {
  microphone: 'microphone',
  camera: 'camera',
  screen: 'screen share',
  screen_audio: 'screen audio',
};

/**
 * What changed between `before` and `after` that the person should hear about: a host's mute
 * of our source, policy changes, people arriving in the lobby (hosts), someone starting to
 * share a screen. `nameOf` gives the name to show for a participant id.
 */
export function roomNotices(
  before: RoomState,
  after: RoomState,
  msg: ServerMessage,
  nameOf: (participantId: string) => string,
): Notice[] {
  const out: Notice[] = [];
  if (msg.type === 'mute_requested') {
    out.push({ text: `A host turned off your ${SOURCE_WORDS[msg.source]}.`, alert: true });
  }
  if (msg.type === 'policy_updated' && before.policy) {
    const [b, a] = [before.policy, after.policy ?? before.policy];
    if (b.locked !== a.locked) out.push({ text: a.locked ? 'The meeting is locked.' : 'The meeting is unlocked.' });
    if (b.lobby !== a.lobby) out.push({ text: a.lobby ? 'The lobby is on: a host admits newcomers.' : 'The lobby is off.' });
    if (b.screen_share !== a.screen_share) {
      out.push({
        text: a.screen_share === 'hosts' ? 'Only hosts may share their screen now.' : 'Participants may share their screen.',
      });
    }
  }
  if (msg.type === 'lobby_updated' && isHost(after)) {
    const known = new Set(before.lobby.map((w) => w.id));
    for (const w of after.lobby) if (!known.has(w.id)) out.push({ text: `${w.identity} is waiting in the lobby.` });
  }
  if (msg.type === 'participant_updated') {
    const was = before.participants.find((p) => p.id === msg.participant.id);
    if (was && !was.screen && msg.participant.screen) {
      out.push({ text: `${nameOf(msg.participant.id)} is sharing their screen.` });
    }
  }
  return out;
}

/**
 * Who entered and left the encrypted group between two member lists, by the names they sent
 * inside the group. `seen` holds the members already announced (it is updated); members
 * already there when we arrived (`first`) are not news.
 */
export function groupNotices(
  before: GroupMember[],
  after: GroupMember[],
  selfId: string | null,
  seen: Set<string>,
  first: boolean,
): string[] {
  const changes: string[] = [];
  const now = new Set(after.map((m) => m.participantId));
  for (const m of after) {
    // A newcomer's name arrives just after it joined the group: announce it then.
    if (seen.has(m.participantId) || !m.name) continue;
    seen.add(m.participantId);
    if (!first && m.participantId !== selfId) changes.push(`${m.name} joined`);
  }
  for (const m of before) {
    if (!now.has(m.participantId) && after.length > 0) changes.push(`${m.name ?? 'Someone'} left`);
  }
  return changes;
}
