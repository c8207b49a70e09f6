// Connection quality as this browser sees it, from its own WebRTC statistics: for another
// participant, from what we receive of their tracks (inbound-rtp) and our path to the SFU
// (candidate pair); for ourselves, from what the SFU reports receiving of ours
// (remote-inbound-rtp) and the same path. Nothing here is sent anywhere, and nothing here
// touches the DOM or the network: `QualityMeter` takes getStats entries and a clock reading, so
// it is unit-tested in node (tests/units.test.mjs).
//
// The thresholds follow what LiveKit's connection quality and the E-model (ITU-T G.107) it
// builds on treat as noticeable: below about 2 % packet loss and 300 ms of delay a call sounds
// and looks fine; up to about 8 % loss (Opus FEC and NACK hide much of it) and 600 ms it
// degrades but works; beyond that speech breaks up and video stalls. Delay is the round trip
// plus twice the audio jitter, the part a jitter buffer adds, as LiveKit's "effective latency".

export type Quality = 'good' | 'fair' | 'poor' | 'lost';

/** A quality and, unless good, the measurement that made it so ("6 % packets lost"). */
export interface Assessment {
  quality: Quality;
  reason: string | null;
}

/** Fractions of packets lost over the last interval. */
export const LOSS_FAIR = 0.02;
export const LOSS_POOR = 0.08;
/**
 * Delay (ms): the round trip to the SFU (a remote participant's own path is not visible to us)
 * plus twice the interarrival jitter (RFC 3550 §6.4.1) of audio. Audio only: the packets of one
 * video frame leave in a burst with one timestamp, so video jitter runs at 30-50 ms on a clean
 * loopback link and says little about what a person sees.
 */
export const DELAY_FAIR_MS = 300;
export const DELAY_POOR_MS = 600;
/** Decoded frame rate as a share of the rate the stream has recently shown it can deliver. */
export const FPS_FAIR_RATIO = 0.5;
export const FPS_POOR_RATIO = 0.25;
/** Below this recent best frame rate, frame rates say nothing (a still screen, a slow sender). */
export const FPS_MIN_EXPECTED = 5;
/**
 * Share of the last few intervals (`FREEZE_WINDOW`, ~5 s) spent frozen, as the browser counts
 * freezes (a frame late by 3× the average interval or 150 ms more): from `FROZEN_FAIR_SHARE` on
 * fair, from `FROZEN_POOR_SHARE` poor. Over a window rather than one interval, so that a single
 * hiccup (one freeze is at least ~200 ms, an eighth of an interval) does not flip the tile.
 */
export const FROZEN_FAIR_SHARE = 0.05;
export const FROZEN_POOR_SHARE = 0.25;
export const FREEZE_WINDOW = 3;
/** A track that should be flowing and has received no packet for this long is lost. */
export const STALL_LOST_MS = 2_000;
/** Packets needed in an interval before its loss fraction counts (a few packets say little). */
export const MIN_PACKETS_FOR_LOSS = 20;

/** One interval's measurements of one link; absent fields were not measured. */
export interface LinkSample {
  /** Packets lost over the interval, 0..1. */
  loss?: number | undefined;
  rttMs?: number | undefined;
  jitterMs?: number | undefined;
  /** Frames decoded per second over the interval, and the best rate seen recently. */
  fps?: number | undefined;
  expectedFps?: number | undefined;
  /** Freezes over the last few intervals, and the share of that time spent frozen (0..1). */
  freezes?: number | undefined;
  frozenShare?: number | undefined;
  /** How long those intervals were (s), for the reason shown. */
  freezeWindowSecs?: number | undefined;
  /** How long a track that should be flowing has received nothing (ms). */
  stalledMs?: number | undefined;
}

const RANK: Record<Quality, number> = { good: 0, fair: 1, poor: 2, lost: 3 };

/** The worse of two assessments (the first wins ties, so its reason stays). */
export function worse(a: Assessment, b: Assessment): Assessment {
  return RANK[b.quality] > RANK[a.quality] ? b : a;
}

const pct = (x: number): string => `${Math.round(x * 100)} % packets lost`;

/** Scores one link over one interval: the worst of its measurements. */
export function scoreLink(s: LinkSample): Assessment {
  if (s.stalledMs !== undefined && s.stalledMs >= STALL_LOST_MS) {
    return { quality: 'lost', reason: `nothing received for ${Math.round(s.stalledMs / 1000)} s` };
  }
  let out: Assessment = { quality: 'good', reason: null };
  const grade = (value: number | undefined, fair: number, poor: number, reason: (v: number) => string): void => {
    if (value === undefined || !Number.isFinite(value)) return;
    if (value >= poor) out = worse(out, { quality: 'poor', reason: reason(value) });
    else if (value >= fair) out = worse(out, { quality: 'fair', reason: reason(value) });
  };
  grade(s.loss, LOSS_FAIR, LOSS_POOR, pct);
  if (s.rttMs !== undefined || s.jitterMs !== undefined) {
    const rtt = s.rttMs ?? 0;
    const jitter = s.jitterMs ?? 0;
    grade(rtt + 2 * jitter, DELAY_FAIR_MS, DELAY_POOR_MS, () =>
      [s.rttMs !== undefined ? `${Math.round(rtt)} ms round trip` : '', jitter >= 1 ? `${Math.round(jitter)} ms jitter` : '']
        .filter(Boolean)
        .join(', '),
    );
  }
  if (s.fps !== undefined && s.expectedFps !== undefined && s.expectedFps >= FPS_MIN_EXPECTED) {
    const ratio = s.fps / s.expectedFps;
    const reason = `${Math.round(s.fps)} of ${Math.round(s.expectedFps)} frames per second`;
    if (ratio < FPS_POOR_RATIO) out = worse(out, { quality: 'poor', reason });
    else if (ratio < FPS_FAIR_RATIO) out = worse(out, { quality: 'fair', reason });
  }
  if (s.frozenShare !== undefined && s.frozenShare >= FROZEN_FAIR_SHARE) {
    const n = s.freezes ?? 0;
    const reason =
      `video froze${n > 1 ? ` ${n} times` : ''}` +
      (s.freezeWindowSecs !== undefined ? ` in ${Math.round(s.freezeWindowSecs)} s` : '');
    out = worse(out, { quality: s.frozenShare >= FROZEN_POOR_SHARE ? 'poor' : 'fair', reason });
  }
  return out;
}

/** A getStats entry: the fields read here, all optional. */
export type StatsEntry = Record<string, unknown> & { id?: string; type?: string };

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** Round-trip time (ms) of the candidate pair in use, if the browser measured one. */
export function pathRttMs(stats: readonly StatsEntry[]): number | undefined {
  const transport = stats.find((s) => s.type === 'transport' && typeof s.selectedCandidatePairId === 'string');
  const pair =
    stats.find((s) => s.type === 'candidate-pair' && transport && s.id === transport.selectedCandidatePairId) ??
    stats.find((s) => s.type === 'candidate-pair' && s.nominated === true && s.state === 'succeeded');
  const rtt = num(pair?.currentRoundTripTime);
  return rtt === undefined ? undefined : rtt * 1000;
}

/**
 * Our own sending, as the SFU reports receiving it (remote-inbound-rtp, from its RTCP receiver
 * reports), and our path to it. `connected` is false while the connection is down: lost.
 */
export function sendQuality(stats: readonly StatsEntry[], connected: boolean): Assessment {
  if (!connected) return { quality: 'lost', reason: 'not connected to the server' };
  let out = scoreLink({ rttMs: pathRttMs(stats) });
  for (const s of stats) {
    if (s.type !== 'remote-inbound-rtp') continue;
    const rtt = num(s.roundTripTime);
    const jitter = s.kind === 'audio' ? num(s.jitter) : undefined;
    out = worse(
      out,
      scoreLink({
        loss: num(s.fractionLost),
        rttMs: rtt === undefined ? undefined : rtt * 1000,
        jitterMs: jitter === undefined ? undefined : jitter * 1000,
      }),
    );
  }
  return out;
}

/** Whose a received track is, and whether it should be flowing now (the sender has it on). */
export interface TrackOwner {
  owner: string;
  expected: boolean;
}

/** What one inbound stream looked like at the previous reading. */
interface Previous {
  owner: string;
  at: number;
  packetsReceived: number;
  packetsLost: number;
  framesDecoded: number;
  freezeCount: number;
  freezesSecs: number;
  /** When the packet count last grew. */
  lastPacketAt: number;
  /** Recent frame rates, newest last (the best of them is what the stream can deliver). */
  fpsHistory: number[];
  /** The last few intervals: their length (s), freezes and time frozen (s). */
  freezeHistory: { secs: number; freezes: number; frozen: number }[];
}

/** Readings of frame rate kept to judge what a stream can deliver (~15 s at 1.6 s a reading). */
const FPS_HISTORY = 10;

/**
 * Turns successive getStats readings into a quality per remote participant. Keeps, per inbound
 * stream, the previous reading, so that loss and frame rate are measured over the last interval
 * (freezes over the last few) rather than since the call began.
 */
export class QualityMeter {
  private readonly previous = new Map<string, Previous>();

  /**
   * One reading at `now` (ms). `ownerOf` names the participant behind a track id, or undefined
   * for tracks of no one we know (those are ignored). Returns an assessment for every
   * participant with a stream in the reading.
   */
  update(
    now: number,
    stats: readonly StatsEntry[],
    ownerOf: (trackId: string) => TrackOwner | undefined,
  ): Map<string, Assessment> {
    const rttMs = pathRttMs(stats);
    const out = new Map<string, Assessment>();
    const seen = new Set<string>();
    for (const s of stats) {
      if (s.type !== 'inbound-rtp' || typeof s.id !== 'string' || typeof s.trackIdentifier !== 'string') continue;
      const who = ownerOf(s.trackIdentifier);
      if (!who) continue;
      seen.add(s.id);
      const cur = {
        packetsReceived: num(s.packetsReceived) ?? 0,
        packetsLost: Math.max(0, num(s.packetsLost) ?? 0),
        framesDecoded: num(s.framesDecoded) ?? 0,
        freezeCount: num(s.freezeCount) ?? 0,
        freezesSecs: num(s.totalFreezesDuration) ?? 0,
      };
      let prev = this.previous.get(s.id);
      // A stream the SFU handed to someone else starts over.
      if (prev && prev.owner !== who.owner) prev = undefined;
      const sample: LinkSample = { rttMs };
      const jitter = num(s.jitter);
      if (jitter !== undefined && s.kind === 'audio') sample.jitterMs = jitter * 1000;
      let lastPacketAt = now;
      let fpsHistory: number[] = [];
      let freezeHistory: Previous['freezeHistory'] = [];
      if (prev) {
        const received = cur.packetsReceived - prev.packetsReceived;
        const lost = Math.max(0, cur.packetsLost - prev.packetsLost);
        if (received + lost >= MIN_PACKETS_FOR_LOSS) sample.loss = lost / (received + lost);
        lastPacketAt = received > 0 ? now : prev.lastPacketAt;
        if (who.expected) sample.stalledMs = now - lastPacketAt;
        const secs = (now - prev.at) / 1000;
        fpsHistory = prev.fpsHistory;
        freezeHistory = prev.freezeHistory;
        // Frame rates count while packets come: a stall is judged by `stalledMs`, and a
        // sender that turned its camera off sends no frames, which is not a slow stream.
        if (s.kind === 'video' && secs > 0 && received > 0) {
          const fps = Math.max(0, cur.framesDecoded - prev.framesDecoded) / secs;
          // The best recent rate, before this reading: what the stream showed it can do.
          sample.expectedFps = fpsHistory.length > 0 ? Math.max(...fpsHistory) : undefined;
          sample.fps = fps;
          fpsHistory = [...fpsHistory, fps].slice(-FPS_HISTORY);
          freezeHistory = [
            ...freezeHistory,
            {
              secs,
              freezes: Math.max(0, cur.freezeCount - prev.freezeCount),
              frozen: Math.max(0, cur.freezesSecs - prev.freezesSecs),
            },
          ].slice(-FREEZE_WINDOW);
          const window = freezeHistory.reduce((sum, f) => sum + f.secs, 0);
          sample.freezes = freezeHistory.reduce((sum, f) => sum + f.freezes, 0);
          sample.frozenShare = Math.min(1, freezeHistory.reduce((sum, f) => sum + f.frozen, 0) / window);
          sample.freezeWindowSecs = window;
        }
      }
      this.previous.set(s.id, { owner: who.owner, at: now, ...cur, lastPacketAt, fpsHistory, freezeHistory });
      const score = scoreLink(sample);
      const before = out.get(who.owner);
      out.set(who.owner, before ? worse(before, score) : score);
    }
    for (const id of [...this.previous.keys()]) if (!seen.has(id)) this.previous.delete(id);
    return out;
  }
}
