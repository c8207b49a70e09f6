// Unit tests of the client's E2EE parts, run in node against the real veil-e2ee wasm module:
// the clear-byte rule and the key ring as the worker uses them (frames bound to their owners),
// base64, the per-participant security states, and the page's MlsSession adapter over the wasm
// key-agreement session. The session's own rules (roster binding, committing, fallbacks, names)
// are tested natively in e2ee/tests against the server's delivery service; here only that the
// adapter moves messages both ways.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { CLIENT_DIR, bundleModule } from './harness.mjs';

const WASM_PKG = join(CLIENT_DIR, '../target/wasm-pkg');

function bundle(contents) {
  return bundleModule({
    stdin: { contents, resolveDir: CLIENT_DIR, loader: 'ts' },
    alias: { 'veil-e2ee': join(WASM_PKG, 'veil_e2ee.js') },
  });
}

globalThis.window ??= globalThis; // MlsSession uses window.setTimeout
const e2ee = await bundle(`
  export * from './src/e2ee/mls.ts';
  export * from './src/e2ee/base64.ts';
  export * from './src/e2ee/security.ts';
  export { initSync, WasmKeyRing, clearBytes } from 'veil-e2ee';
`);
e2ee.initSync({ module: readFileSync(join(WASM_PKG, 'veil_e2ee_bg.wasm')) });

describe('frames through the key ring', () => {
  it('keeps 10 bytes of VP8 key frames, 3 of delta frames and 1 of Opus in the clear', () => {
    const key = new Uint8Array([0x50, 0x2a, 0x01, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01, 7, 7, 7]);
    const delta = new Uint8Array([0x31, 0x0b, 0x00, 9, 9, 9, 9]);
    assert.equal(e2ee.clearBytes('video', key), 10);
    assert.equal(e2ee.clearBytes('video', delta), 3);
    assert.equal(e2ee.clearBytes('audio', delta), 1);
    assert.equal(e2ee.clearBytes('video', new Uint8Array([0x00, 1])), 2, 'never more than the frame');
    assert.equal(e2ee.clearBytes('audio', new Uint8Array()), 0);
  });

  it('round-trips frames with the codec header readable but authenticated, on the owner\'s track only', () => {
    const sender = new e2ee.WasmKeyRing();
    const receiver = new e2ee.WasmKeyRing();
    const secret = new Uint8Array(16).fill(3);
    sender.setEpoch(5, secret, 2, 0);
    receiver.setEpoch(5, secret, 1, 0);
    receiver.setMembers(5, [
      { leaf: 1, participantId: 'p_me' },
      { leaf: 2, participantId: 'p_ada' },
      { leaf: 3, participantId: 'p_bob' },
    ]);
    const frame = new Uint8Array([0x50, 0x2a, 0x01, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01, 1, 2, 3, 4]);
    const out = sender.encryptMedia('video', 1, frame);
    assert.deepEqual([...out.subarray(0, 10)], [...frame.subarray(0, 10)], 'header in the clear');
    assert.throws(() => receiver.decryptFrom('p_bob', 'video', out), (e) => e.kind === 'wrong-sender');
    const back = receiver.decryptFrom('p_ada', 'video', out);
    assert.deepEqual([...back.plaintext], [...frame]);
    assert.equal(back.senderLeaf, 2);
    const next = sender.encryptMedia('video', 1, frame);
    next[1] ^= 1; // tamper with the clear header
    assert.throws(() => receiver.decryptFrom('p_ada', 'video', next), (e) => e.kind === 'authentication-failed');
    assert.throws(() => receiver.decryptFrom('p_ada', 'video', out), (e) => e.kind === 'replayed');
    assert.throws(() => receiver.decryptFrom('p_ada', 'video', frame), (e) => e.kind === 'not-encrypted' || e.kind === 'unknown-epoch');
    assert.equal(receiver.failures().wrongSender, 1);
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
    assert.equal(e2ee.remoteState({ ...base, member: false, history: undefined }), 'not-yet-encrypted');
  });

  it('calls lasting failures under unknown keys decryption failing, not brief ones', () => {
    const brief = history({ failingSince: 9_500, lastFailAt: 9_900 });
    assert.equal(e2ee.remoteState({ ...base, history: brief }), 'encrypted');
    const lasting = history({ failingSince: 7_000, lastFailAt: 9_900 });
    assert.equal(e2ee.remoteState({ ...base, history: lasting }), 'decryption-failing');
    assert.equal(e2ee.remoteState({ ...base, member: false, history: lasting }), 'not-yet-encrypted', 'keys come with the group');
    const outside = history({ failingSince: 10_000 - e2ee.JOINING_GRACE_MS, lastFailAt: 9_900 });
    assert.equal(e2ee.remoteState({ ...base, member: false, history: outside }), 'decryption-failing', 'keys outside the group');
    assert.equal(e2ee.remoteState({ ...base, selfInGroup: false, history: lasting }), 'not-yet-encrypted', 'we wait for our keys');
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
    assert.equal(e2ee.callSecurity(['encrypted', 'not-yet-encrypted'], true), 'pending');
    assert.equal(
      e2ee.callSecurity(['verified', 'verified'], true, 1),
      'at-risk',
      'a risk the session names outweighs every lock',
    );
    assert.equal(e2ee.callSecurity(['encrypted'], false), 'off');
    assert.equal(e2ee.groupFingerprint('b88fb70031de993d'), 'b88f b700 31de 993d');
  });
});

/** A `joined` message as the server sends it. */
function joined(id, create, participants = []) {
  return {
    type: 'joined',
    participant_id: id,
    room: 'r',
    identity: id.replace('p_', ''),
    grants: { publish: ['microphone', 'camera'], subscribe: true, host: false, bypass_lobby: false },
    policy: { lobby: false, locked: false, max_participants: 100, screen_share: 'granted', chat_retention_secs: 3600 },
    participants,
    e2ee: {
      group_id: Buffer.from('0123456789abcdef').toString('base64'),
      external_sender: { signature_key: Buffer.alloc(32, 1).toString('base64'), identity: Buffer.from('veil').toString('base64') },
      create_group: create,
    },
  };
}

function collect() {
  const got = { sent: [], epochs: [], changed: 0, problems: [] };
  return {
    got,
    events: {
      send: (m) => got.sent.push(m),
      epoch: (epoch, leaf, secret, members) => got.epochs.push({ epoch, leaf, secret, members }),
      changed: () => got.changed++,
      evicted: () => {},
      problem: (m) => got.problems.push(m),
    },
  };
}

describe('the MLS session adapter', () => {
  it('creates the group and reports it, or asks to be added, as joined says', () => {
    const creator = collect();
    const ada = new e2ee.MlsSession(joined('p_ada', true), 'Ada', creator.events);
    assert.deepEqual(creator.got.sent.map((m) => m.type), ['mls_group_created']);
    assert.equal(creator.got.epochs.length, 1);
    assert.deepEqual(creator.got.epochs[0].members, [{ leaf: 0, participantId: 'p_ada' }]);
    assert.equal(creator.got.epochs[0].secret.length, 16);
    assert.equal(ada.state.epoch, 0);
    assert.equal(ada.state.members[0].name, 'Ada');
    assert.equal(ada.state.code.length, 14);

    const joiner = collect();
    const bob = new e2ee.MlsSession(
      joined('p_bob', false, [{ id: 'p_ada', identity: 'ada', microphone: true, camera: true }]),
      'Bob',
      joiner.events,
    );
    assert.deepEqual(joiner.got.sent.map((m) => m.type), ['mls_key_package']);
    assert.equal(bob.state, null, 'not in the group yet');
    // Nobody's display name is in anything it sends.
    assert.ok(!JSON.stringify(joiner.got.sent).includes('Bob'));
    // Messages about neither the roster nor the group are ignored; broken ones are problems.
    bob.handle({ type: 'pong' });
    bob.handle({ type: 'mls_welcome', welcome: 'bm90IGEgd2VsY29tZQ==' });
    assert.equal(joiner.got.problems.length, 1, JSON.stringify(joiner.got.problems));
    ada.close();
    bob.close();
  });
});
