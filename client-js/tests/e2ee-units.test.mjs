// Unit tests of the client's E2EE parts, run in node: the clear-byte rule, base64, the
// per-participant security states, and the MLS client (MlsSession, over the real veil-e2ee wasm
// module) against a small in-memory delivery service that behaves like signaling/src/mls.rs:
// it keeps the first commit of each epoch, refuses the rest, and routes Welcomes.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as esbuild from 'esbuild';

import { CLIENT_DIR, eventually } from './harness.mjs';

const WASM_PKG = join(CLIENT_DIR, '../target/wasm-pkg');

async function bundle(contents) {
  const out = await esbuild.build({
    stdin: { contents, resolveDir: CLIENT_DIR, loader: 'ts' },
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    write: false,
    logLevel: 'silent',
    alias: { 'veil-e2ee': join(WASM_PKG, 'veil_e2ee.js') },
  });
  return import(`data:text/javascript;base64,${Buffer.from(out.outputFiles[0].text).toString('base64')}`);
}

globalThis.window ??= globalThis; // MlsSession uses window.setTimeout
const e2ee = await bundle(`
  export * from './src/e2ee/mls.ts';
  export * from './src/e2ee/base64.ts';
  export * from './src/e2ee/security.ts';
  export { clearBytes } from './src/e2ee/protocol.ts';
  export { initSync, WasmKeyRing } from 'veil-e2ee';
`);
e2ee.initSync({ module: readFileSync(join(WASM_PKG, 'veil_e2ee_bg.wasm')) });

describe('clear bytes', () => {
  it('keeps 10 bytes of VP8 key frames, 3 of delta frames and 1 of Opus in the clear', () => {
    const key = new Uint8Array([0x50, 0x2a, 0x01, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01, 7, 7, 7]);
    const delta = new Uint8Array([0x31, 0x0b, 0x00, 9, 9, 9, 9]);
    assert.equal(e2ee.clearBytes('video', key), 10);
    assert.equal(e2ee.clearBytes('video', delta), 3);
    assert.equal(e2ee.clearBytes('audio', delta), 1);
    assert.equal(e2ee.clearBytes('video', new Uint8Array([0x00, 1])), 2, 'never more than the frame');
    assert.equal(e2ee.clearBytes('audio', new Uint8Array()), 0);
  });

  it('round-trips frames through the key ring with the codec header readable but authenticated', () => {
    const sender = new e2ee.WasmKeyRing();
    const receiver = new e2ee.WasmKeyRing();
    const secret = new Uint8Array(16).fill(3);
    sender.setEpoch(5, secret, 2, 0);
    receiver.setEpoch(5, secret, 1, 0);
    const frame = new Uint8Array([0x50, 0x2a, 0x01, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01, 1, 2, 3, 4]);
    const out = sender.encrypt(1, e2ee.clearBytes('video', frame), frame);
    assert.deepEqual([...out.subarray(0, 10)], [...frame.subarray(0, 10)], 'header in the clear');
    assert.equal(e2ee.clearBytes('video', out), 10, 'the receiver finds the same clear length');
    const back = receiver.decryptFrame(e2ee.clearBytes('video', out), out);
    assert.deepEqual([...back.plaintext], [...frame]);
    assert.equal(back.senderLeaf, 2);
    const next = sender.encrypt(1, 10, frame);
    next[1] ^= 1; // tamper with the clear header
    assert.throws(() => receiver.decrypt(10, next), (e) => e.kind === 'authentication-failed');
    assert.throws(() => receiver.decrypt(10, out), (e) => e.kind === 'replayed');
    assert.throws(() => receiver.decrypt(3, frame), (e) => e.kind === 'not-encrypted' || e.kind === 'unknown-epoch');
  });
});

describe('base64', () => {
  it('is standard base64 with padding', () => {
    const bytes = new Uint8Array([0, 1, 2, 250, 251, 252, 253, 254, 255]);
    assert.equal(e2ee.toBase64(bytes), Buffer.from(bytes).toString('base64'));
    assert.deepEqual([...e2ee.fromBase64('AAEC+vv8/f7/')], [...bytes]);
    const big = new Uint8Array(200_000).map((_, i) => i * 7);
    assert.deepEqual(e2ee.fromBase64(e2ee.toBase64(big)), big);
  });
});

describe('security states', () => {
  const base = { e2ee: true, member: true, verified: false, now: 10_000 };
  const history = (over) => ({ ...e2ee.emptyHistory(), ...over });

  it('calls a member whose frames decrypt encrypted, or verified once marked', () => {
    const h = history({ lastOkAt: 9_900 });
    assert.equal(e2ee.remoteState({ ...base, history: h }), 'encrypted');
    assert.equal(e2ee.remoteState({ ...base, verified: true, history: h }), 'verified');
    assert.equal(e2ee.remoteState({ ...base, history: undefined }), 'encrypted', 'sending nothing is no failure');
    assert.equal(e2ee.remoteState({ ...base, member: false, history: undefined }), 'joining');
  });

  it('calls lasting failures under unknown keys decryption failing, not brief ones', () => {
    const brief = history({ failingSince: 9_500, lastFailAt: 9_900 });
    assert.equal(e2ee.remoteState({ ...base, history: brief }), 'encrypted');
    const lasting = history({ failingSince: 7_000, lastFailAt: 9_900 });
    assert.equal(e2ee.remoteState({ ...base, history: lasting }), 'decryption-failing');
    assert.equal(e2ee.remoteState({ ...base, member: false, history: lasting }), 'joining', 'keys come with the group');
    const outside = history({ failingSince: 10_000 - e2ee.JOINING_GRACE_MS, lastFailAt: 9_900 });
    assert.equal(e2ee.remoteState({ ...base, member: false, history: outside }), 'decryption-failing', 'keys outside the group');
    assert.equal(e2ee.remoteState({ ...base, selfInGroup: false, history: lasting }), 'joining', 'we wait for our keys');
    const over = history({ failingSince: 1_000, lastFailAt: 5_000 });
    assert.equal(e2ee.remoteState({ ...base, history: over }), 'encrypted', 'failures that stopped');
  });

  it('calls frames that are not SFrame not encrypted, and E2EE off not encrypted', () => {
    const plain = history({ failingSince: 9_800, lastFailAt: 9_900, lastPlainAt: 9_900, plainSinceOk: 5 });
    assert.equal(e2ee.remoteState({ ...base, history: plain }), 'not-encrypted');
    assert.equal(e2ee.remoteState({ ...base, e2ee: false, history: undefined }), 'not-encrypted');
  });

  it('folds the worker counters into histories, per participant', () => {
    const tracker = new e2ee.ReceiveTracker();
    const r = (id, pid, decrypted, failures) => ({
      id, kind: 'video', participantId: pid, decrypted, failures, lastFailure: null, lastEpoch: null, lastSenderLeaf: null,
    });
    tracker.update([r(1, 'a', 10, {}), r(2, 'b', 0, { 'not-encrypted': 4, 'unknown-epoch': 2 })], 1_000);
    tracker.update([r(1, 'a', 20, {}), r(2, 'b', 0, { 'not-encrypted': 9, 'unknown-epoch': 3 })], 1_500);
    const a = tracker.histories.get('a');
    const b = tracker.histories.get('b');
    assert.equal(a.lastOkAt, 1_500);
    assert.equal(b.plainSinceOk, 9);
    assert.equal(b.failingSince, 1_000);
    assert.equal(e2ee.remoteState({ ...base, now: 1_600, history: b }), 'not-encrypted');
    // The SFU hands receiver 2 to participant c: its counters start again for c.
    tracker.update([r(1, 'a', 20, {}), r(2, 'c', 5, {})], 2_000);
    assert.equal(tracker.histories.get('c').lastOkAt, 2_000);
  });

  it('shows a lock for the call only when nobody is in the clear', () => {
    assert.equal(e2ee.callSecurity(['encrypted', 'encrypted'], true), 'secure');
    assert.equal(e2ee.callSecurity(['encrypted', 'verified', 'verified'], true), 'verified');
    assert.equal(e2ee.callSecurity(['encrypted', 'not-encrypted'], true), 'at-risk');
    assert.equal(e2ee.callSecurity(['not-encrypted', 'encrypted'], true), 'at-risk', 'we send in the clear');
    assert.equal(e2ee.callSecurity(['encrypted', 'joining'], true), 'pending');
    assert.equal(e2ee.callSecurity(['encrypted'], false), 'off');
    assert.equal(e2ee.groupFingerprint('b88fb70031de993d'), 'b88f b700 31de 993d');
  });
});

/**
 * The delivery service of signaling/src/mls.rs, reduced to adds: members in join order, the
 * first commit per epoch wins, Welcomes go to the added, commits to the other members.
 */
class FakeDeliveryService {
  constructor() {
    this.clients = new Map(); // id -> { session, member: bool }
    this.leaves = []; // member ids, longest-standing first
    this.pending = new Map(); // id -> key package
    this.epoch = null;
    this.queue = [];
    this.log = [];
    /** Test hook: who is named committer for an add request (default: longest-standing). */
    this.committerFor = () => this.leaves[0];
  }

  connect(id, name) {
    const create = this.clients.size === 0;
    const setup = {
      group_id: Buffer.from('0123456789abcdef').toString('base64'),
      external_sender: { signature_key: Buffer.alloc(32, 1).toString('base64'), identity: Buffer.from('veil').toString('base64') },
      create_group: create,
    };
    const session = new e2ee.MlsSession(id, name, setup, {
      send: (msg) => this.receive(id, msg),
      epoch: () => {},
      evicted: () => {},
      problem: (m) => this.log.push(`${id}: ${m}`),
    });
    this.clients.set(id, { session });
    session.start();
    return session;
  }

  /** Delivers after a few milliseconds, like a network: members act on what they know. */
  deliver(to, msg) {
    this.queue.push([to, msg]);
    setTimeout(() => this.flush(), 5);
  }

  flush() {
    while (this.queue.length) {
      const [to, msg] = this.queue.shift();
      this.clients.get(to)?.session.handle(msg);
    }
  }

  toMembers(msg, except) {
    for (const m of this.leaves) if (m !== except) this.deliver(m, msg);
  }

  reissue() {
    if (this.epoch === null) return;
    for (const [pid, kp] of this.pending) {
      this.toMembers({ type: 'mls_add_request', participant_id: pid, key_package: kp, committer: this.committerFor(pid) });
    }
  }

  receive(from, msg) {
    this.log.push(`${from} -> ${msg.type}${msg.epoch !== undefined ? ` ${msg.epoch}` : ''}`);
    switch (msg.type) {
      case 'mls_key_package':
        this.pending.set(from, msg.key_package);
        if (this.epoch !== null) this.reissue();
        break;
      case 'mls_joined':
        if (this.epoch === null && this.leaves.length === 0) {
          this.epoch = 0;
          this.leaves.push(from);
          this.reissue();
        } else if (msg.epoch === this.epoch) {
          this.pending.delete(from);
          this.leaves.push(from);
        } else {
          this.deliver(from, { type: 'error', code: 'mls_stale_commit', message: 'join', fatal: false });
        }
        break;
      case 'mls_commit':
        if (msg.epoch !== this.epoch) {
          this.staleCommits = (this.staleCommits ?? 0) + 1;
          this.deliver(from, { type: 'error', code: 'mls_stale_commit', message: 'stale', fatal: false });
          break;
        }
        this.epoch += 1;
        this.toMembers({ type: 'mls_commit', commit: msg.commit, epoch: this.epoch }, from);
        this.deliver(from, { type: 'mls_commit_accepted', epoch: this.epoch });
        for (const a of msg.added ?? []) {
          if (this.pending.delete(a) && msg.welcome) this.deliver(a, { type: 'mls_welcome', welcome: msg.welcome });
        }
        break;
    }
  }
}

function states(sessions) {
  return sessions.map((s) => ({ epoch: s.state?.epoch ?? null, code: s.state?.code ?? null, n: s.members().length }));
}

describe('the MLS client against a delivery service', () => {
  it('creates the group, adds the others, and ends with one code for all', async () => {
    const ds = new FakeDeliveryService();
    const ada = ds.connect('p_ada', 'Ada Lovelace');
    const grace = ds.connect('p_grace', 'Grace Hopper');
    const alan = ds.connect('p_alan', 'Alan Turing');
    const all = [ada, grace, alan];
    await eventually(
      'all three in one epoch',
      () => {
        const s = states(all);
        const named = all.every((x) => x.members().every((m) => m.displayName !== ''));
        return named && s.every((x) => x.n === 3 && x.epoch === s[0].epoch && x.code === s[0].code);
      },
      { timeout: 10_000, interval: 20 },
    );
    assert.deepEqual(
      ada.members().map((m) => [m.leaf, m.participantId, m.displayName]),
      [
        [0, 'p_ada', 'Ada Lovelace'],
        [1, 'p_grace', 'Grace Hopper'],
        [2, 'p_alan', 'Alan Turing'],
      ],
    );
    assert.ok(ada.state.epoch <= 4, `one commit per add (and per name), or fewer: ${ada.state.epoch}`);
    for (const s of all) s.close();
  });

  it('after a stale commit, discards it, follows the winner, and commits what is still needed', async () => {
    const ds = new FakeDeliveryService();
    const ada = ds.connect('p_ada', 'Ada');
    const bob = ds.connect('p_bob', 'Bob');
    await eventually('Bob in', () => bob.state?.epoch === 1 && ds.leaves.length === 2, { timeout: 10_000, interval: 20 });
    // Setup, not a check: let Ada's pause after her add commit run out.
    await new Promise((r) => setTimeout(r, e2ee.ADD_SETTLE_MS + 50));
    // Two newcomers; the server names a different committer for each in the same epoch, so
    // Ada and Bob commit concurrently and one of them loses.
    ds.committerFor = (pid) => (pid === 'p_carl' ? 'p_ada' : 'p_bob');
    const carl = ds.connect('p_carl', 'Carl');
    const dora = ds.connect('p_dora', 'Dora');
    const all = [ada, bob, carl, dora];
    await eventually(
      'all four in one epoch with one code',
      () => {
        const s = states(all);
        const named = all.every((x) => x.members().every((m) => m.displayName !== ''));
        return named && s.every((x) => x.n === 4 && x.epoch === s[0].epoch && x.code === s[0].code);
      },
      { timeout: 15_000, interval: 20 },
    );
    assert.ok(ds.staleCommits >= 1, `a commit lost the race:\n${ds.log.join('\n')}`);
    assert.ok(!ds.log.some((l) => /: MLS/.test(l)), `no MLS problem:\n${ds.log.join('\n')}`);
    for (const s of all) s.close();
  });
});
