// The client side of the MLS delivery-service protocol (docs/protocol.md, "End-to-end
// encryption: the MLS delivery service"), over the `WasmMember` of veil-e2ee.
//
// The server relays MLS messages as base64 strings it cannot read and keeps the first commit of
// each epoch. This class answers them:
//
// - `joined.e2ee.create_group` (or a later `mls_create_group`): create the group, naming the
//   server as external sender, and report `mls_joined {epoch: 0, leaf}`; otherwise send a key
//   package and wait for `mls_welcome`, join from it and report `mls_joined`.
// - `mls_add_request` naming us as committer: queue the key package and commit the queued adds
//   in one batch (skipping participants who are already members or in our in-flight commit).
// - `mls_proposal` (the server's Remove for someone who left): process it; if we are the named
//   committer, commit it and tell the server which leaves it removes.
// - `mls_commit_accepted`: merge our commit. `mls_stale_commit`: another commit won the epoch;
//   discard ours (the winner arrives, or arrived, as `mls_commit`) and commit again if still
//   needed. `mls_commit`: process another member's commit.
//
// - Display names: key packages (which the server reads) carry an anonymous credential; a member
//   who joined from a Welcome commits its named credential (`announceName`) right after, so the
//   name only ever travels encrypted inside the group.
//
// Every epoch change hands the new SFrame secret to `events.epoch`, which posts it to the
// encoded-transform worker.

import { WasmMember } from 'veil-e2ee';

import type { ClientMessage, E2eeSetup, ServerMessage } from '../signaling';
import { fromBase64, toBase64 } from './base64';

/** One group member, from its MLS credential (display names travel only here). */
export interface GroupMember {
  leaf: number;
  participantId: string;
  displayName: string;
  fingerprint: string;
}

/** The group as this member sees it in the current epoch. */
export interface EpochState {
  epoch: number;
  leaf: number;
  /** The epoch's verification code, the same for every member ("dddd dddd dddd"). */
  code: string;
  members: GroupMember[];
  /** Our own key fingerprint. */
  fingerprint: string;
}

export interface MlsEvents {
  send(msg: ClientMessage): void;
  /** We entered a new epoch; `secret` is its SFrame base key, for the worker only. */
  epoch(state: EpochState, secret: Uint8Array): void;
  /** A commit removed us from the group: no key works any more. */
  evicted(): void;
  /** Something went wrong with the group; the meeting goes on. */
  problem(message: string): void;
}

/**
 * After a commit that adds members, wait this long before the next commit, so that a burst of
 * joins (and the newcomers' own name commits) doesn't turn into a string of competing commits.
 * Correctness does not depend on it: the server relays every later commit to an added member.
 */
export const ADD_SETTLE_MS = 150;

function describe(err: unknown): string {
  const kind = (err as { kind?: unknown } | null)?.kind;
  const message = err instanceof Error ? err.message : String(err);
  return typeof kind === 'string' ? `${kind}: ${message}` : message;
}

function errorKind(err: unknown): string | undefined {
  const kind = (err as { kind?: unknown } | null)?.kind;
  return typeof kind === 'string' ? kind : undefined;
}

interface Bundle {
  commit: Uint8Array;
  welcome?: Uint8Array;
  epochBefore: number;
  /** The leaves the commit removes (Remove proposals it consumed). */
  removed?: number[];
}

type InFlight = { added: Map<string, Uint8Array>; removed: number[]; announce: boolean };

/** `announceName` of builds that have it (older veil-e2ee builds put the name in key packages). */
type Announcing = { announceName?: () => Bundle | undefined };

export class MlsSession {
  private member: WasmMember;
  private groupId: Uint8Array;
  private inGroup = false;
  private evicted = false;
  private closed = false;
  /** Key packages we were asked to add (we are the committer), by participant id. */
  private readonly queuedAdds = new Map<string, Uint8Array>();
  /** Leaves whose Remove proposal we queued in the current epoch. */
  private readonly pendingRemoves = new Set<number>();
  /** Whether the server named us committer of the current epoch's proposals. */
  private removeCommitter = false;
  /** Proposals already processed in the current epoch (the server may re-send them). */
  private readonly seenProposals = new Set<string>();
  private inFlight: InFlight | null = null;
  /** Commits we sent that the server has not answered yet (accepted or stale). */
  private unanswered = 0;
  private holdUntil = 0;
  private timer: number | undefined;
  /** The last epoch we reported with `mls_joined`. */
  private joinedEpoch: number | null = null;
  /** We joined from a Welcome and still have to commit our named credential. */
  private needsAnnounce = false;
  state: EpochState | null = null;

  constructor(
    private readonly selfId: string,
    displayName: string,
    private readonly setup: E2eeSetup,
    private readonly events: MlsEvents,
  ) {
    this.member = new WasmMember(selfId, displayName);
    this.groupId = fromBase64(setup.group_id);
  }

  /** Creates the group or asks to be added, as `joined.e2ee` says. */
  start(): void {
    if (this.setup.create_group) this.createGroup();
    else this.sendKeyPackage();
  }

  /** Handles an MLS message from the server; false if `msg` is not one. */
  handle(msg: ServerMessage): boolean {
    if (this.closed) return msg.type.startsWith('mls_');
    try {
      switch (msg.type) {
        case 'mls_create_group':
          this.groupId = fromBase64(msg.group_id);
          this.createGroup();
          return true;
        case 'mls_welcome':
          this.onWelcome(fromBase64(msg.welcome));
          return true;
        case 'mls_add_request':
          if (msg.committer === this.selfId && msg.participant_id !== this.selfId) {
            this.queuedAdds.set(msg.participant_id, fromBase64(msg.key_package));
            this.scheduleCommit();
          }
          return true;
        case 'mls_proposal':
          this.onProposal(msg.proposal, msg.epoch, msg.committer);
          return true;
        case 'mls_commit':
          this.onCommit(fromBase64(msg.commit), msg.epoch);
          return true;
        case 'mls_commit_accepted':
          this.onAccepted();
          return true;
        case 'error':
          if (msg.code === 'mls_stale_commit') {
            this.onStale(msg.message);
            return true;
          }
          if (msg.code === 'mls_not_member') {
            this.events.problem(`the server refused an MLS message: ${msg.message}`);
            return true;
          }
          return false;
        default:
          return false;
      }
    } catch (err) {
      this.events.problem(`MLS: ${describe(err)}`);
      return true;
    }
  }

  /** Members of the group (empty until we are in it). */
  members(): GroupMember[] {
    return this.state?.members ?? [];
  }

  close(): void {
    this.closed = true;
    window.clearTimeout(this.timer);
    this.member.free();
  }

  // ---- joining ----

  private createGroup(): void {
    const ext = this.setup.external_sender;
    this.member.createGroup(this.groupId, fromBase64(ext.signature_key), fromBase64(ext.identity));
    this.inGroup = true;
    this.enterEpoch();
    this.reportJoined();
  }

  private sendKeyPackage(): void {
    performance.mark('veil:mls-key-package');
    this.events.send({ type: 'mls_key_package', key_package: toBase64(this.member.keyPackage()) });
  }

  private onWelcome(welcome: Uint8Array): void {
    if (this.inGroup) {
      this.events.problem('MLS: ignoring a Welcome while already in the group');
      return;
    }
    this.member.joinFromWelcome(welcome);
    this.inGroup = true;
    this.enterEpoch();
    this.reportJoined();
    this.needsAnnounce = typeof (this.member as Announcing).announceName === 'function';
    if (this.needsAnnounce) {
      // Not at once: let a burst of adds settle first (see ADD_SETTLE_MS).
      this.holdUntil = performance.now() + ADD_SETTLE_MS;
      this.scheduleCommit();
    }
  }

  private reportJoined(): void {
    const epoch = this.member.epoch();
    this.joinedEpoch = epoch;
    this.events.send({ type: 'mls_joined', epoch, leaf: this.member.ownLeaf() });
  }

  // ---- incoming handshake ----

  private onProposal(proposal: string, epoch: number, committer: string): void {
    if (!this.inGroup || this.evicted) return;
    if (epoch !== this.member.epoch()) return; // stale; the server re-issues it for the new epoch
    if (!this.seenProposals.has(proposal)) {
      const result = this.member.processMessage(fromBase64(proposal)) as {
        type: string;
        removes?: number;
      };
      this.seenProposals.add(proposal);
      if (result.type === 'proposal-queued' && typeof result.removes === 'number') {
        this.pendingRemoves.add(result.removes);
      }
    }
    if (committer === this.selfId) {
      this.removeCommitter = true;
      this.scheduleCommit();
    }
  }

  private onCommit(commit: Uint8Array, epoch: number): void {
    if (!this.inGroup || this.evicted) return;
    if (epoch <= this.member.epoch()) return; // already there
    let result: { type: string; epoch?: number };
    try {
      result = this.member.processMessage(commit) as { type: string; epoch?: number };
    } catch (err) {
      if (errorKind(err) === 'wrong-epoch') {
        this.events.problem(
          `MLS: missed a commit (group at epoch ${this.member.epoch()}, commit for ${epoch}); ` +
            'this member can no longer follow the group',
        );
        return;
      }
      throw err;
    }
    if (result.type === 'evicted') {
      this.evicted = true;
      this.state = null;
      this.events.evicted();
      return;
    }
    if (result.type === 'epoch-changed') {
      // A commit that won over ours replaces it (openmls drops our staged commit on merge).
      this.requeueInFlight();
      this.enterEpoch();
      this.scheduleCommit();
    }
  }

  private onAccepted(): void {
    this.unanswered = Math.max(0, this.unanswered - 1);
    const inFlight = this.inFlight;
    if (!inFlight) return;
    this.inFlight = null;
    this.member.mergePendingCommit();
    if (inFlight.announce) this.needsAnnounce = false;
    if (inFlight.added.size > 0) this.holdUntil = performance.now() + ADD_SETTLE_MS;
    this.enterEpoch();
    this.scheduleCommit();
  }

  private onStale(message: string): void {
    if (this.unanswered > 0) {
      // Our commit lost to another one, which the server relayed to us first as `mls_commit`;
      // handling that dropped ours and re-queued its work. This error can arrive after we made
      // a newer commit, so it must not touch the pending one.
      this.unanswered--;
      return;
    }
    if (this.joinedEpoch !== null) {
      this.events.problem(`MLS: the server refused an MLS message (${message})`);
    }
  }

  /** Puts the adds of a commit that did not make it back in the queue. */
  private requeueInFlight(): void {
    if (!this.inFlight) return;
    for (const [pid, kp] of this.inFlight.added) if (!this.queuedAdds.has(pid)) this.queuedAdds.set(pid, kp);
    this.inFlight = null;
  }

  // ---- committing ----

  private scheduleCommit(): void {
    window.clearTimeout(this.timer);
    const wait = this.holdUntil - performance.now();
    if (wait > 0) {
      this.timer = window.setTimeout(() => this.scheduleCommit(), wait);
      return;
    }
    // Later in this task, so that a burst of requests becomes one commit.
    this.timer = window.setTimeout(() => {
      try {
        this.commit();
      } catch (err) {
        this.events.problem(`MLS commit: ${describe(err)}`);
      }
    }, 0);
  }

  private commit(): void {
    if (this.closed || !this.inGroup || this.evicted || this.inFlight || this.member.hasPendingCommit()) return;
    const members = new Set(this.member.members().map((m: GroupMember) => m.participantId));
    for (const pid of [...this.queuedAdds.keys()]) if (members.has(pid)) this.queuedAdds.delete(pid);
    let bundle: Bundle | undefined;
    const added = new Map<string, Uint8Array>();
    let announce = false;
    if (this.needsAnnounce) {
      // Our own name first: until then the others see only our participant id.
      bundle = (this.member as Announcing).announceName?.();
      announce = bundle !== undefined;
      if (!bundle) this.needsAnnounce = false;
    }
    if (!bundle && this.queuedAdds.size > 0) {
      // An add commit also commits every queued proposal (openmls consumes the proposal store).
      for (const [pid, kp] of this.queuedAdds) added.set(pid, kp);
      this.queuedAdds.clear();
      bundle = this.member.addMembers([...added.values()]) as Bundle;
    } else if (!bundle && this.pendingRemoves.size > 0 && this.removeCommitter) {
      bundle = this.member.commitPendingProposals() as Bundle | undefined;
    }
    if (!bundle) return;
    // Any commit also commits the queued Remove proposals (openmls consumes the proposal store);
    // builds without `removed` in the bundle: the proposals we queued this epoch.
    const removed = bundle.removed ?? [...this.pendingRemoves];
    this.inFlight = { added, removed, announce };
    this.unanswered++;
    this.events.send({
      type: 'mls_commit',
      epoch: bundle.epochBefore,
      commit: toBase64(bundle.commit),
      ...(bundle.welcome ? { welcome: toBase64(bundle.welcome) } : {}),
      added: [...added.keys()],
      removed,
    });
  }

  // ---- epochs ----

  private enterEpoch(): void {
    this.pendingRemoves.clear();
    this.seenProposals.clear();
    this.removeCommitter = false;
    const members = (this.member.members() as GroupMember[]).map((m) => ({
      leaf: m.leaf,
      participantId: m.participantId,
      displayName: m.displayName,
      fingerprint: m.fingerprint,
    }));
    this.state = {
      epoch: this.member.epoch(),
      leaf: this.member.ownLeaf(),
      code: this.member.verificationCode(),
      members,
      fingerprint: this.member.fingerprint(),
    };
    this.events.epoch(this.state, this.member.sframeEpochSecret());
  }
}
