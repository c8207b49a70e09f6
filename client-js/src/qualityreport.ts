// The connection-quality report this client sends the server every 10 s (docs/metrics.md,
// "Connection quality"): the worst score it computed over the period and the frames it could
// not decrypt since its last report. Nothing else leaves the browser: no per-track figure, no
// participant, no name.
//
// Three parts, kept apart: gathering (`QualityPeriod` collects the scores callstats.ts computes;
// `FailureTally` follows the E2EE worker's counters), deciding (`decideReport`; all of this is
// pure and unit-tested in tests/quality-units.test.mjs) and sending (meeting.ts, over
// signaling).

import type { ReceiverStats } from './e2ee/protocol';
import type { Quality } from './quality';

/** How often a report goes out. */
export const REPORT_INTERVAL_MS = 10_000;

const RANK: Record<Quality, number> = { good: 0, fair: 1, poor: 2, lost: 3 };

/** What one report says (the `quality_report` message without its type). */
export interface QualityReport {
  quality: Quality;
  decrypt_failures: number;
}

/** The scores computed since the last report; `take` empties it. */
export class QualityPeriod {
  private worst: Quality | null = null;

  /** One reading's scores (every participant's link as seen here, ourselves included). */
  add(scores: Iterable<Quality>): void {
    for (const q of scores) if (this.worst === null || RANK[q] > RANK[this.worst]) this.worst = q;
  }

  /** The worst score since the last `take`, or null if nothing was scored. */
  take(): Quality | null {
    const worst = this.worst;
    this.worst = null;
    return worst;
  }
}

/**
 * Decryption failures per receiver (by the worker's receiver id), all kinds summed. The worker
 * counts each receiver's failures since it was attached.
 */
export function failureCounts(receivers: readonly ReceiverStats[]): Map<number, number> {
  const out = new Map<number, number>();
  for (const r of receivers) {
    let n = 0;
    for (const v of Object.values(r.failures)) if (Number.isFinite(v) && v > 0) n += v;
    out.set(r.id, (out.get(r.id) ?? 0) + n);
  }
  return out;
}

/**
 * Failures since `previous`: per receiver, what its count grew by; a receiver new since then
 * counts in full, and a count that went down (a receiver id reused) counts from zero.
 */
export function failuresSince(previous: ReadonlyMap<number, number>, current: ReadonlyMap<number, number>): number {
  let total = 0;
  for (const [id, n] of current) {
    const before = previous.get(id) ?? 0;
    total += n >= before ? n - before : n;
  }
  return total;
}

/**
 * Decryption failures not yet reported. Fed every worker report (about once a second), so that
 * the failures of a receiver that goes away between two quality reports still count.
 */
export class FailureTally {
  private counts: ReadonlyMap<number, number> = new Map();
  private pending = 0;

  observe(receivers: readonly ReceiverStats[]): void {
    const current = failureCounts(receivers);
    this.pending += failuresSince(this.counts, current);
    this.counts = current;
  }

  /** Failures since the last `take`. */
  take(): number {
    const n = this.pending;
    this.pending = 0;
    return n;
  }

  /** Failures since the last `take`, leaving them pending. */
  peek(): number {
    return this.pending;
  }
}

/**
 * The report for one period from its worst score and the failures since the last report; null
 * when nothing was scored (before media flowed, say): then nothing goes out, and the failures
 * wait for the next report.
 */
export function decideReport(worst: Quality | null, decryptFailures: number): QualityReport | null {
  if (worst === null) return null;
  return { quality: worst, decrypt_failures: Math.max(0, Math.round(decryptFailures)) };
}
