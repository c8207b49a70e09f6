// What the user sees about end-to-end encryption, per participant and for the call: pure
// functions over the MLS member list, the risks the key-agreement session names, the worker's
// decryption counters and the user's "Mark verified" choices.
//
// States (DESIGN.md decision 6):
// - verified: a group member whose fingerprint the user marked verified, and whose frames
//   decrypt;
// - encrypted: a group member whose frames decrypt (or who sends nothing that fails);
// - decryption failing: frames keep failing for a while under keys outside the group (unknown
//   epoch, failed authentication) and none decrypts;
// - not encrypted: frames that are not SFrame at all arrive and none decrypts (a sender in the
//   clear), or E2EE is off;
// - not yet encrypted: not (yet) in our MLS group, or we are not in it yet ourselves; never
//   shown as encrypted. A sender outside the group whose frames fail stays here for
//   JOINING_GRACE_MS (it gets its keys by joining), then "decryption failing": it sends under
//   keys outside the group. If the group and the room keep disagreeing about it, the session
//   names it as a risk and the whole call is at risk.

import type { ReceiverStats } from './protocol';

export type SecurityState =
  | 'verified'
  | 'encrypted'
  | 'decryption-failing'
  | 'not-encrypted'
  | 'not-yet-encrypted';

export const STATE_LABEL: Record<SecurityState, string> = {
  verified: 'Verified',
  encrypted: 'Encrypted',
  'decryption-failing': 'Decryption failing',
  'not-encrypted': 'Not encrypted',
  'not-yet-encrypted': 'Not yet encrypted',
};

/** Failures must go on this long, with nothing decrypting, before a sender counts as failing. */
export const FAILING_AFTER_MS = 2_000;
/** A sender outside the group whose frames fail this long is failing, not still joining. */
export const JOINING_GRACE_MS = 10_000;
/** A failure older than this no longer counts. */
export const RECENT_MS = 3_000;
/** Clear frames needed (with none decrypting) to call a sender "not encrypted". */
export const PLAIN_FRAMES = 3;

/** What we have received from one participant, condensed. */
export interface ReceiveHistory {
  lastOkAt: number | null;
  lastFailAt: number | null;
  /** First failure since the last frame that decrypted. */
  failingSince: number | null;
  lastPlainAt: number | null;
  /** Frames that were not SFrame since the last frame that decrypted. */
  plainSinceOk: number;
  /** The kind of the latest failure. */
  lastFailure: string | null;
}

export function emptyHistory(): ReceiveHistory {
  return {
    lastOkAt: null,
    lastFailAt: null,
    failingSince: null,
    lastPlainAt: null,
    plainSinceOk: 0,
    lastFailure: null,
  };
}

/** Folds counter increments seen at `now` into a participant's history. */
export function foldCounts(
  h: ReceiveHistory,
  delta: { decrypted: number; failed: number; notEncrypted: number; lastFailure: string | null },
  now: number,
): void {
  if (delta.decrypted > 0) {
    h.lastOkAt = now;
    h.failingSince = null;
    h.plainSinceOk = 0;
    return;
  }
  if (delta.failed > 0) {
    h.lastFailAt = now;
    h.failingSince ??= now;
    h.lastFailure = delta.lastFailure;
  }
  if (delta.notEncrypted > 0) {
    h.lastPlainAt = now;
    h.plainSinceOk += delta.notEncrypted;
  }
}

/** The state of a remote participant. */
export function remoteState(input: {
  e2ee: boolean;
  /** Whether we are in the group ourselves (before that, nothing can decrypt). */
  selfInGroup?: boolean;
  member: boolean;
  verified: boolean;
  history: ReceiveHistory | undefined;
  now: number;
}): SecurityState {
  const { e2ee, member, verified, history: h, now } = input;
  if (!e2ee) return 'not-encrypted';
  if (h && h.plainSinceOk >= PLAIN_FRAMES && h.lastPlainAt !== null && now - h.lastPlainAt < RECENT_MS) {
    return 'not-encrypted';
  }
  const failing =
    !!h &&
    h.failingSince !== null &&
    h.lastFailAt !== null &&
    now - h.failingSince >= FAILING_AFTER_MS &&
    now - h.lastFailAt < RECENT_MS;
  if (input.selfInGroup === false) return 'not-yet-encrypted';
  if (!member) {
    const stuck = failing && h.failingSince !== null && now - h.failingSince >= JOINING_GRACE_MS;
    return stuck ? 'decryption-failing' : 'not-yet-encrypted';
  }
  if (failing) return 'decryption-failing';
  return verified ? 'verified' : 'encrypted';
}

/** Our own state: what we send. */
export function selfState(input: { e2ee: boolean; skipEncryption: boolean; inGroup: boolean }): SecurityState {
  if (!input.e2ee || input.skipEncryption) return 'not-encrypted';
  return input.inGroup ? 'encrypted' : 'not-yet-encrypted';
}

/** How the call as a whole is protected, for the header. */
export type CallSecurity = 'off' | 'pending' | 'secure' | 'verified' | 'at-risk';

/**
 * The call as a whole. `risks` counts what the key-agreement session names (the group and the
 * room disagree, or a group change was refused): any at all puts the call at risk.
 */
export function callSecurity(states: SecurityState[], e2ee: boolean, risks = 0): CallSecurity {
  if (!e2ee) return 'off';
  if (risks > 0) return 'at-risk';
  if (states.some((s) => s === 'not-encrypted' || s === 'decryption-failing')) return 'at-risk';
  if (states.some((s) => s === 'not-yet-encrypted')) return 'pending';
  const others = states.slice(1);
  return others.length > 0 && others.every((s) => s === 'verified') ? 'verified' : 'secure';
}

interface Counts {
  decrypted: number;
  failed: number;
  notEncrypted: number;
}

/** Turns the worker's cumulative receiver counters into per-participant histories. */
export class ReceiveTracker {
  private readonly previous = new Map<number, Counts & { participantId: string }>();
  readonly histories = new Map<string, ReceiveHistory>();

  update(receivers: ReceiverStats[], now: number): void {
    const deltas = new Map<string, Counts & { lastFailure: string | null }>();
    for (const r of receivers) {
      const failed = Object.values(r.failures).reduce((a, b) => a + b, 0);
      const notEncrypted = r.failures['not-encrypted'] ?? 0;
      let prev = this.previous.get(r.id);
      if (!prev || prev.participantId !== r.participantId) {
        prev = { participantId: r.participantId, decrypted: 0, failed: 0, notEncrypted: 0 };
      }
      const d = deltas.get(r.participantId) ?? { decrypted: 0, failed: 0, notEncrypted: 0, lastFailure: null };
      d.decrypted += Math.max(0, r.decrypted - prev.decrypted);
      const df = Math.max(0, failed - prev.failed);
      d.failed += df;
      d.notEncrypted += Math.max(0, notEncrypted - prev.notEncrypted);
      if (df > 0) d.lastFailure = r.lastFailure;
      deltas.set(r.participantId, d);
      this.previous.set(r.id, { participantId: r.participantId, decrypted: r.decrypted, failed, notEncrypted });
    }
    for (const [pid, d] of deltas) {
      let h = this.histories.get(pid);
      if (!h) {
        h = emptyHistory();
        this.histories.set(pid, h);
      }
      foldCounts(h, d, now);
    }
  }

  forget(participantId: string): void {
    this.histories.delete(participantId);
  }
}

/** "b88fb70031de993d" → "b88f b700 31de 993d", for reading aloud. */
export function groupFingerprint(fingerprint: string): string {
  return fingerprint.replace(/(.{4})(?=.)/g, '$1 ');
}
