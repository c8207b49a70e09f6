// Veil's browser client: which screen shows when.
//
//   no join link ─► "You need a join link"
//   join link ─► pre-join ─(Join)─► call ─(Leave)─► "You left the meeting" ─(Rejoin)─► call
//                                     └─(fatal error)─► error screen ─(Rejoin, if it can help)─► call

import './style.css';

import { LocalMedia, type MediaPreferences } from './devices';
import { describeFatal } from './errors';
import { decodeTokenClaims, parseJoinLink, type JoinLink } from './link';
import { Meeting, type FatalReason } from './meeting';
import { watchSpeaking } from './speaking';
import { CallView } from './ui/call';
import { showScreen } from './ui/dom';
import { noticeScreen } from './ui/notice';
import { prejoinScreen } from './ui/prejoin';
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
  const defaultName = claims.name ?? remembered<string>(NAME_KEY) ?? '';
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
  });
  let selfId = SELF_PLACEHOLDER;
  let selfName = name || 'You';
  let stopSpeaking: (() => void) | null = null;

  const renderSelf = (): void => {
    view.upsert(selfId, true, { name: selfName, microphone: local.microphoneOn, camera: local.cameraOn });
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
      selfName = self.name || selfName;
      renderSelf();
      for (const p of others) view.upsert(p.id, false, p);
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
      view.upsert(p.id, false, p);
      toast(`${p.name || 'Someone'} joined`);
    },
    participantUpdated: (p) => void view.upsert(p.id, false, p),
    participantLeft: (id) => view.remove(id),
    remoteTrack: (id, track) => view.remoteTrack(id, track),
    remoteTrackRemoved: (id, track) => view.remoteTrackRemoved(id, track),
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
  if (link) showPrejoin(link);
  else showNoLink();
}

window.addEventListener('pagehide', () => current?.leave());
boot();
