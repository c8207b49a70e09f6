// The pre-join screen: camera preview, microphone and camera toggles, device choice, display
// name, and the "Join" button.

import type { LocalMedia } from '../devices';
import { avatarColor, h, initials } from './dom';
import { icon } from './icons';
import { LevelMeter } from './level';

export interface PrejoinOptions {
  room: string;
  /** Prefilled display name (from the token, or remembered from last time). */
  defaultName: string;
  /** A warning to show above the Join button, e.g. an expired link. */
  warning?: string;
  local: LocalMedia;
  onJoin(name: string): void;
}

export interface PrejoinScreen {
  element: HTMLElement;
  /** Stops the preview and meters; the local media itself stays open for the meeting. */
  dispose(): void;
}

export function prejoinScreen(opts: PrejoinOptions): PrejoinScreen {
  const { local } = opts;

  const video = h('video', { class: 'preview-video mirrored', autoplay: true, playsinline: true });
  video.muted = true;
  const avatar = h('div', { class: 'avatar', 'aria-hidden': 'true' });
  const levelBar = h('div', { class: 'level', 'aria-hidden': 'true' }, h('div', { class: 'level-fill' }));
  const meter = new LevelMeter(levelBar);

  const micButton = h('button', { type: 'button', class: 'round', 'data-testid': 'toggle-microphone' });
  const camButton = h('button', { type: 'button', class: 'round', 'data-testid': 'toggle-camera' });
  micButton.addEventListener('click', () => void local.toggleMicrophone());
  camButton.addEventListener('click', () => void local.toggleCamera());

  const nameInput = h('input', {
    id: 'display-name',
    type: 'text',
    autocomplete: 'name',
    maxlength: 64,
    placeholder: 'Your name',
    'data-testid': 'name-input',
    'data-autofocus': true,
  });
  nameInput.value = opts.defaultName;

  const micSelect = h('select', { id: 'microphone-select', 'data-testid': 'microphone-select' });
  const camSelect = h('select', { id: 'camera-select', 'data-testid': 'camera-select' });
  micSelect.addEventListener('change', () => void local.selectMicrophone(micSelect.value));
  camSelect.addEventListener('change', () => void local.selectCamera(camSelect.value));

  const problems = h('div', { class: 'problems', role: 'alert' });
  const joinButton = h(
    'button',
    { type: 'submit', class: 'button primary join', 'data-testid': 'join' },
    'Join',
  );

  const form = h(
    'form',
    { class: 'prejoin-form', 'aria-labelledby': 'prejoin-title' },
    h('h1', { id: 'prejoin-title' }, 'Ready to join?'),
    h('p', { class: 'room-line' }, 'Meeting ', h('strong', { 'data-testid': 'room-name' }, opts.room)),
    h('label', { for: 'display-name' }, 'Your name'),
    nameInput,
    h('label', { for: 'microphone-select' }, 'Microphone'),
    micSelect,
    h('label', { for: 'camera-select' }, 'Camera'),
    camSelect,
    opts.warning ? h('p', { class: 'warning', role: 'note' }, opts.warning) : null,
    problems,
    joinButton,
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    joinButton.disabled = true;
    opts.onJoin(nameInput.value.trim());
  });

  const element = h(
    'main',
    { class: 'screen prejoin', 'data-screen': 'prejoin' },
    h('header', { class: 'brand' }, h('span', { class: 'logo', 'aria-hidden': 'true' }), 'Veil'),
    h(
      'div',
      { class: 'prejoin-body' },
      h(
        'section',
        { class: 'preview', 'aria-label': 'Camera preview' },
        video,
        avatar,
        h('div', { class: 'preview-controls' }, micButton, camButton, levelBar),
      ),
      form,
    ),
  );

  const setOption = (
    select: HTMLSelectElement,
    devices: MediaDeviceInfo[],
    current: string | undefined,
    what: string,
  ): void => {
    select.replaceChildren(
      ...devices.map((d, i) => h('option', { value: d.deviceId }, d.label || `${what} ${i + 1}`)),
    );
    if (devices.length === 0)
      select.appendChild(h('option', { value: '' }, `No ${what.toLowerCase()} found`));
    if (current && devices.some((d) => d.deviceId === current)) select.value = current;
    select.disabled = devices.length === 0;
  };

  const refreshDevices = async (): Promise<void> => {
    const { microphones, cameras } = await local.listDevices();
    setOption(micSelect, microphones, local.currentDeviceId('microphone'), 'Microphone');
    setOption(camSelect, cameras, local.currentDeviceId('camera'), 'Camera');
  };

  const render = (): void => {
    const micOn = local.microphoneSwitch;
    const camOn = local.cameraSwitch;
    micButton.replaceChildren(icon(micOn ? 'mic' : 'micOff'));
    micButton.setAttribute('aria-label', micOn ? 'Turn microphone off' : 'Turn microphone on');
    micButton.setAttribute('aria-pressed', String(!micOn));
    micButton.classList.toggle('off', !micOn);
    camButton.replaceChildren(icon(camOn ? 'camera' : 'cameraOff'));
    camButton.setAttribute('aria-label', camOn ? 'Turn camera off' : 'Turn camera on');
    camButton.setAttribute('aria-pressed', String(!camOn));
    camButton.classList.toggle('off', !camOn);

    const track = local.videoTrack;
    if (track && video.srcObject instanceof MediaStream && video.srcObject.getVideoTracks()[0] === track) {
      // unchanged
    } else {
      video.srcObject = track ? new MediaStream([track]) : null;
    }
    element.classList.toggle('camera-off', !track);
    const name = nameInput.value.trim() || opts.defaultName || '?';
    avatar.textContent = initials(name);
    avatar.style.background = avatarColor(name);
    meter.setTrack(local.audioTrack);

    const msgs = [local.microphoneError, local.cameraError].filter((m): m is string => !!m);
    problems.replaceChildren(...msgs.map((m) => h('p', {}, m)));
    void refreshDevices();
  };

  nameInput.addEventListener('input', () => {
    const name = nameInput.value.trim() || '?';
    avatar.textContent = initials(name);
    avatar.style.background = avatarColor(name);
  });
  local.addEventListener('change', render);
  navigator.mediaDevices?.addEventListener?.('devicechange', refreshDevices);
  render();

  return {
    element,
    dispose() {
      local.removeEventListener('change', render);
      navigator.mediaDevices?.removeEventListener?.('devicechange', refreshDevices);
      meter.dispose();
      video.srcObject = null;
    },
  };
}
