// One participant's tile in the grid: video (or initials when the camera is off), the name,
// a muted-microphone indicator and the end-to-end encryption state. Remote tiles also play the
// participant's audio.

import { STATE_LABEL, type SecurityState } from '../e2ee/security';
import type { Assessment, Quality } from '../quality';
import { avatarColor, h, initials } from './dom';
import { icon } from './icons';
import { stateChip } from './security';

export interface TileState {
  /** The display name the member sent inside the group, or its identity until then. */
  name: string;
  microphone: boolean;
  camera: boolean;
  /** The encryption state (null: not known yet). */
  security?: SecurityState | null;
  /** Frames from this participant are refused (they do not decrypt): show no video. */
  refused?: boolean;
}

const QUALITY_LABEL: Record<Quality, string> = {
  good: 'Connection good',
  fair: 'Connection fair',
  poor: 'Connection poor',
  lost: 'Connection lost',
};

/** Playback the browser refused (autoplay policy) is retried on the next click. */
function play(media: HTMLMediaElement, onBlocked: () => void): void {
  media.play().catch((err: unknown) => {
    if (err instanceof DOMException && err.name === 'NotAllowedError') onBlocked();
  });
}

export class Tile {
  readonly element: HTMLElement;
  private readonly video: HTMLVideoElement;
  private readonly audio: HTMLAudioElement | null;
  private readonly avatar: HTMLElement;
  private readonly nameEl: HTMLElement;
  private readonly micOff: HTMLElement;
  private readonly chipSlot: HTMLElement;
  private readonly qualityEl: HTMLElement;
  private shownQuality: Quality | null = null;
  private shownSecurity: SecurityState | null | undefined = undefined;
  private videoTrack: MediaStreamTrack | null = null;
  private audioTrack: MediaStreamTrack | null = null;
  private state: TileState;

  constructor(
    readonly participantId: string,
    readonly self: boolean,
    state: TileState,
    private readonly onPlaybackBlocked: () => void = () => {},
  ) {
    this.state = state;
    this.video = h('video', { class: self ? 'mirrored' : undefined, autoplay: true, playsinline: true });
    // Video elements never play sound: remote audio has its own element, our own none at all.
    this.video.muted = true;
    this.audio = self ? null : h('audio', { autoplay: true });
    this.avatar = h('div', { class: 'avatar', 'aria-hidden': 'true' });
    this.nameEl = h('span', { class: 'tile-name', 'data-testid': 'tile-name' });
    this.micOff = h(
      'span',
      { class: 'mic-off', 'data-testid': 'tile-muted', role: 'img', 'aria-label': 'Microphone off' },
      icon('micOff'),
    );
    this.chipSlot = h('span', { class: 'chip-slot' });
    // Hidden until the first measurement: no claim before there is something to go on.
    this.qualityEl = h('span', { class: 'quality', 'data-testid': 'quality', role: 'img', hidden: true });
    this.element = h(
      'div',
      {
        class: self ? 'tile self' : 'tile',
        'data-testid': 'tile',
        'data-participant-id': participantId,
        role: 'group',
      },
      this.video,
      this.audio,
      this.avatar,
      this.qualityEl,
      h(
        'div',
        { class: 'nameplate' },
        this.micOff,
        this.nameEl,
        self ? h('span', { class: 'you', 'data-testid': 'tile-you' }, 'You') : null,
        this.chipSlot,
      ),
    );
    this.render();
  }

  update(state: Partial<TileState>): void {
    this.state = { ...this.state, ...state };
    this.render();
  }

  setVideoTrack(track: MediaStreamTrack | null): void {
    if (this.videoTrack === track) return;
    this.videoTrack = track;
    this.video.srcObject = track ? new MediaStream([track]) : null;
    if (track) play(this.video, this.onPlaybackBlocked);
    this.render();
  }

  setAudioTrack(track: MediaStreamTrack | null): void {
    if (!this.audio || this.audioTrack === track) return;
    this.audioTrack = track;
    this.audio.srcObject = track ? new MediaStream([track]) : null;
    if (track) play(this.audio, this.onPlaybackBlocked);
  }

  /** Detaches `track` if it is the one shown (the SFU reassigned it). */
  clearVideoTrack(track: MediaStreamTrack): void {
    if (this.videoTrack === track) this.setVideoTrack(null);
  }

  clearAudioTrack(track: MediaStreamTrack): void {
    if (this.audioTrack === track) this.setAudioTrack(null);
  }

  /** Retries playback after the user clicked somewhere (autoplay policy). */
  resumePlayback(): void {
    if (this.videoTrack) void this.video.play().catch(() => {});
    if (this.audioTrack && this.audio) void this.audio.play().catch(() => {});
  }

  /** Shows that the participant is speaking. */
  setSpeaking(speaking: boolean): void {
    this.element.classList.toggle('speaking', speaking && this.state.microphone);
  }

  /**
   * Shows the connection quality (for others as this browser receives them, for ourselves as the
   * server receives us); null hides it.
   */
  setQuality(a: Assessment | null): void {
    const el = this.qualityEl;
    el.hidden = a === null;
    if (!a) {
      delete el.dataset.quality;
      this.shownQuality = null;
      return;
    }
    const whose = this.self ? 'Your connection' : `Connection`;
    const label = `${QUALITY_LABEL[a.quality].replace('Connection', whose)}${a.reason ? `: ${a.reason}` : ''}`;
    el.setAttribute('aria-label', label);
    el.title = label;
    if (a.quality === this.shownQuality) return;
    this.shownQuality = a.quality;
    el.dataset.quality = a.quality;
    el.replaceChildren(icon(a.quality === 'lost' ? 'signalOff' : 'signal'));
  }

  dispose(): void {
    this.video.srcObject = null;
    if (this.audio) this.audio.srcObject = null;
    this.element.remove();
  }

  private render(): void {
    const { name, microphone, camera } = this.state;
    const security = this.state.security ?? null;
    const shownName = name || 'Guest';
    this.nameEl.textContent = shownName;
    this.element.setAttribute(
      'aria-label',
      `${shownName}${this.self ? ' (you)' : ''}${microphone ? '' : ', microphone off'}${camera ? '' : ', camera off'}` +
        (security ? `, ${STATE_LABEL[security].toLowerCase()}` : ''),
    );
    this.element.dataset.microphone = microphone ? 'on' : 'off';
    this.element.dataset.camera = camera ? 'on' : 'off';
    if (security) this.element.dataset.security = security;
    else delete this.element.dataset.security;
    if (security !== this.shownSecurity) {
      this.shownSecurity = security;
      this.chipSlot.replaceChildren(security ? stateChip(security) : '');
    }
    this.micOff.hidden = microphone;
    // Frames that do not decrypt are never rendered: show the initials, not a frozen picture.
    const showVideo = camera && this.videoTrack !== null && !this.state.refused;
    this.element.classList.toggle('video-off', !showVideo);
    this.avatar.textContent = initials(shownName);
    this.avatar.style.background = avatarColor(shownName);
  }
}
