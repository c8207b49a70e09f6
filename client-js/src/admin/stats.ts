// The operator page's data: what `/admin/api/stats` answers (docs/metrics.md, "The dashboard")
// and how it becomes chart series, headline numbers and the worst-subscribers table. Pure: no
// DOM, no network, so tests/admin-units.test.mjs runs it in node.

export type Quality = 'good' | 'fair' | 'poor' | 'lost';
export const QUALITIES: readonly Quality[] = ['good', 'fair', 'poor', 'lost'];

/** One sample: the node's state at `time` (ms since the Unix epoch), rates over the interval before. */
export interface Sample {
  time: number;
  rooms: number;
  participants: number;
  lobby: number;
  quality: Record<Quality, number>;
  /** Null when nothing was forwarded over the interval (the server sends null for the whole). */
  forwarding_delay_ms: { p50: number | null; p90: number | null; p99: number | null };
  bits_in_per_second: number;
  bits_out_per_second: number;
  packets_out_per_second: number;
  cpu_cores: number;
  memory_bytes: number;
}

export interface WorstSubscriber {
  session: number;
  /** Share of packets lost, 0..1; null (as rtt_ms) while the connection has not measured it. */
  loss: number | null;
  rtt_ms: number | null;
}

export interface Stats {
  interval_ms: number;
  samples: Sample[];
  worst_subscribers: WorstSubscriber[];
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const finite = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const count = (v: unknown): number => Math.max(0, finite(v) ?? 0);

/**
 * Reads the API's answer. Throws on anything that is not the documented shape at the top (an
 * HTML error page, say); inside a sample, a missing or non-numeric figure reads as 0 (a
 * percentile as null), so one odd field does not blank the page. Samples are kept oldest first.
 */
export function parseStats(value: unknown): Stats {
  if (!isObject(value) || !Array.isArray(value.samples)) {
    throw new Error('not a stats answer: no "samples" list');
  }
  const samples: Sample[] = [];
  for (const s of value.samples) {
    if (!isObject(s)) continue;
    const time = finite(s.time);
    if (time === null) continue;
    const q = isObject(s.quality) ? s.quality : {};
    const d = isObject(s.forwarding_delay_ms) ? s.forwarding_delay_ms : {};
    samples.push({
      time,
      rooms: count(s.rooms),
      participants: count(s.participants),
      lobby: count(s.lobby),
      quality: { good: count(q.good), fair: count(q.fair), poor: count(q.poor), lost: count(q.lost) },
      forwarding_delay_ms: { p50: finite(d.p50), p90: finite(d.p90), p99: finite(d.p99) },
      bits_in_per_second: count(s.bits_in_per_second),
      bits_out_per_second: count(s.bits_out_per_second),
      packets_out_per_second: count(s.packets_out_per_second),
      cpu_cores: count(s.cpu_cores),
      memory_bytes: count(s.memory_bytes),
    });
  }
  samples.sort((a, b) => a.time - b.time);
  const worst: WorstSubscriber[] = [];
  for (const w of Array.isArray(value.worst_subscribers) ? value.worst_subscribers : []) {
    if (!isObject(w)) continue;
    const session = finite(w.session);
    if (session === null) continue;
    const loss = finite(w.loss);
    worst.push({ session, loss: loss === null ? null : Math.max(0, loss), rtt_ms: finite(w.rtt_ms) });
  }
  return { interval_ms: finite(value.interval_ms) ?? 2000, samples, worst_subscribers: worst };
}

/** One chart's data in uPlot's layout: x (seconds since the epoch) first, then one array per series. */
export type Columns = [number[], ...(number | null)[][]];

/** The series of every panel, in the order the panels draw them. */
export interface PanelData {
  /** Rooms, participants, lobby. */
  people: Columns;
  /** Good, fair, poor, lost. */
  quality: Columns;
  /** p50, p90, p99 (ms). */
  delay: Columns;
  /** In, out (bits/s). */
  bandwidth: Columns;
  /** Cores. */
  cpu: Columns;
  /** MiB. */
  memory: Columns;
}

export const MIB = 1024 * 1024;

/** Every panel's series from the samples. */
export function panelData(stats: Stats): PanelData {
  const s = stats.samples;
  const x = s.map((v) => v.time / 1000);
  const col = (f: (v: Sample) => number | null): (number | null)[] => s.map(f);
  return {
    people: [x, col((v) => v.rooms), col((v) => v.participants), col((v) => v.lobby)],
    quality: [x, ...QUALITIES.map((q) => col((v) => v.quality[q]))],
    delay: [
      x,
      col((v) => v.forwarding_delay_ms.p50),
      col((v) => v.forwarding_delay_ms.p90),
      col((v) => v.forwarding_delay_ms.p99),
    ],
    bandwidth: [x, col((v) => v.bits_in_per_second), col((v) => v.bits_out_per_second)],
    cpu: [x, col((v) => v.cpu_cores)],
    memory: [x, col((v) => v.memory_bytes / MIB)],
  };
}

/** The numbers at the top of the page: the latest sample's, or null before the first. */
export interface Headline {
  rooms: number;
  participants: number;
  lobby: number;
  packetsOutPerSecond: number;
  quality: Record<Quality, number>;
  /** When the latest sample was taken (ms since the epoch). */
  time: number;
}

export function headline(stats: Stats): Headline | null {
  const last = stats.samples.at(-1);
  if (!last) return null;
  return {
    rooms: last.rooms,
    participants: last.participants,
    lobby: last.lobby,
    packetsOutPerSecond: last.packets_out_per_second,
    quality: { ...last.quality },
    time: last.time,
  };
}

/** One row of the worst-subscribers table, as shown. */
export interface WorstRow {
  session: string;
  loss: string;
  rtt: string;
}

/**
 * The table's rows, worst first (the server's order: most loss, then longest round trip; kept
 * as sent, and re-sorted the same way should it come otherwise).
 */
export function worstRows(stats: Stats): WorstRow[] {
  return [...stats.worst_subscribers]
    .sort((a, b) => (b.loss ?? -1) - (a.loss ?? -1) || (b.rtt_ms ?? -1) - (a.rtt_ms ?? -1))
    .slice(0, 10)
    .map((w) => ({
      session: `#${w.session}`,
      loss: w.loss === null ? '–' : formatPercent(w.loss),
      rtt: w.rtt_ms === null ? '–' : `${formatNumber(w.rtt_ms)} ms`,
    }));
}

/** 0.0412 → "4.1 %"; under 10 % one decimal, above whole. */
export function formatPercent(ratio: number): string {
  const p = ratio * 100;
  return `${p < 10 ? p.toFixed(1) : Math.round(p)} %`;
}

/** Two significant decimals for small numbers, none for large ones: 0.213 → "0.21", 1234.5 → "1,235". */
export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return '–';
  const abs = Math.abs(v);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : 2;
  return v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

/** Bits per second with a unit: 21000000 → "21 Mbit/s". */
export function formatBits(bps: number | null): string {
  if (bps === null || !Number.isFinite(bps)) return '–';
  const units = ['bit/s', 'kbit/s', 'Mbit/s', 'Gbit/s', 'Tbit/s'];
  let v = bps;
  let i = 0;
  while (Math.abs(v) >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${formatNumber(v)} ${units[i]}`;
}
