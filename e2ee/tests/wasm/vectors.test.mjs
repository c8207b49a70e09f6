// The wasm build of veil-e2ee, as the browser loads it (target/wasm-pkg from
// scripts/build-wasm.sh), checked against the same RFC 9605 vector file as the native tests,
// plus an SFrame round trip through WasmKeyRing (frames bound to their owners) and two
// WasmSessions forming a group, exchanging names and chat inside it and keying each other's
// frames.
// Run: scripts/build-wasm.sh && node --test e2ee/tests/wasm/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const pkg = await import(here('../../../target/wasm-pkg/veil_e2ee.js'));
pkg.initSync({ module: readFileSync(here('../../../target/wasm-pkg/veil_e2ee_bg.wasm')) });
const { WasmKeyRing, WasmSession } = pkg;

// KIDs and counters reach 2^64 - 1: quote them before JSON.parse turns them into doubles.
const text = readFileSync(here('../vectors/rfc9605.json'), 'utf8');
const vectors = JSON.parse(text.replace(/"(kid|ctr)": (\d+)/g, '"$1": "$2"'));

const unhex = (s) => Uint8Array.from(s.match(/../g) ?? [], (b) => parseInt(b, 16));
const hex = (bytes) => Buffer.from(bytes).toString('hex');
const utf8 = (s) => new TextEncoder().encode(s);

/** Runs `fn`, expecting it to throw an Error whose `kind` is one of `kinds`; returns the kind. */
function throwsKind(fn, ...kinds) {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof Error, `threw a non-Error: ${err}`);
    assert.ok(kinds.includes(err.kind), `kind ${err.kind} (${err.message}) not in ${kinds}`);
    return err.kind;
  }
  assert.fail(`expected one of ${kinds}`);
}

test('every RFC 9605 header vector encodes and decodes', () => {
  assert.equal(vectors.header.length, 289);
  for (const v of vectors.header) {
    const [kid, ctr] = [BigInt(v.kid), BigInt(v.ctr)];
    assert.equal(hex(pkg.sframeEncodeHeader(kid, ctr)), v.encoded, `kid ${kid} ctr ${ctr}`);
    const parsed = pkg.sframeDecodeHeader(unhex(v.encoded));
    assert.deepEqual(parsed, { kid, ctr, length: v.encoded.length / 2 });
  }
});

test('every RFC 9605 cipher suite vector encrypts and decrypts', () => {
  assert.deepEqual(vectors.sframe.map((v) => v.cipher_suite), [1, 2, 3, 4, 5]);
  for (const v of vectors.sframe) {
    const [key, meta, pt] = [unhex(v.base_key), unhex(v.metadata), unhex(v.pt)];
    const ct = pkg.sframeVectorEncrypt(v.cipher_suite, BigInt(v.kid), BigInt(v.ctr), key, meta, pt);
    assert.equal(hex(ct), v.ct, `suite ${v.cipher_suite}`);
    assert.equal(hex(pkg.sframeVectorDecrypt(v.cipher_suite, key, meta, unhex(v.ct))), v.pt);
    const tampered = unhex(v.ct);
    tampered[tampered.length - 1] ^= 1;
    throwsKind(() => pkg.sframeVectorDecrypt(v.cipher_suite, key, meta, tampered), 'authentication-failed');
  }
});

test('WasmKeyRing round trip, owners, replay, tampering and plaintext', () => {
  const secret = new Uint8Array(16).fill(0xa5);
  const alice = new WasmKeyRing();
  const bob = new WasmKeyRing(5000);
  alice.setEpoch(7, secret, 3, 0);
  bob.setEpoch(7, secret, 1, 0);
  bob.setMembers(7, [{ leaf: 1, participantId: 'p-bob' }, { leaf: 3, participantId: 'p-alice' }]);

  const frame = Uint8Array.of(0x51, 0x42, 0x00, ...utf8('the picture')); // a VP8 delta frame
  const sealed = alice.encryptMedia('video', 1, frame);
  assert.equal(hex(sealed.subarray(0, 3)), hex(frame.subarray(0, 3)), 'the codec header stays clear');
  throwsKind(() => bob.decryptFrom('p-bob', 'video', sealed), 'wrong-sender');
  // Alice's camera (context 1) on a track that claims to be her screen (context 2).
  throwsKind(() => bob.decryptFrom('p-alice', 'video', sealed, 2), 'wrong-source');
  const opened = bob.decryptFrom('p-alice', 'video', sealed, 1);
  assert.equal(hex(opened.plaintext), hex(frame));
  assert.deepEqual([opened.senderLeaf, opened.epoch, opened.contextId], [3, 7, 1]);

  throwsKind(() => bob.decryptFrom('p-alice', 'video', sealed), 'replayed');
  const forged = alice.encryptMedia('video', 1, frame);
  forged[forged.length - 1] ^= 1;
  throwsKind(() => bob.decryptFrom('p-alice', 'video', forged), 'authentication-failed');
  throwsKind(() => bob.decryptFrom('p-alice', 'audio', Uint8Array.of(0xf8, 0xff)), 'not-encrypted');
  throwsKind(() => new WasmKeyRing().encryptMedia('video', 0, frame), 'no-epoch');
  throwsKind(() => bob.setEpoch(6, secret, 1, 0), 'stale-epoch');
  throwsKind(() => bob.setEpoch(1.5, secret, 1, 0), 'invalid-argument');
  throwsKind(() => alice.encryptMedia('smell', 0, frame), 'invalid-argument');

  bob.setEpoch(8, new Uint8Array(16).fill(1), 1, 1000);
  assert.equal(bob.nextExpiry(), 6000);
  const late = alice.encryptMedia('video', 1, frame);
  assert.equal(hex(bob.decryptFrom('p-alice', 'video', late).plaintext), hex(frame), 'previous epoch within the grace period');
  bob.expire(6000);
  throwsKind(() => bob.decryptFrom('p-alice', 'video', alice.encryptMedia('video', 1, frame)), 'unknown-epoch');

  assert.deepEqual(bob.failures(), {
    notEncrypted: 1, unknownEpoch: 1, authenticationFailed: 1, replayed: 1, tooOld: 0, wrongSender: 1, wrongSource: 1,
  });
});

/** Every output of a session until it wants time. */
function drain(session) {
  const out = [];
  for (;;) {
    const o = session.poll();
    if (o.type === 'timeout') return { out, at: o.at };
    out.push(o);
  }
}

const sent = (outputs, type) =>
  outputs.filter((o) => o.type === 'send').map((o) => JSON.parse(o.message)).find((m) => m.type === type);

const info = (id) => ({ id, identity: id.slice(2), microphone: true, camera: true, screen: false, host: false });

/** The server's `joined` for `id` (JSON), creating the group or waiting to be added. */
const joinedJson = (id, create, participants) =>
  JSON.stringify({
    type: 'joined',
    participant_id: id,
    room: 'r',
    identity: id.slice(2),
    grants: { publish: ['microphone', 'camera'], subscribe: true, host: false, bypass_lobby: false },
    policy: { lobby: false, locked: false, max_participants: 100, screen_share: 'granted', chat_retention_secs: 3600 },
    participants,
    e2ee: {
      group_id: Buffer.from('room-1').toString('base64'),
      external_sender: { signature_key: Buffer.alloc(32, 1).toString('base64'), identity: 'dmVpbA==' },
      create_group: create,
    },
  });

/** Alice creates a group and adds Bob; returns both sessions and what they said meanwhile. */
function formGroup() {
  const alice = new WasmSession(joinedJson('p-alice', true, []), 'Alice', 0);
  const bob = new WasmSession(joinedJson('p-bob', false, [info('p-alice')]), 'Bob 🎥', 0);
  const created = drain(alice).out;
  assert.ok(sent(created, 'mls_group_created'));
  const kp = sent(drain(bob).out, 'mls_key_package').key_package;

  alice.handle(JSON.stringify({ type: 'participant_joined', participant: info('p-bob') }), 10);
  alice.handle(JSON.stringify({ type: 'mls_add_request', participant_id: 'p-bob', key_package: kp, committer: 'p-alice' }), 10);
  const commit = sent(drain(alice).out, 'mls_commit');
  bob.handle(JSON.stringify({ type: 'mls_welcome', welcome: commit.welcome }), 20);
  alice.handle(JSON.stringify({ type: 'mls_commit_accepted', epoch: 1 }), 20);
  const bobJoined = drain(bob);
  return { alice, bob, commit, bobJoined, aliceKeys: drain(alice).out.find((o) => o.type === 'epoch') };
}

test('two WasmSessions form a group, exchange names inside it and key each other\'s frames', () => {
  const { alice, bob, commit, bobJoined, aliceKeys } = formGroup();
  assert.equal(commit.epoch, 0);
  assert.ok(!('added' in commit), 'the server derives who a commit adds from the commit');
  assert.deepEqual(sent(bobJoined.out, 'mls_joined'), { type: 'mls_joined', epoch: 1, leaf: 1 });
  const bobKeys = bobJoined.out.find((o) => o.type === 'epoch');
  assert.equal(alice.code(), bob.code());
  assert.match(alice.code(), /^\d{4} \d{4} \d{4}$/);

  // Names go as application messages, once each is due.
  bob.tick(bobJoined.at);
  const named = sent(drain(bob).out, 'mls_application');
  assert.ok(!Buffer.from(named.message, 'base64').includes(Buffer.from('Bob 🎥')), 'the name travels encrypted');
  alice.handle(JSON.stringify({ type: 'mls_application', from: 'p-bob', message: named.message }), 300);
  drain(alice);
  assert.deepEqual(
    alice.members().map((m) => [m.leaf, m.participantId, m.name, m.identity]),
    [[0, 'p-alice', 'Alice', 'alice'], [1, 'p-bob', 'Bob 🎥', 'bob']],
  );

  // The epoch's keys and leaves key a frame from Bob that plays only on Bob's track.
  const [aliceRing, bobRing] = [new WasmKeyRing(), new WasmKeyRing()];
  aliceRing.setEpoch(aliceKeys.epoch, aliceKeys.secret, aliceKeys.leaf, 0);
  aliceRing.setMembers(aliceKeys.epoch, aliceKeys.members);
  bobRing.setEpoch(bobKeys.epoch, bobKeys.secret, bobKeys.leaf, 0);
  const sealed = bobRing.encryptMedia('audio', 0, utf8('Oopus audio'));
  assert.equal(aliceRing.decryptFrom('p-bob', 'audio', sealed).senderLeaf, 1);

  throwsKind(() => new WasmSession('{"type":"pong"}', 'x', 0), 'start');
  throwsKind(() => alice.handle('not json', 0), 'bad-message');
});

test('two WasmSessions chat: the text travels encrypted and names its signer, not the server\'s word', () => {
  const { alice, bob } = formGroup();
  throwsKind(() => alice.sendChat('\u202E\u200B \n', 0, 40), 'empty-message');
  assert.equal(pkg.cleanChat('  hi\u202E Bob\r\n'), 'hi Bob', 'the one cleaning rule, for our own copy');

  // The server says Mallory sent Alice's first message: Bob drops it and says why.
  const first = alice.sendChat('Who am I?', 0, 50);
  const forged = sent(drain(alice).out, 'mls_application');
  bob.handle(JSON.stringify({ type: 'mls_application', from: 'p-mallory', message: forged.message }), 60);
  const dropped = drain(bob).out;
  assert.ok(!dropped.some((o) => o.type === 'chat'), JSON.stringify(dropped));
  assert.match(dropped.find((o) => o.type === 'problem').message, /p-mallory/);

  const id = alice.sendChat('Hello Bob\u202E, line one\nline two', 10, 70);
  assert.match(id, /^[0-9a-f]{32}$/);
  assert.notEqual(id, first);
  const message = sent(drain(alice).out, 'mls_application');
  assert.equal(message.epoch, 1);
  assert.ok(!Buffer.from(message.message, 'base64').includes(Buffer.from('Hello Bob')), 'the text travels encrypted');
  bob.handle(JSON.stringify({ type: 'mls_application', from: 'p-alice', message: message.message }), 80);
  const chats = drain(bob).out.filter((o) => o.type === 'chat');
  assert.deepEqual(chats, [
    { type: 'chat', id, sender: 'p-alice', text: 'Hello Bob, line one\nline two', ttlSecs: 10, epoch: 1 },
  ]);
  throwsKind(() => new WasmSession(joinedJson('p-carol', false, []), 'Carol', 0).sendChat('hi', 0, 0), 'not-in-group');
});
