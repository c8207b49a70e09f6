// The in-call screen: a top bar (layout switch, people, chat and the security indicator), the
// stage (a shared screen shown large when someone presents; else either the grid of tiles or, in
// speaker view, the active speaker large with the others in a strip), the side panels (people,
// chat, security), and the control bar.

import type { SecuritySnapshot } from '../meeting';
import type { Assessment } from '../quality';
import { ChatPanel, type ChatView } from './chat';
import { h } from './dom';
import { icon } from './icons';
import { PeoplePanel, type HostActions, type PeopleView } from './people';
import { SecurityIndicator, SecurityPanel, type PanelRow } from './security';
import { Tile, type TileState } from './tile';
import { toast } from './toast';

export interface CallActions {
  toggleMicrophone(): void;
  toggleCamera(): void;
  /** Starts or stops sharing a screen. */
  toggleScreen(): void;
  leave(): void;
  /** The user marked a participant verified, or took the mark back. */
  verify(participantId: string, verified: boolean): void;
  /** Sends a chat message; returns whether it went. */
  sendChat(text: string, ttlSecs: number): boolean;
}

/** The screen shown large: whose, its track, and how to label it. */
export interface Presentation {
  participantId: string;
  track: MediaStreamTrack;
  /** "Ada Lovelace is presenting", "You are presenting". */
  label: string;
  self: boolean;
}

/** Everyone in a grid, or the active speaker large (a shared screen overrides both). */
export type Layout = 'grid' | 'speaker';

/** Tiles are 16:9; the grid picks the column count that makes them largest. */
const TILE_ASPECT = 16 / 9;
const GAP = 12;

export function bestColumns(
  count: number,
  width: number,
  height: number,
): { cols: number; tileWidth: number } {
  let best = { cols: 1, tileWidth: 0 };
  for (let cols = 1; cols <= Math.max(1, count); cols++) {
    const rows = Math.ceil(count / cols);
    const w = Math.min((width - GAP * (cols - 1)) / cols, ((height - GAP * (rows - 1)) / rows) * TILE_ASPECT);
    if (w > best.tileWidth) best = { cols, tileWidth: w };
  }
  return best;
}

export class CallView {
  readonly element: HTMLElement;
  private readonly grid: HTMLElement;
  private readonly status: HTMLElement;
  private readonly count: HTMLElement;
  private readonly micButton: HTMLButtonElement;
  private readonly camButton: HTMLButtonElement;
  private readonly shareButton: HTMLButtonElement;
  private readonly banner: HTMLElement;
  private readonly presentation: HTMLElement;
  private readonly presentationVideo: HTMLVideoElement;
  private readonly presentationLabel: HTMLElement;
  /** Speaker view's large tile. */
  private readonly spotlight: HTMLElement;
  private readonly layoutButton: HTMLButtonElement;
  private mode: Layout = 'grid';
  private featuredId: string | null = null;
  private readonly screenAudio = new Map<string, HTMLAudioElement>();
  private readonly people: PeoplePanel;
  private readonly chat: ChatPanel;
  private readonly tiles = new Map<string, Tile>();
  /** Remote tracks whose participant has no tile yet (the SFU's offer came first). */
  private readonly pending = new Map<string, Set<MediaStreamTrack>>();
  private readonly resize: ResizeObserver;
  private blockedPlayback = false;
  private readonly indicator: SecurityIndicator;
  private readonly panel: SecurityPanel;
  private codeChanged = false;

  constructor(room: string, actions: CallActions, host: HostActions) {
    this.grid = h('div', {
      class: 'grid',
      'data-testid': 'grid',
      role: 'list',
      'aria-label': 'Participants',
    });
    this.status = h('div', { class: 'call-status', role: 'status', 'aria-live': 'polite' });
    this.count = h('span', { class: 'count', 'data-testid': 'participant-count' });
    this.micButton = h('button', {
      type: 'button',
      class: 'control',
      'data-testid': 'toggle-microphone',
      onclick: () => actions.toggleMicrophone(),
    });
    this.camButton = h('button', {
      type: 'button',
      class: 'control',
      'data-testid': 'toggle-camera',
      onclick: () => actions.toggleCamera(),
    });
    this.shareButton = h('button', {
      type: 'button',
      class: 'control',
      'data-testid': 'share-screen',
      hidden: true,
      onclick: () => actions.toggleScreen(),
    });
    this.banner = h(
      'div',
      { class: 'share-banner', 'data-testid': 'sharing-banner', role: 'status', hidden: true },
      icon('screen'),
      h('span', {}, 'You are sharing your screen'),
      h(
        'button',
        { type: 'button', class: 'button small', 'data-testid': 'stop-share', onclick: () => actions.toggleScreen() },
        'Stop sharing',
      ),
    );
    this.presentationVideo = h('video', { autoplay: true, playsinline: true });
    this.presentationVideo.muted = true;
    this.presentationLabel = h('span', { class: 'presentation-label', 'data-testid': 'presentation-label' });
    this.presentation = h(
      'section',
      { class: 'presentation', 'data-testid': 'presentation', 'aria-label': 'Shared screen', hidden: true },
      this.presentationVideo,
      this.presentationLabel,
    );
    this.spotlight = h('section', {
      class: 'spotlight',
      'data-testid': 'spotlight',
      'aria-label': 'Active speaker',
      hidden: true,
    });
    this.layoutButton = h('button', {
      type: 'button',
      class: 'people layout-toggle',
      'data-testid': 'layout-toggle',
      onclick: () => this.setLayout(this.mode === 'grid' ? 'speaker' : 'grid'),
    });
    const leaveButton = h(
      'button',
      {
        type: 'button',
        class: 'control leave',
        'data-testid': 'leave',
        'aria-label': 'Leave meeting',
        onclick: () => actions.leave(),
      },
      icon('leave'),
      h('span', { class: 'control-label' }, 'Leave'),
    );

    this.panel = new SecurityPanel((pid, verified) => actions.verify(pid, verified));
    this.people = new PeoplePanel(host);
    this.chat = new ChatPanel({ send: (text, ttl) => actions.sendChat(text, ttl) }, () => {
      this.people.toggle(false);
      this.panel.close();
      this.chat.toggle();
    });
    this.indicator = new SecurityIndicator(() => {
      this.people.toggle(false);
      this.chat.toggle(false);
      this.panel.toggle();
      if (this.panel.open) {
        this.indicator.acknowledge();
        this.codeChanged = false;
      }
    });
    const peopleButton = h(
      'button',
      {
        type: 'button',
        class: 'people',
        title: 'People',
        'data-testid': 'people-button',
        'aria-label': 'People',
        onclick: () => {
          if (this.panel.open) this.panel.toggle();
          this.chat.toggle(false);
          this.people.toggle();
        },
      },
      icon('people'),
      this.count,
    );
    this.element = h(
      'main',
      { class: 'screen call', 'data-screen': 'call' },
      h(
        'header',
        { class: 'topbar' },
        h('span', { class: 'logo', 'aria-hidden': 'true' }),
        h('h1', { class: 'room-title', 'data-testid': 'room-name' }, room),
        this.layoutButton,
        peopleButton,
        this.chat.button,
        this.indicator.element,
      ),
      this.banner,
      h(
        'div',
        { class: 'stage' },
        this.presentation,
        this.spotlight,
        this.grid,
        this.status,
        this.panel.element,
        this.people.element,
        this.chat.element,
      ),
      h(
        'footer',
        { class: 'controls', role: 'toolbar', 'aria-label': 'Meeting controls' },
        this.micButton,
        this.camButton,
        this.shareButton,
        leaveButton,
      ),
    );

    this.resize = new ResizeObserver(() => this.layout());
    this.resize.observe(this.grid);
    this.setControls(true, true);
    this.setLayout('grid');
  }

  /** Switches between the grid and speaker view. */
  setLayout(mode: Layout): void {
    this.mode = mode;
    const speaker = mode === 'speaker';
    this.layoutButton.replaceChildren(icon(speaker ? 'gridView' : 'speakerView'));
    // The button names what it switches to; aria-pressed says speaker view is on.
    const label = speaker ? 'Switch to grid view' : 'Switch to speaker view';
    this.layoutButton.setAttribute('aria-label', label);
    this.layoutButton.title = label;
    this.layoutButton.setAttribute('aria-pressed', String(speaker));
    this.layout();
  }

  /** The participant speaker view shows large (the active speaker; see speaker.ts). */
  setFeatured(participantId: string | null): void {
    if (participantId === this.featuredId) return;
    this.featuredId = participantId;
    this.layout();
  }

  /** Each tile's connection quality; tiles missing from `quality` show none. */
  setQuality(quality: Map<string, Assessment>): void {
    for (const [id, tile] of this.tiles) tile.setQuality(quality.get(id) ?? null);
  }

  /**
   * Shows the encryption state: header code (or what puts the call at risk), panel rows. Flags
   * a changed code, and says who joined or left the group (`changes`, e.g. "Ada joined", names
   * from inside the group).
   */
  setSecurity(snap: SecuritySnapshot, rows: PanelRow[], changes: string[], risk: string | null): void {
    const who = changes.length > 0 ? `${changes.join(', ')}. ` : '';
    if (this.indicator.update(snap.call, snap.code, risk)) {
      this.codeChanged = !this.panel.open;
      toast(`${who}The security code changed: compare the new code.`);
    } else if (who) {
      toast(who.trim());
    }
    this.panel.render(snap, rows, this.codeChanged);
  }

  setStatus(text: string | null): void {
    this.status.textContent = text ?? '';
    this.status.hidden = !text;
  }

  setControls(microphone: boolean, camera: boolean): void {
    this.micButton.replaceChildren(
      icon(microphone ? 'mic' : 'micOff'),
      h('span', { class: 'control-label' }, microphone ? 'Mute' : 'Unmute'),
    );
    this.micButton.setAttribute('aria-label', microphone ? 'Mute microphone' : 'Unmute microphone');
    this.micButton.setAttribute('aria-pressed', String(!microphone));
    this.micButton.classList.toggle('off', !microphone);
    this.camButton.replaceChildren(
      icon(camera ? 'camera' : 'cameraOff'),
      h('span', { class: 'control-label' }, camera ? 'Stop video' : 'Start video'),
    );
    this.camButton.setAttribute('aria-label', camera ? 'Turn camera off' : 'Turn camera on');
    this.camButton.setAttribute('aria-pressed', String(!camera));
    this.camButton.classList.toggle('off', !camera);
  }

  /** Shows the share button when we may share, and the banner while we do. */
  setScreenControl(available: boolean, sharing: boolean): void {
    this.shareButton.hidden = !available && !sharing;
    this.shareButton.replaceChildren(
      icon('screen'),
      h('span', { class: 'control-label' }, sharing ? 'Stop sharing' : 'Share screen'),
    );
    this.shareButton.setAttribute('aria-pressed', String(sharing));
    this.shareButton.classList.toggle('active', sharing);
    this.banner.hidden = !sharing;
  }

  /** Shows a shared screen large, with the camera tiles beside it; null returns to the grid. */
  setPresentation(p: Presentation | null): void {
    const track = p?.track ?? null;
    const current = (this.presentationVideo.srcObject as MediaStream | null)?.getVideoTracks()[0] ?? null;
    if (current !== track) {
      this.presentationVideo.srcObject = track ? new MediaStream([track]) : null;
      if (track) this.play(this.presentationVideo);
    }
    this.presentation.hidden = p === null;
    this.element.classList.toggle('presenting', p !== null);
    if (p) {
      this.presentation.dataset.participantId = p.participantId;
      this.presentation.classList.toggle('self', p.self);
      this.presentationLabel.textContent = p.label;
    } else {
      delete this.presentation.dataset.participantId;
    }
    this.layout();
  }

  /** Plays (or, with null, stops) the audio of `participantId`'s shared screen. */
  setScreenAudio(participantId: string, track: MediaStreamTrack | null): void {
    let audio = this.screenAudio.get(participantId);
    if (!track) {
      if (audio) audio.srcObject = null;
      audio?.remove();
      this.screenAudio.delete(participantId);
      return;
    }
    if (!audio) {
      audio = h('audio', { autoplay: true, 'data-testid': 'screen-audio', 'data-participant-id': participantId });
      this.screenAudio.set(participantId, audio);
      this.presentation.appendChild(audio);
    }
    audio.srcObject = new MediaStream([track]);
    this.play(audio);
  }

  /** Updates the chat panel and the unread count on its button. */
  setChat(view: ChatView): void {
    this.chat.render(view);
  }

  /** Updates the people panel. */
  setPeople(view: PeopleView): void {
    this.people.render(view);
  }

  /** Adds or updates a tile. The own tile comes first, the others in joining order. */
  upsert(participantId: string, self: boolean, state: TileState): Tile {
    let tile = this.tiles.get(participantId);
    if (tile) {
      tile.update(state);
      return tile;
    }
    tile = new Tile(participantId, self, state, () => this.playbackBlocked());
    tile.element.setAttribute('role', 'listitem');
    this.tiles.set(participantId, tile);
    if (self) this.grid.prepend(tile.element);
    else this.grid.append(tile.element);
    for (const track of this.pending.get(participantId) ?? []) this.attach(tile, track);
    this.pending.delete(participantId);
    this.layout();
    return tile;
  }

  /** Renames the own tile once the server said who we are (the id was a placeholder). */
  rekey(oldId: string, newId: string): void {
    const tile = this.tiles.get(oldId);
    if (!tile || oldId === newId) return;
    this.tiles.delete(oldId);
    tile.element.dataset.participantId = newId;
    this.tiles.set(newId, tile);
  }

  remove(participantId: string): void {
    this.tiles.get(participantId)?.dispose();
    this.tiles.delete(participantId);
    this.pending.delete(participantId);
    this.layout();
  }

  get(participantId: string): Tile | undefined {
    return this.tiles.get(participantId);
  }

  /**
   * How high `track` is shown, in device pixels: 0 when no visible video element of this call
   * plays it (a hidden tile, a camera turned off, a tile scrolled out of the strip).
   */
  shownHeight(track: MediaStreamTrack): number {
    for (const video of this.element.querySelectorAll('video')) {
      const playing = (video.srcObject as MediaStream | null)?.getVideoTracks()[0];
      if (playing !== track) continue;
      if (!video.isConnected || video.offsetParent === null) return 0;
      const rect = video.getBoundingClientRect();
      const onScreen = rect.bottom > 0 && rect.right > 0 && rect.top < innerHeight && rect.left < innerWidth;
      return onScreen ? Math.round(rect.height * devicePixelRatio) : 0;
    }
    return 0;
  }

  /** Rings the tiles of the participants in `speaking`. */
  setSpeaking(speaking: Set<string>): void {
    for (const [id, tile] of this.tiles) tile.setSpeaking(speaking.has(id));
  }

  remoteTrack(participantId: string, track: MediaStreamTrack): void {
    const tile = this.tiles.get(participantId);
    if (tile) {
      this.attach(tile, track);
    } else {
      const set = this.pending.get(participantId) ?? new Set();
      set.add(track);
      this.pending.set(participantId, set);
    }
  }

  remoteTrackRemoved(participantId: string, track: MediaStreamTrack): void {
    this.pending.get(participantId)?.delete(track);
    const tile = this.tiles.get(participantId);
    if (!tile) return;
    if (track.kind === 'video') tile.clearVideoTrack(track);
    else tile.clearAudioTrack(track);
  }

  dispose(): void {
    this.resize.disconnect();
    this.indicator.dispose();
    this.presentationVideo.srcObject = null;
    for (const audio of this.screenAudio.values()) audio.srcObject = null;
    this.screenAudio.clear();
    for (const tile of this.tiles.values()) tile.dispose();
    this.tiles.clear();
    this.pending.clear();
  }

  private attach(tile: Tile, track: MediaStreamTrack): void {
    if (track.kind === 'video') tile.setVideoTrack(track);
    else tile.setAudioTrack(track);
  }

  /** Starts playback; autoplay refused asks for a click. */
  private play(media: HTMLMediaElement): void {
    media.play().catch((err: unknown) => {
      if (err instanceof DOMException && err.name === 'NotAllowedError') this.playbackBlocked();
    });
  }

  /** Autoplay was refused: ask for one click, then start every tile's playback. */
  private playbackBlocked(): void {
    if (this.blockedPlayback) return;
    this.blockedPlayback = true;
    const button = h('button', { type: 'button', class: 'button primary unblock' }, 'Turn on sound');
    const resume = (): void => {
      this.blockedPlayback = false;
      button.remove();
      for (const tile of this.tiles.values()) tile.resumePlayback();
      if (this.presentationVideo.srcObject) void this.presentationVideo.play().catch(() => {});
      for (const audio of this.screenAudio.values()) void audio.play().catch(() => {});
    };
    button.addEventListener('click', resume);
    this.element.querySelector('.stage')?.appendChild(button);
  }

  /**
   * Places the tiles: in speaker view (and nobody presenting) the featured tile moves to the
   * spotlight and the others form a strip; otherwise every tile is in the grid, own tile first.
   */
  private placeTiles(): void {
    const presenting = !this.presentation.hidden;
    const featured = this.featuredId !== null ? this.tiles.get(this.featuredId) : undefined;
    const spot = this.mode === 'speaker' && !presenting && featured && !featured.self ? featured : undefined;
    const speakerView = spot !== undefined;
    this.element.classList.toggle('speaker-view', speakerView);
    this.element.dataset.layout = presenting ? 'presentation' : this.mode;
    this.spotlight.hidden = !speakerView;
    const inSpot = this.spotlight.querySelector<HTMLElement>(':scope > .tile');
    if (inSpot && inSpot !== spot?.element) {
      // Back to the grid at its place: own tile first, then the others in joining order.
      const order = [...this.tiles.values()].sort((a, b) => Number(b.self) - Number(a.self));
      const after = order.slice(order.findIndex((t) => t.element === inSpot) + 1);
      const next = after.find((t) => t.element.parentElement === this.grid);
      this.grid.insertBefore(inSpot, next?.element ?? null);
      inSpot.classList.remove('featured');
    }
    if (spot && spot.element.parentElement !== this.spotlight) {
      this.spotlight.appendChild(spot.element);
      spot.element.classList.add('featured');
    }
  }

  private layout(): void {
    this.placeTiles();
    const count = this.tiles.size;
    this.count.textContent = String(count);
    const { width, height } = this.grid.getBoundingClientRect();
    if (count === 0 || width === 0 || height === 0) return;
    const { tileWidth } = bestColumns(count, width, height);
    this.grid.style.setProperty('--tile-width', `${Math.floor(tileWidth)}px`);
  }
}
