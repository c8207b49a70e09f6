// Veil's browser client: which screen shows when.
//
//   no join link ─► "You need a join link"
//   join link ─► pre-join ─(Join)─► call ─(Leave)─► "You left the meeting" ─(Rejoin)─► call
//                                     └─(fatal error)─► error screen ─(Rejoin, if it can help)─► call

import './style.css';

import { LocalMedia, type MediaPreferences } from './devices';
import { describeFatal } from './errors';
import { decodeTokenClaims, parseJoinLink, type JoinLink } from './link';
import { prestartWorker } from './e2ee/transforms';
import { loadE2ee, warmUp } from './e2ee/wasm';
import { Meeting, type FatalReason, type SecuritySnapshot } from './meeting';
import type { ParticipantInfo } from './signaling';
import { watchSpeaking } from './speaking';
import { CallView } from './ui/call';
import { showScreen } from './ui/dom';
import { noticeScreen } from './ui/notice';
import { prejoinScreen } from './ui/prejoin';
import { memberLabel, panelRows, riskSummary } from './ui/security';
import type { TileState } from './ui/tile';
import { toast } from './ui/toast';

const NAME_KEY = 'veil.displayName';
const PREFS_KEY = 'veil.mediaPreferences';
const SELF_PLACEHOLDER = 'self';

/** The meeting in progress, if any (for pagehide). */
let current: Meeting | null = null;

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
  showScreen(
    noticeScreen({
      kind: 'no-link',
      icon: 'link',
      title: 'You need a join link',
      body:
        'Meetings on Veil are opened with a join link from the meeting host. ' +
        'It looks like https://…/r/meeting-name#token=… — open it exactly as you received it.',
    }),
  );
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
  const view = new CallView(link.room, {
    toggleMicrophone: () => void local.toggleMicrophone(),
    toggleCamera: () => void local.toggleCamera(),
    leave: () => {
      const prefs = local.preferences;
      meeting.leave();
      finish();
      showLeft(link, name, prefs);
    },
    verify: (pid, verified) => meeting.setVerified(pid, verified),
  });
  let selfId = SELF_PLACEHOLDER;
  const selfName = name || 'You';
  let stopSpeaking: (() => void) | null = null;
  /** What the server says about the others (never their names: those come from MLS). */
  const infos = new Map<string, ParticipantInfo>();
  let security: SecuritySnapshot | null = null;
  /** Members we have seen in the group, for the "joined" toast. */
  const seenMembers = new Set<string>();

  /**
   * A remote tile's state: the name the member sent inside the group (marked when another
   * member shows the same), or the identity the server authenticated until then.
   */
  const tileState = (p: ParticipantInfo): TileState => {
    const member = security?.members.find((m) => m.participantId === p.id);
    const state = security?.states.get(p.id) ?? null;
    const e2ee = security?.e2ee ?? true;
    return {
      name: member ? memberLabel(member, p.identity) : p.identity,
      microphone: p.microphone,
      camera: p.camera,
      security: state,
      refused: e2ee && (state === 'not-encrypted' || state === 'decryption-failing'),
    };
  };
  const renderOther = (p: ParticipantInfo): void => void view.upsert(p.id, false, tileState(p));

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
  let shownDeviceErrors = '';
  const onLocalChange = (): void => {
    renderSelf();
    // Tell about a device problem once, not on every later change.
    const errors = [local.microphoneError, local.cameraError].filter((e): e is string => !!e);
    if (errors.join('\n') !== shownDeviceErrors) {
      for (const e of errors) if (!shownDeviceErrors.includes(e)) toast(e, 'error');
      shownDeviceErrors = errors.join('\n');
    }
  };
  const finish = (): void => {
    stopSpeaking?.();
    local.removeEventListener('change', onLocalChange);
    view.dispose();
    if (current === meeting) current = null;
  };

  const meeting: Meeting = new Meeting(link, name, local, {
    joined: (self, others) => {
      view.rekey(selfId, self.id);
      selfId = self.id;
      renderSelf();
      for (const p of others) {
        infos.set(p.id, p);
        renderOther(p);
      }
      view.setStatus(null);
      const media = meeting.media;
      if (media) {
        stopSpeaking = watchSpeaking(
          media.pc,
          selfId,
          (id) => media.ownerOfTrackId(id),
          (speaking) => view.setSpeaking(speaking),
        );
      }
    },
    participantJoined: (p) => {
      infos.set(p.id, p);
      renderOther(p);
      // With E2EE the name is known (and announced) once the person is in the group.
      if (security && !security.e2ee) toast(`${p.identity} joined`);
    },
    participantUpdated: (p) => {
      infos.set(p.id, p);
      renderOther(p);
    },
    participantLeft: (id) => {
      infos.delete(id);
      view.remove(id);
    },
    remoteTrack: (id, track) => view.remoteTrack(id, track),
    remoteTrackRemoved: (id, track) => view.remoteTrackRemoved(id, track),
    security: (snap) => {
      const first = security === null || security.members.length === 0;
      const before = new Map((security?.members ?? []).map((m) => [m.participantId, m.name]));
      security = snap;
      // Who entered and left the group (names from MLS credentials). Everyone already in the
      // group when we arrive is not news.
      const changes: string[] = [];
      const now = new Set(snap.members.map((m) => m.participantId));
      for (const m of snap.members) {
        // A newcomer's name arrives in a commit of its own, just after it joined.
        if (seenMembers.has(m.participantId) || !m.name) continue;
        seenMembers.add(m.participantId);
        if (!first && m.participantId !== snap.selfId) changes.push(`${m.name} joined`);
      }
      for (const [pid, name] of before) {
        if (!now.has(pid) && snap.members.length > 0) changes.push(`${name ?? 'Someone'} left`);
      }
      renderSelf();
      for (const p of infos.values()) renderOther(p);
      const outside = [...infos.values()].map((p) => ({ id: p.id, identity: p.identity }));
      view.setSecurity(snap, panelRows(snap, outside), changes, riskSummary(snap, outside));
    },
    fatal: (reason, message) => {
      const prefs = local.preferences;
      finish();
      showFatal(link, name, prefs, reason, message);
    },
    notice: (message) => toast(message, 'error'),
  });

  current = meeting;
  showScreen(view.element);
  view.setStatus('Joining…');
  renderSelf();
  local.addEventListener('change', onLocalChange);
  meeting.start();
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
