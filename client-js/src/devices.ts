// The local microphone, camera and screen share.
//
// A muted microphone keeps its track (disabled, so it sends silence and unmutes instantly); a
// camera that is switched off is stopped, so the camera light goes out, and opened again when it
// is switched back on. Whoever sends the tracks listens for `change` and swaps them in.

import './config'; // declares window.veilConfig

/** Capture settings; tests may lower them through `window.veilConfig` to spare the CPU. */
export interface CaptureConfig {
  video: MediaTrackConstraints;
  audio: MediaTrackConstraints;
  screen: MediaTrackConstraints;
}

function captureConfig(): CaptureConfig {
  return {
    video: window.veilConfig?.video ?? {
      width: { ideal: 1280 },
      height: { ideal: 720 },
      frameRate: { ideal: 30 },
    },
    audio: window.veilConfig?.audio ?? {
      echoCancellation: true,
      noiseSuppression: true,
      autoGainControl: true,
    },
    // Text and slides need sharpness more than motion: full resolution, few frames.
    screen: window.veilConfig?.screen ?? { frameRate: { ideal: 15, max: 30 } },
  };
}

/** What the user picked on the pre-join screen; carried over to a rejoin. */
export interface MediaPreferences {
  microphone: boolean;
  camera: boolean;
  microphoneId?: string;
  cameraId?: string;
}

export interface DeviceLists {
  microphones: MediaDeviceInfo[];
  cameras: MediaDeviceInfo[];
}

/** A readable reason for a getUserMedia failure. */
function describeError(err: unknown, what: 'microphone' | 'camera'): string {
  const name = err instanceof DOMException ? err.name : '';
  switch (name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return `The browser did not allow access to the ${what}. Check the site's permissions.`;
    case 'NotFoundError':
    case 'OverconstrainedError':
      return `No ${what} was found.`;
    case 'NotReadableError':
    case 'AbortError':
      return `The ${what} is in use by another program or could not be started.`;
    default:
      return `The ${what} could not be started.`;
  }
}

export class LocalMedia extends EventTarget {
  audioTrack: MediaStreamTrack | null = null;
  videoTrack: MediaStreamTrack | null = null;
  /** The shared screen, window or tab, while sharing. */
  screenTrack: MediaStreamTrack | null = null;
  /** The audio that comes with it, where the browser offers it. */
  screenAudioTrack: MediaStreamTrack | null = null;
  microphoneError: string | null = null;
  cameraError: string | null = null;
  private prefs: MediaPreferences;
  private stopped = false;

  constructor(prefs: MediaPreferences) {
    super();
    this.prefs = { ...prefs };
  }

  get preferences(): MediaPreferences {
    return { ...this.prefs };
  }

  get microphoneOn(): boolean {
    return this.prefs.microphone && this.audioTrack !== null;
  }

  get cameraOn(): boolean {
    return this.prefs.camera && this.videoTrack !== null;
  }

  /** Where the microphone toggle stands: on when wanted and working. */
  get microphoneSwitch(): boolean {
    return this.prefs.microphone && this.microphoneError === null;
  }

  /** Where the camera toggle stands: on when wanted and working. */
  get cameraSwitch(): boolean {
    return this.prefs.camera && this.cameraError === null;
  }

  get screenOn(): boolean {
    return this.screenTrack !== null;
  }

  /**
   * Asks the browser for a screen, window or tab to share (the browser's own picker). Returns
   * an error to show, or null once sharing (or when the person cancelled the picker).
   */
  async startScreen(): Promise<string | null> {
    if (this.screenTrack) return null;
    if (!navigator.mediaDevices?.getDisplayMedia) return 'This browser cannot share a screen.';
    let stream: MediaStream;
    try {
      stream = await navigator.mediaDevices.getDisplayMedia({ video: captureConfig().screen, audio: true });
    } catch (err) {
      // Closing the picker is a choice, not an error.
      if (err instanceof DOMException && err.name === 'NotAllowedError') return null;
      return 'The screen could not be shared.';
    }
    const video = stream.getVideoTracks()[0];
    if (!video || this.stopped) {
      for (const t of stream.getTracks()) t.stop();
      return null;
    }
    // Encoders keep resolution over frame rate for "detail" content: text stays readable.
    video.contentHint = 'detail';
    this.screenTrack = video;
    this.screenAudioTrack = stream.getAudioTracks()[0] ?? null;
    // The browser's own "Stop sharing" button ends the track.
    video.addEventListener('ended', () => {
      if (this.screenTrack === video) this.stopScreen();
    });
    this.changed();
    return null;
  }

  /** Stops sharing. */
  stopScreen(): void {
    if (!this.screenTrack && !this.screenAudioTrack) return;
    this.screenTrack?.stop();
    this.screenAudioTrack?.stop();
    this.screenTrack = null;
    this.screenAudioTrack = null;
    this.changed();
  }

  /** Flips the microphone toggle; switching on a failed device tries to open it again. */
  toggleMicrophone(): Promise<void> {
    return this.setMicrophone(!this.microphoneSwitch);
  }

  toggleCamera(): Promise<void> {
    return this.setCamera(!this.cameraSwitch);
  }

  /** Opens the devices the preferences ask for. Failures are recorded, not thrown. */
  async start(): Promise<void> {
    // The microphone is opened even when muted, so unmuting is instant and needs no prompt.
    await Promise.all([this.openMicrophone(), this.prefs.camera ? this.openCamera() : undefined]);
    this.changed();
  }

  async setMicrophone(on: boolean): Promise<void> {
    this.prefs.microphone = on;
    if (on && !this.audioTrack) await this.openMicrophone();
    if (this.audioTrack) this.audioTrack.enabled = on;
    this.changed();
  }

  async setCamera(on: boolean): Promise<void> {
    this.prefs.camera = on;
    if (on) {
      if (!this.videoTrack) await this.openCamera();
    } else {
      this.videoTrack?.stop();
      this.videoTrack = null;
    }
    this.changed();
  }

  async selectMicrophone(deviceId: string): Promise<void> {
    this.prefs.microphoneId = deviceId;
    const old = this.audioTrack;
    this.audioTrack = null;
    old?.stop();
    await this.openMicrophone();
    this.changed();
  }

  async selectCamera(deviceId: string): Promise<void> {
    this.prefs.cameraId = deviceId;
    if (!this.prefs.camera) return;
    const old = this.videoTrack;
    this.videoTrack = null;
    old?.stop();
    await this.openCamera();
    this.changed();
  }

  /** Lists microphones and cameras; labels are empty until the user granted access once. */
  async listDevices(): Promise<DeviceLists> {
    if (!navigator.mediaDevices?.enumerateDevices) return { microphones: [], cameras: [] };
    const all = await navigator.mediaDevices.enumerateDevices();
    return {
      microphones: all.filter((d) => d.kind === 'audioinput' && d.deviceId !== ''),
      cameras: all.filter((d) => d.kind === 'videoinput' && d.deviceId !== ''),
    };
  }

  /** The device id of the open track, or the preferred one. */
  currentDeviceId(kind: 'microphone' | 'camera'): string | undefined {
    const track = kind === 'microphone' ? this.audioTrack : this.videoTrack;
    return (
      track?.getSettings().deviceId ?? (kind === 'microphone' ? this.prefs.microphoneId : this.prefs.cameraId)
    );
  }

  /** Stops every track; the devices' lights go out. */
  stop(): void {
    this.stopped = true;
    this.audioTrack?.stop();
    this.videoTrack?.stop();
    this.screenTrack?.stop();
    this.screenAudioTrack?.stop();
    this.audioTrack = null;
    this.videoTrack = null;
    this.screenTrack = null;
    this.screenAudioTrack = null;
    this.changed();
  }

  private async openMicrophone(): Promise<void> {
    const constraints = { ...captureConfig().audio };
    if (this.prefs.microphoneId) constraints.deviceId = { exact: this.prefs.microphoneId };
    const track = await this.open('microphone', { audio: constraints });
    if (!track) return;
    track.enabled = this.prefs.microphone;
    this.audioTrack = track;
  }

  private async openCamera(): Promise<void> {
    const constraints = { ...captureConfig().video };
    if (this.prefs.cameraId) constraints.deviceId = { exact: this.prefs.cameraId };
    const track = await this.open('camera', { video: constraints });
    // Switched off (or left) while the camera was opening: close it again.
    if (track && (!this.prefs.camera || this.stopped)) {
      track.stop();
      return;
    }
    if (track) this.videoTrack = track;
  }

  private async open(
    what: 'microphone' | 'camera',
    constraints: MediaStreamConstraints,
  ): Promise<MediaStreamTrack | null> {
    const setError = (msg: string | null): void => {
      if (what === 'microphone') this.microphoneError = msg;
      else this.cameraError = msg;
    };
    if (!navigator.mediaDevices?.getUserMedia) {
      setError('This browser cannot use a microphone or camera here (an https page is needed).');
      return null;
    }
    try {
      let stream: MediaStream;
      try {
        stream = await navigator.mediaDevices.getUserMedia(constraints);
      } catch (err) {
        // A remembered device may be gone: fall back to the default one.
        const c = (what === 'microphone' ? constraints.audio : constraints.video) as MediaTrackConstraints;
        if (!(err instanceof DOMException && err.name === 'OverconstrainedError') || !c.deviceId) throw err;
        const { deviceId: _gone, ...rest } = c;
        stream = await navigator.mediaDevices.getUserMedia(
          what === 'microphone' ? { audio: rest } : { video: rest },
        );
      }
      const track = stream.getTracks()[0] ?? null;
      if (this.stopped) {
        track?.stop();
        return null;
      }
      setError(null);
      track?.addEventListener('ended', () => this.onTrackEnded(what, track));
      return track;
    } catch (err) {
      setError(describeError(err, what));
      return null;
    }
  }

  /** A device was unplugged or revoked. */
  private onTrackEnded(what: 'microphone' | 'camera', track: MediaStreamTrack): void {
    if (what === 'microphone' && this.audioTrack === track) this.audioTrack = null;
    else if (what === 'camera' && this.videoTrack === track) this.videoTrack = null;
    else return;
    if (what === 'microphone') this.microphoneError = 'The microphone stopped working.';
    else this.cameraError = 'The camera stopped working.';
    this.changed();
  }

  private changed(): void {
    this.dispatchEvent(new Event('change'));
  }
}
