// Veil's browser client: which screen shows when.
//
//   no join link ─► "You need a join link"
//   join link ─► pre-join ─(Join)─► [lobby ─(admitted)─►] call ─(Leave)─► "You left the meeting"
//                                     └─(fatal error: denied, removed, ended…)─► error screen
//
// The call screen renders from one room model (room.ts), the group's view of who is in it and
// their names (the MLS session), and the local devices: `render` redraws it from those three.

import './style.css';

import { ChatLog, DEFAULT_RETENTION_SECS } from './chat';
import { LocalMedia, type MediaPreferences } from './devices';
import { describeFatal, rejoinDelay } from './errors';
import { decodeTokenClaims, parseJoinLink, type JoinLink } from './link';
import { prestartWorker } from './e2ee/transforms';
import { loadE2ee, warmUp } from './e2ee/wasm';
import { Meeting, type FatalReason, type SecuritySnapshot } from './meeting';
import { groupNotices, initialRoom, isHost, presenter, roomNotices, type RoomState } from './room';
import type { ParticipantInfo, Source } from './signaling';
import { watchCallStats } from './callstats';
import { watchTileSizes } from './tilesizes';
import { featured, initialSpeaker, namedByServer, nextSpeaker, type SpeakerState } from './speaker';
import { CallView } from './ui/call';
import type { PersonRow } from './ui/people';
import { showScreen } from './ui/dom';
import { noticeScreen } from './ui/notice';
import { prejoinScreen } from './ui/prejoin';
import { signInAvailable, signInForm } from './ui/signin';
import { memberLabel, panelRows, riskSummary } from './ui/security';
import type { TileState } from './ui/tile';
import { toast } from './ui/toast';

const NAME_KEY = 'veil.displayName';
const PREFS_KEY = 'veil.mediaPreferences';
const SELF_PLACEHOLDER = 'self';

/** The meeting in progress, if any (for pagehide). */
let current: Meeting | null = null;
/** Joins tried in a row since the last one that succeeded (for `rejoinDelay`). */
let rejoinAttempts = 0;
/** A pending rejoin by itself, cancelled when the person leaves instead. */
let rejoinTimer: number | undefined;

function remembered<T>(key: string): T | null {
  try {
    const text = localStorage.getItem(key);
    return text ? (JSON.parse(text) as T) : null;
  } catch {
    return null;
  }
}

function remember(key: string, value: unknown): void {
  try {
    localStorage.setItem(key, JSON.stringify(value));
  } catch {
    // Storage may be off (private mode); remembering is a convenience only.
  }
}

function showNoLink(): void {
  document.title = 'Veil';
  const screen = noticeScreen({
    kind: 'no-link',
    icon: 'link',
    title: 'You need a join link',
    body:
      'Meetings on Veil are opened with a join link from the meeting host. ' +
      'It looks like https://…/r/meeting-name#token=… — open it exactly as you received it.',
  });
  showScreen(screen);
  // A server that signs people in through an OpenID provider also starts meetings from here.
  void signInAvailable().then((on) => on && screen.querySelector('.notice-card')?.append(signInForm()));
}

function showPrejoin(link: JoinLink): void {
  document.title = `${link.room} · Veil`;
  const claims = decodeTokenClaims(link.token);
  // The link's suggestion (from its fragment, never seen by the server), else what we used last.
  const defaultName = link.name ?? remembered<string>(NAME_KEY) ?? '';
  const prefs = remembered<MediaPreferences>(PREFS_KEY) ?? { microphone: true, camera: true };
  const local = new LocalMedia(prefs);
  const expired = claims.exp !== undefined && claims.exp * 1000 < Date.now();
  const screen = prejoinScreen({
    room: link.room,
    defaultName,
    ...(expired ? { warning: 'This join link seems to have expired; joining will probably fail.' } : {}),
    local,
    onJoin: (name) => {
      if (name) remember(NAME_KEY, name);
      remember(PREFS_KEY, local.preferences);
      screen.dispose();
      startMeeting(link, name || defaultName, local);
    },
  });
  showScreen(screen.element);
  void local.start();
}

function startMeeting(link: JoinLink, name: string, local: LocalMedia): void {
  const view = new CallView(
    link.room,
    {
      toggleMicrophone: () => void local.toggleMicrophone(),
      toggleCamera: () => void local.toggleCamera(),
      toggleScreen: () => {
        if (local.screenOn) local.stopScreen();
        else void local.startScreen().then((error) => error && toast(error, 'error'));
      },
      leave: () => leave(),
      verify: (pid, verified) => meeting.setVerified(pid, verified),
      sendChat: (text, ttlSecs) => sendChat(text, ttlSecs),
    },
    {
      admit: (id) => meeting.send({ type: 'admit', participant_id: id }),
      deny: (id) => meeting.send({ type: 'deny', participant_id: id }),
      mute: (id, source) => meeting.send({ type: 'mute', participant_id: id, source }),
      remove: (id) => meeting.send({ type: 'remove', participant_id: id }),
      revoke: (identity) => meeting.send({ type: 'revoke', identity }),
      setPolicy: (policy) => meeting.setPolicy(policy),
      endMeeting: () => meeting.send({ type: 'end_meeting' }),
    },
  );
  const leave = (): void => {
    const prefs = local.preferences;
    meeting.leave();
    finish();
    showLeft(link, name, prefs);
  };
  let selfId = SELF_PLACEHOLDER;
  const selfName = name || 'You';
  let stopStats: (() => void) | null = null;
  let stopTileSizes: (() => void) | null = null;
  /** Who speaker view shows large (speaker.ts), and who spoke at the last reading. */
  let speaker: SpeakerState = initialSpeaker;
  let speakingKey = '';
  /** What each remote track carries, by track id (for whether it should be flowing). */
  const trackSources = new Map<string, Source>();
  let security: SecuritySnapshot | null = null;
  /** Members we have seen in the group, for the "joined" toast. */
  const seenMembers = new Set<string>();
  /** Tiles shown for the others, to drop those who left. */
  const shown = new Set<string>();
  /** Remote shared screens and their audio, by participant. */
  const screens = new Map<string, MediaStreamTrack>();
  const screenAudio = new Map<string, MediaStreamTrack>();
  let presenterId: string | null = null;

  /** The name to show for a participant: the one it sent inside the group, else its identity. */
  const nameOf = (pid: string): string => {
    const identity = meeting.room.participants.find((p) => p.id === pid)?.identity ?? 'Someone';
    const member = security?.members.find((m) => m.participantId === pid);
    return member ? memberLabel(member, identity) : identity;
  };

  /**
   * Whether `pid` is someone this client knows from the encrypted group itself (not merely from
   * the server's roster): only they get speaking, speaker and quality state. Without E2EE (the
   * benchmark switch) there is no group, and the roster is all there is.
   */
  const inGroup = (pid: string): boolean =>
    security?.e2ee === false
      ? meeting.room.participants.some((p) => p.id === pid)
      : (security?.members.some((m) => m.participantId === pid) ?? false);

  /** The others speaker view may show large, in the order of their tiles. */
  const speakerCandidates = (): string[] =>
    meeting.room.participants.map((p) => p.id).filter((id) => id !== selfId && inGroup(id));
  /** The room asked the server to name the speaker: our own levels then only ring tiles. */
  const serverNamesSpeaker = (): boolean => meeting.room.policy?.server_speaker_detection === true;

  /** A remote tile's state, from the room (server) and the group (names, encryption). */
  const tileState = (p: ParticipantInfo): TileState => {
    const state = security?.states.get(p.id) ?? null;
    const e2ee = security?.e2ee ?? true;
    return {
      name: nameOf(p.id),
      microphone: p.microphone,
      camera: p.camera,
      security: state,
      refused: e2ee && (state === 'not-encrypted' || state === 'decryption-failing'),
    };
  };

  const renderSelf = (): void => {
    // Our name as the others see it (cleaned by the session) once we are in the group.
    const own = security?.members.find((m) => m.participantId === selfId);
    view.upsert(selfId, true, {
      name: own?.name ?? selfName,
      microphone: local.microphoneOn,
      camera: local.cameraOn,
      security: security?.states.get(selfId) ?? null,
    });
    view.get(selfId)?.setVideoTrack(local.videoTrack);
    view.setControls(local.microphoneSwitch, local.cameraSwitch);
  };

  /** Everything the call screen shows, from the room model, the group and the local devices. */
  const render = (): void => {
    const room = meeting.room;
    renderSelf();
    for (const p of room.participants) {
      view.upsert(p.id, false, tileState(p));
      shown.add(p.id);
    }
    for (const id of [...shown]) {
      if (room.participants.some((p) => p.id === id)) continue;
      shown.delete(id);
      view.remove(id);
    }
    const sharing = local.screenOn && meeting.canShareScreen;
    presenterId = presenter(room, sharing, presenterId);
    const track = presenterId === selfId ? local.screenTrack : presenterId ? screens.get(presenterId) : undefined;
    view.setPresentation(
      presenterId && track
        ? {
            participantId: presenterId,
            track,
            self: presenterId === selfId,
            label: presenterId === selfId ? 'You are presenting' : `${nameOf(presenterId)} is presenting`,
          }
        : null,
    );
    view.setScreenControl(meeting.canShareScreen, local.screenOn);
    view.setFeatured(featured(speaker, speakerCandidates()));
    const self: PersonRow = {
      id: selfId,
      name: security?.members.find((m) => m.participantId === selfId)?.name ?? selfName,
      identity: room.identity ?? '',
      self: true,
      host: isHost(room),
      microphone: local.microphoneOn,
      camera: local.cameraOn,
      screen: sharing,
    };
    const others = room.participants.map((p) => ({ ...p, name: nameOf(p.id), self: false }));
    view.setPeople({ people: [self, ...others], lobby: room.lobby, policy: room.policy, host: isHost(room) });
  };

  /** The chat on screen: in memory only, gone with this meeting. */
  const chat = new ChatLog();
  /** Senders' names as the group last showed them, for the messages of those who left. */
  const chatNames = new Map<string, string>();
  const renderChat = (): void => {
    const ready = security !== null && security.e2ee && security.epoch !== null;
    view.setChat({
      messages: chat.messages,
      sender: (pid) => {
        // The name its owner signed inside the group, never the server's roster.
        const member = security?.members.find((m) => m.participantId === pid);
        if (member?.name) chatNames.set(pid, memberLabel(member, member.name));
        return { name: chatNames.get(pid) ?? 'Someone without a name yet', verified: security?.verified.has(pid) ?? false };
      },
      ready,
      waiting:
        security?.e2ee === false
          ? 'Chat needs end-to-end encryption, which is off on this device.'
          : 'Chat opens once this device has joined the encryption group…',
      retentionSecs: meeting.room.policy?.chat_retention_secs ?? DEFAULT_RETENTION_SECS,
      now: performance.now(),
    });
  };
  const sendChat = (text: string, ttlSecs: number): boolean => {
    try {
      const sent = meeting.sendChat(text, ttlSecs);
      chat.add({ ...sent, sender: selfId, own: true, ttlSecs }, performance.now());
      renderChat();
      return true;
    } catch (err) {
      toast(err instanceof Error ? err.message : String(err), 'error');
      return false;
    }
  };
  // Every second: messages whose time is up go, the others' countdowns move on.
  const chatTimer = window.setInterval(() => {
    chat.expire(performance.now());
    renderChat();
  }, 1_000);

  let shownDeviceErrors = '';
  const onLocalChange = (): void => {
    render();
    // Tell about a device problem once, not on every later change.
    const errors = [local.microphoneError, local.cameraError].filter((e): e is string => !!e);
    if (errors.join('\n') !== shownDeviceErrors) {
      for (const e of errors) if (!shownDeviceErrors.includes(e)) toast(e, 'error');
      shownDeviceErrors = errors.join('\n');
    }
  };
  const finish = (): void => {
    window.clearInterval(chatTimer);
    stopStats?.();
    stopTileSizes?.();
    local.removeEventListener('change', onLocalChange);
    view.dispose();
    if (current === meeting) current = null;
  };

  let previousRoom: RoomState = initialRoom;
  const meeting: Meeting = new Meeting(link, name, local, {
    room: (room, msg) => {
      for (const n of roomNotices(previousRoom, room, msg, nameOf)) toast(n.text, n.alert ? 'error' : 'info');
      if (room.phase === 'lobby' && previousRoom.phase !== 'lobby') showLobby(link, leave);
      if (room.phase === 'call' && previousRoom.phase !== 'call') showScreen(view.element);
      previousRoom = room;
      render();
      if (room.policy) chat.setRetention(room.policy.chat_retention_secs);
      renderChat();
    },
    joined: (id) => {
      rejoinAttempts = 0;
      view.rekey(selfId, id);
      selfId = id;
      view.setStatus(null);
      render();
      const media = meeting.media;
      if (media) {
        stopTileSizes = watchTileSizes(media.pc, (track) => view.shownHeight(track), (tiles) => meeting.sendTileSizes(tiles));
        stopStats = watchCallStats(media.pc, {
          selfId: () => selfId,
          ownerOf: (trackId) => {
            // The SFU labels tracks; the group decides whom we believe they belong to.
            const owner = media.ownerOfTrackId(trackId);
            const p = owner !== undefined && inGroup(owner) ? meeting.room.participants.find((q) => q.id === owner) : undefined;
            if (!p) return undefined;
            const source = trackSources.get(trackId);
            const expected = source === 'microphone' ? p.microphone : source === 'camera' ? p.camera : source === 'screen' && p.screen;
            return { owner: p.id, expected };
          },
          speaking: (speaking, now) => {
            const key = [...speaking].sort().join(',');
            if (key !== speakingKey) {
              speakingKey = key;
              view.setSpeaking(speaking);
            }
            const present = speakerCandidates();
            if (!serverNamesSpeaker()) speaker = nextSpeaker(speaker, { now, speaking, present });
            view.setFeatured(featured(speaker, present));
          },
          quality: (quality) => {
            view.setQuality(quality);
            meeting.noteQuality(quality);
          },
        });
      }
    },
    remoteTrack: (id, track, source) => {
      trackSources.set(track.id, source);
      if (source === 'screen') screens.set(id, track);
      else if (source === 'screen_audio') screenAudio.set(id, track);
      else view.remoteTrack(id, track);
      if (source === 'screen_audio') view.setScreenAudio(id, track);
      render();
    },
    remoteTrackRemoved: (id, track) => {
      trackSources.delete(track.id);
      if (screens.get(id) === track) screens.delete(id);
      else if (screenAudio.get(id) === track) {
        screenAudio.delete(id);
        view.setScreenAudio(id, null);
      } else view.remoteTrackRemoved(id, track);
      render();
    },
    security: (snap) => {
      const first = security === null || security.members.length === 0;
      const changes = groupNotices(security?.members ?? [], snap.members, snap.selfId, seenMembers, first);
      security = snap;
      render();
      const outside = meeting.room.participants.map((p) => ({ id: p.id, identity: p.identity }));
      view.setSecurity(snap, panelRows(snap, outside), changes, riskSummary(snap, outside));
      renderChat();
    },
    fatal: (reason, message) => {
      const prefs = local.preferences;
      finish();
      const delay = rejoinDelay(reason, rejoinAttempts);
      if (delay === null) showFatal(link, name, prefs, reason, message);
      else showReconnecting(link, name, prefs, delay);
    },
    activeSpeaker: (named) => {
      const present = speakerCandidates();
      speaker = namedByServer(speaker, named, present);
      view.setFeatured(featured(speaker, present));
    },
    notice: (message) => toast(message, 'error'),
    chat: (message) => {
      chat.add({ ...message, own: false }, performance.now());
      renderChat();
    },
    chatUnsent: (id, reason) => {
      if (chat.markUnsent(id, reason)) renderChat();
    },
  });

  current = meeting;
  showScreen(view.element);
  view.setStatus('Joining…');
  renderSelf();
  local.addEventListener('change', onLocalChange);
  meeting.start();
}

/** The lobby: we wait for a host; leaving is the only thing to do. */
function showLobby(link: JoinLink, leave: () => void): void {
  showScreen(
    noticeScreen({
      kind: 'lobby',
      icon: 'hourglass',
      title: 'Waiting for a host to let you in',
      body: `You are in the lobby of ${link.room}. A host of the meeting will admit you; this page updates by itself.`,
      actions: [{ label: 'Leave', run: leave }],
    }),
  );
}

/**
 * The server or the network went away: say so, and join again by itself after `delay` ms (a
 * restarted node, or the live node a dead one's room moved to, takes the same link). Leaving
 * cancels it.
 */
function showReconnecting(link: JoinLink, name: string, prefs: MediaPreferences, delay: number): void {
  rejoinAttempts += 1;
  const leave = (): void => {
    window.clearTimeout(rejoinTimer);
    rejoinAttempts = 0;
    showLeft(link, name, prefs);
  };
  showScreen(
    noticeScreen({
      kind: 'reconnecting',
      icon: 'hourglass',
      title: 'Reconnecting…',
      body: `The connection to ${link.room} was lost. Joining again by itself (attempt ${rejoinAttempts}).`,
      actions: [{ label: 'Leave', run: leave }],
    }),
  );
  window.clearTimeout(rejoinTimer);
  rejoinTimer = window.setTimeout(() => rejoin(link, name, prefs), delay);
}

/** Rejoin skips the pre-join screen and reuses the choices made there. */
function rejoin(link: JoinLink, name: string, prefs: MediaPreferences): void {
  const local = new LocalMedia(prefs);
  startMeeting(link, name, local);
  void local.start();
}

function showLeft(link: JoinLink, name: string, prefs: MediaPreferences): void {
  showScreen(
    noticeScreen({
      kind: 'left',
      icon: 'leave',
      title: 'You left the meeting',
      body: `You are no longer in ${link.room}. Your camera and microphone are off.`,
      actions: [{ label: 'Rejoin', primary: true, run: () => rejoin(link, name, prefs) }],
    }),
  );
}

function showFatal(
  link: JoinLink,
  name: string,
  prefs: MediaPreferences,
  reason: FatalReason,
  message: string,
): void {
  const text = describeFatal(reason);
  // A Rejoin clicked here gets the full run of automatic retries again.
  rejoinAttempts = 0;
  showScreen(
    noticeScreen({
      kind: 'error',
      icon: 'alert',
      title: text.title,
      body: text.advice,
      detail: message,
      actions: text.retry ? [{ label: 'Rejoin', primary: true, run: () => rejoin(link, name, prefs) }] : [],
    }),
  );
  document.querySelector('[data-screen=error]')?.setAttribute('data-error-code', reason);
}

function boot(): void {
  const link = parseJoinLink(location.pathname, location.hash);
  if (link) {
    showPrejoin(link);
    // Fetch, compile and warm up the encryption module and its worker while the person looks at
    // the pre-join screen.
    if (window.veilConfig?.e2ee !== false) {
      const module = loadE2ee();
      module.then(warmUp).catch((err: unknown) => console.warn('veil: E2EE warm-up failed', err));
      prestartWorker(module);
    }
  } else showNoLink();
}

window.addEventListener('pagehide', () => current?.leave());
boot();
