// A microphone level meter for the pre-join screen, so people can see that they are heard.

export class LevelMeter {
  private ctx: AudioContext | null = null;
  private source: MediaStreamAudioSourceNode | null = null;
  private analyser: AnalyserNode | null = null;
  private frame = 0;
  private track: MediaStreamTrack | null = null;
  private readonly samples = new Float32Array(512);
  private readonly resume = (): void => void this.ctx?.resume();

  /** `bar` gets its `--level` custom property set between 0 and 1. */
  constructor(private readonly bar: HTMLElement) {
    // An AudioContext made before any click starts suspended; the first click wakes it.
    document.addEventListener('pointerdown', this.resume, { capture: true });
  }

  setTrack(track: MediaStreamTrack | null): void {
    this.source?.disconnect();
    this.source = null;
    this.track = track;
    if (!track || typeof AudioContext === 'undefined') {
      this.bar.style.setProperty('--level', '0');
      return;
    }
    if (!this.ctx) {
      this.ctx = new AudioContext();
      this.analyser = this.ctx.createAnalyser();
      this.analyser.fftSize = this.samples.length;
    }
    this.source = this.ctx.createMediaStreamSource(new MediaStream([track]));
    if (this.analyser) this.source.connect(this.analyser);
    if (!this.frame) this.frame = requestAnimationFrame(() => this.tick());
  }

  dispose(): void {
    cancelAnimationFrame(this.frame);
    this.frame = 0;
    document.removeEventListener('pointerdown', this.resume, { capture: true });
    this.source?.disconnect();
    void this.ctx?.close();
    this.ctx = null;
  }

  private tick(): void {
    this.frame = requestAnimationFrame(() => this.tick());
    if (!this.analyser) return;
    this.analyser.getFloatTimeDomainData(this.samples);
    let sum = 0;
    for (const s of this.samples) sum += s * s;
    const rms = Math.sqrt(sum / this.samples.length);
    // Speech sits around 0.02–0.2 RMS; a square root spreads that over the bar.
    const level = this.track?.enabled ? Math.min(1, Math.sqrt(rms * 4)) : 0;
    this.bar.style.setProperty('--level', level.toFixed(3));
  }
}
