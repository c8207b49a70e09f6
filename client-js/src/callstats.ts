// The call's one getStats poll. Every reading feeds speaker detection (often, so that the
// speaking ring follows the voice); every few readings also feed connection quality (slower,
// so that loss and frame rates are measured over intervals long enough to mean something).
// One poll rather than two: getStats walks every stream of the connection, and a call has many.

import { QualityMeter, sendQuality, type Assessment, type StatsEntry, type TrackOwner } from './quality';
import { speakingIn } from './speaking';

const POLL_MS = 400;
/** Quality is measured every this many polls (1.6 s). */
const QUALITY_EVERY = 4;

export interface CallStatsSink {
  /** Our own participant id (it changes once, from a placeholder, at `joined`). */
  selfId(): string;
  /**
   * The participant behind a received track and whether that track should be flowing, or
   * undefined for anyone this client does not know from the encrypted group.
   */
  ownerOf(trackId: string): TrackOwner | undefined;
  /** Who speaks, at every poll (`now` in ms, performance.now()). */
  speaking(speaking: Set<string>, now: number): void;
  /** Each participant's connection quality as seen here, ourselves included. */
  quality(quality: Map<string, Assessment>): void;
}

export function watchCallStats(pc: RTCPeerConnection, sink: CallStatsSink): () => void {
  let stopped = false;
  let busy = false;
  let polls = 0;
  const meter = new QualityMeter();
  const poll = async (): Promise<void> => {
    if (stopped || busy || pc.connectionState === 'closed') return;
    busy = true;
    try {
      const report = await pc.getStats().catch(() => null);
      if (stopped || !report) return;
      const stats: StatsEntry[] = [];
      report.forEach((s: StatsEntry) => stats.push(s));
      const now = performance.now();
      const selfId = sink.selfId();
      sink.speaking(speakingIn(stats, selfId, (id) => sink.ownerOf(id)?.owner), now);
      if (polls++ % QUALITY_EVERY !== 0) return;
      const quality = meter.update(now, stats, (id) => sink.ownerOf(id));
      const connected = pc.connectionState === 'connected' || pc.connectionState === 'new' || pc.connectionState === 'connecting';
      quality.set(selfId, sendQuality(stats, connected));
      sink.quality(quality);
    } finally {
      busy = false;
    }
  };
  const timer = window.setInterval(() => void poll(), POLL_MS);
  return () => {
    stopped = true;
    window.clearInterval(timer);
  };
}
