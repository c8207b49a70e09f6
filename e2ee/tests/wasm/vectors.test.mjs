// The wasm build of veil-e2ee, as the browser loads it (target/wasm-pkg from
// scripts/build-wasm.sh), checked against the same RFC 9605 vector file as the native tests,
// plus an SFrame round trip through WasmKeyRing and a two-member MLS group through WasmMember
// (including announceName and the bundles' `removed` leaves).
// Run: scripts/build-wasm.sh && node --test e2ee/tests/wasm/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const pkg = await import(here('../../../target/wasm-pkg/veil_e2ee.js'));
pkg.initSync({ module: readFileSync(here('../../../target/wasm-pkg/veil_e2ee_bg.wasm')) });
const { WasmKeyRing, WasmMember } = pkg;

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

test('WasmKeyRing round trip, replay, tampering and plaintext', () => {
  const secret = new Uint8Array(16).fill(0xa5);
  const alice = new WasmKeyRing();
  const bob = new WasmKeyRing(5000);
  alice.setEpoch(7, secret, 3, 0);
  bob.setEpoch(7, secret, 1, 0);

  const frame = utf8('VP8the picture');
  const sealed = alice.encrypt(1, 3, frame);
  assert.equal(hex(sealed.subarray(0, 3)), hex(utf8('VP8')), 'metadata stays clear');
  const opened = bob.decryptFrame(3, sealed);
  assert.equal(hex(opened.plaintext), hex(frame));
  assert.deepEqual([opened.senderLeaf, opened.epoch, opened.contextId], [3, 7, 1]);

  throwsKind(() => bob.decrypt(3, sealed), 'replayed');
  const forged = alice.encrypt(1, 3, frame);
  forged[forged.length - 1] ^= 1;
  throwsKind(() => bob.decrypt(3, forged), 'authentication-failed');
  throwsKind(() => bob.decrypt(1, Uint8Array.of(0xf8, 0xff)), 'not-encrypted');
  throwsKind(() => new WasmKeyRing().encrypt(0, 0, frame), 'no-epoch');
  throwsKind(() => bob.setEpoch(6, secret, 1, 0), 'stale-epoch');
  throwsKind(() => bob.setEpoch(1.5, secret, 1, 0), 'invalid-argument');

  bob.setEpoch(8, new Uint8Array(16).fill(1), 1, 1000);
  assert.equal(bob.nextExpiry(), 6000);
  const late = alice.encrypt(1, 3, frame);
  assert.equal(hex(bob.decrypt(3, late)), hex(frame), 'previous epoch within the grace period');
  bob.expire(6000);
  throwsKind(() => bob.decrypt(3, alice.encrypt(1, 3, frame)), 'unknown-epoch');

  assert.deepEqual(bob.failures(), {
    notEncrypted: 1, unknownEpoch: 1, authenticationFailed: 1, replayed: 1, tooOld: 0,
  });
});

test('two WasmMembers form a group, share keys and a code, then part', () => {
  const alice = new WasmMember('p-alice', 'Alice');
  const bob = new WasmMember('p-bob', 'Bob 🎥');
  alice.createGroup(utf8('room-1'));
  const added = alice.addMembers([bob.keyPackage()]);
  assert.equal(added.epochBefore, 0);
  assert.ok(added.welcome instanceof Uint8Array);
  assert.equal(alice.mergePendingCommit(), 1);
  bob.joinFromWelcome(added.welcome);

  assert.deepEqual(added.removed, []);
  assert.equal(bob.epoch(), 1);
  assert.equal(bob.ownLeaf(), 1);
  // Bob's key package named only his participant id: he announces his name inside the group.
  assert.equal(alice.announceName(), null, 'the creator is named from the start');
  assert.deepEqual(alice.members().map((m) => m.displayName), ['Alice', '']);
  const named = bob.announceName();
  assert.equal(named.epochBefore, 1);
  assert.equal(named.welcome, undefined);
  assert.deepEqual(named.removed, []);
  assert.ok(!Buffer.from(named.commit).includes(Buffer.from('Bob 🎥')), 'the name travels encrypted');
  assert.equal(bob.mergePendingCommit(), 2);
  assert.deepEqual(alice.processMessage(named.commit), { type: 'epoch-changed', epoch: 2 });
  assert.equal(bob.announceName(), null);

  assert.match(alice.verificationCode(), /^\d{4} \d{4} \d{4}$/);
  assert.equal(bob.verificationCode(), alice.verificationCode());
  assert.equal(pkg.verificationCode(alice.epochAuthenticator()), alice.verificationCode());
  assert.deepEqual(
    bob.members().map((m) => [m.leaf, m.participantId, m.displayName, m.fingerprint]),
    [[0, 'p-alice', 'Alice', alice.fingerprint()], [1, 'p-bob', 'Bob 🎥', bob.fingerprint()]],
  );

  const [aliceRing, bobRing] = [new WasmKeyRing(), new WasmKeyRing()];
  aliceRing.setEpoch(alice.epoch(), alice.sframeEpochSecret(), alice.ownLeaf(), 0);
  bobRing.setEpoch(bob.epoch(), bob.sframeEpochSecret(), bob.ownLeaf(), 0);
  const sealed = bobRing.encrypt(0, 1, utf8('Oopus audio'));
  assert.equal(aliceRing.decryptFrame(1, sealed).senderLeaf, 1);

  // Alice removes Bob: Bob learns it from the commit, and his keys do not open new frames.
  const removal = alice.removeMembers([1]);
  assert.equal(removal.welcome, undefined);
  assert.deepEqual(removal.removed, [1]);
  assert.deepEqual(bob.processMessage(removal.commit), { type: 'evicted', epoch: 3 });
  throwsKind(() => bob.sframeEpochSecret(), 'evicted');
  alice.mergePendingCommit();
  aliceRing.setEpoch(alice.epoch(), alice.sframeEpochSecret(), alice.ownLeaf(), 10);
  throwsKind(() => bobRing.decrypt(1, aliceRing.encrypt(0, 1, utf8('Oafter'))), 'unknown-epoch');

  throwsKind(() => alice.processMessage(utf8('not MLS')), 'decode');
  throwsKind(() => alice.joinFromWelcome(added.welcome), 'already-in-group');
  throwsKind(() => new WasmMember('', 'nobody'), 'identity');
});
