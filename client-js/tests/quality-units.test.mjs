// Unit tests of the pure parts behind connection quality (quality.ts: scoring, the meter over
// successive getStats readings, our own send side), speaking (speaking.ts) and speaker view's
// choice of the large tile (speaker.ts), run in node like tests/units.test.mjs.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { loadModule } from './harness.mjs';

const q = await loadModule('src/quality.ts');
const speaking = await loadModule('src/speaking.ts');
const sp = await loadModule('src/speaker.ts');
const qr = await loadModule('src/qualityreport.ts');

describe('connection quality scoring', () => {
  const score = (s) => q.scoreLink(s).quality;

  it('is good on a clean link and with nothing measured', () => {
    assert.equal(score({}), 'good');
    assert.equal(score({ loss: 0, rttMs: 20, jitterMs: 5, fps: 15, expectedFps: 15, freezes: 0, frozenShare: 0 }), 'good');
    assert.equal(q.scoreLink({ loss: 0.01, rttMs: 250 }).reason, null);
  });

  it('grades packet loss: under 2 % good, under 8 % fair, beyond poor', () => {
    assert.equal(score({ loss: 0.019 }), 'good');
    assert.equal(score({ loss: 0.02 }), 'fair');
    assert.equal(score({ loss: 0.05 }), 'fair');
    assert.equal(score({ loss: 0.08 }), 'poor');
    assert.equal(score({ loss: 0.3 }), 'poor');
    assert.equal(q.scoreLink({ loss: 0.1 }).reason, '10 % packets lost');
  });

  it('grades delay (round trip plus twice the jitter): under 300 ms good, under 600 ms fair, beyond poor', () => {
    assert.equal(score({ rttMs: 299 }), 'good');
    assert.equal(score({ rttMs: 300 }), 'fair');
    assert.equal(score({ rttMs: 650 }), 'poor');
    assert.equal(q.scoreLink({ rttMs: 650.4 }).reason, '650 ms round trip');
    assert.equal(score({ rttMs: 100, jitterMs: 50 }), 'good');
    assert.equal(score({ rttMs: 100, jitterMs: 100 }), 'fair');
    assert.equal(q.scoreLink({ rttMs: 100, jitterMs: 260 }).reason, '100 ms round trip, 260 ms jitter');
    assert.equal(q.scoreLink({ jitterMs: 300 }).reason, '300 ms jitter');
  });

  it('grades frame rate against what the stream delivered, and freezes', () => {
    assert.equal(score({ fps: 14, expectedFps: 15 }), 'good');
    assert.equal(score({ fps: 6, expectedFps: 15 }), 'fair');
    assert.equal(score({ fps: 2, expectedFps: 15 }), 'poor');
    assert.equal(score({ fps: 0, expectedFps: 2 }), 'good', 'a near-still stream says nothing');
    assert.equal(score({ freezes: 1, frozenShare: 0.04 }), 'good', 'one short freeze in the window');
    assert.equal(score({ freezes: 1, frozenShare: 0.1 }), 'fair');
    assert.equal(score({ freezes: 3, frozenShare: 0.5 }), 'poor');
    assert.equal(q.scoreLink({ freezes: 3, frozenShare: 0.5, freezeWindowSecs: 4.8 }).reason, 'video froze 3 times in 5 s');
  });

  it('takes the worst measurement, and a stalled stream is lost whatever else it shows', () => {
    assert.equal(score({ loss: 0.03, rttMs: 700 }), 'poor');
    assert.equal(q.scoreLink({ loss: 0.03, rttMs: 700 }).reason, '700 ms round trip');
    assert.equal(score({ stalledMs: 1_999, loss: 0 }), 'good');
    assert.equal(score({ stalledMs: 2_000, loss: 0 }), 'lost');
  });
});

/** getStats entries for one inbound stream and the candidate pair. */
function reading({ id = 'IT1', track = 'trk-ada-cam', kind = 'video', packets, lost = 0, frames = 0, freezes = 0, frozen = 0, jitter = 0.004, rtt = 0.02 }) {
  return [
    { id: 'T1', type: 'transport', selectedCandidatePairId: 'CP1' },
    { id: 'CP1', type: 'candidate-pair', state: 'succeeded', nominated: true, currentRoundTripTime: rtt },
    {
      id,
      type: 'inbound-rtp',
      kind,
      trackIdentifier: track,
      packetsReceived: packets,
      packetsLost: lost,
      framesDecoded: frames,
      freezeCount: freezes,
      totalFreezesDuration: frozen,
      jitter,
    },
  ];
}

describe('the quality meter over successive readings', () => {
  const ada = () => ({ owner: 'p_ada', expected: true });

  it('measures loss over the last interval, not since the call began', () => {
    const m = new q.QualityMeter();
    // Video's bursty jitter does not count.
    assert.equal(new q.QualityMeter().update(0, reading({ packets: 10, jitter: 0.2 }), ada).get('p_ada').quality, 'good');
    assert.equal(m.update(0, reading({ packets: 1000, lost: 200, frames: 100 }), ada).get('p_ada').quality, 'good');
    // 100 received and 0 lost since: the early loss is history.
    assert.equal(m.update(1600, reading({ packets: 1100, lost: 200, frames: 124 }), ada).get('p_ada').quality, 'good');
    // 90 received and 10 lost in the last interval: 10 %.
    const poor = m.update(3200, reading({ packets: 1190, lost: 210, frames: 148 }), ada).get('p_ada');
    assert.deepEqual(poor, { quality: 'poor', reason: '10 % packets lost' });
  });

  it('marks an unmuted track that stopped receiving lost after 2 s, but not a muted one', () => {
    const m = new q.QualityMeter();
    m.update(0, reading({ packets: 100, frames: 10 }), ada);
    m.update(1000, reading({ packets: 200, frames: 20 }), ada);
    assert.equal(m.update(2600, reading({ packets: 200, frames: 20 }), ada).get('p_ada').quality, 'good', '1.6 s');
    assert.equal(m.update(3200, reading({ packets: 200, frames: 20 }), ada).get('p_ada').quality, 'lost', '2.2 s');
    const muted = () => ({ owner: 'p_ada', expected: false });
    assert.equal(m.update(9000, reading({ packets: 200, frames: 20 }), muted).get('p_ada').quality, 'good');
    // Packets again: back at once.
    assert.equal(m.update(10_000, reading({ packets: 300, frames: 30 }), ada).get('p_ada').quality, 'good');
  });

  it('counts freezes over the last few intervals and a frame rate far below what the stream delivered', () => {
    const m = new q.QualityMeter();
    m.update(0, reading({ packets: 0, frames: 0 }), ada);
    m.update(1000, reading({ packets: 100, frames: 15 }), ada);
    m.update(2000, reading({ packets: 200, frames: 30 }), ada);
    // 0.1 s frozen in the 3 s of the window: a hiccup.
    const hiccup = m.update(3000, reading({ packets: 300, frames: 44, freezes: 1, frozen: 0.1 }), ada).get('p_ada');
    assert.equal(hiccup.quality, 'good');
    // Another 0.2 s: 0.3 s of 3 s.
    const froze = m.update(4000, reading({ packets: 400, frames: 58, freezes: 2, frozen: 0.3 }), ada).get('p_ada');
    assert.deepEqual(froze, { quality: 'fair', reason: 'video froze 2 times in 3 s' });
    const slow = m.update(5000, reading({ packets: 500, frames: 60, freezes: 2, frozen: 0.3 }), ada).get('p_ada');
    assert.deepEqual(slow, { quality: 'poor', reason: '2 of 15 frames per second' });
    const frozen = m.update(6000, reading({ packets: 600, frames: 70, freezes: 3, frozen: 1.3 }), ada).get('p_ada');
    assert.deepEqual(frozen, { quality: 'poor', reason: 'video froze 2 times in 3 s' });
    // Three calm intervals later the window has forgotten it.
    let calm;
    for (const t of [7000, 8000, 9000]) calm = m.update(t, reading({ packets: t / 10, frames: 70 + (t - 6000) * 0.015, freezes: 3, frozen: 1.3 }), ada);
    assert.equal(calm.get('p_ada').quality, 'good');
  });

  it('uses the round trip of the candidate pair in use, and the worst of a participant’s tracks', () => {
    const m = new q.QualityMeter();
    const stats = [
      ...reading({ packets: 100, rtt: 0.45 }),
      { id: 'IA1', type: 'inbound-rtp', kind: 'audio', trackIdentifier: 'trk-ada-mic', packetsReceived: 50, jitter: 0.2 },
    ];
    const owners = { 'trk-ada-cam': ada(), 'trk-ada-mic': ada() };
    assert.deepEqual(m.update(0, stats, (t) => owners[t]).get('p_ada'), { quality: 'poor', reason: '450 ms round trip, 200 ms jitter' });
    assert.equal(q.pathRttMs(stats), 450);
  });

  it('ignores tracks of no one the group knows, and starts over when a stream changes hands', () => {
    const m = new q.QualityMeter();
    assert.equal(m.update(0, reading({ packets: 100 }), () => undefined).size, 0);
    m.update(0, reading({ packets: 100, lost: 0 }), ada);
    // The SFU gives the receiver to Bob: Ada's history must not make Bob's loss.
    const bob = () => ({ owner: 'p_bob', expected: true });
    const got = m.update(1600, reading({ packets: 150, lost: 40 }), bob);
    assert.equal(got.get('p_bob').quality, 'good');
    assert.equal(got.has('p_ada'), false);
  });
});

describe('our own connection, from what the server receives', () => {
  it('reads remote-inbound-rtp loss and round trip, and is lost while disconnected', () => {
    const pair = { id: 'CP1', type: 'candidate-pair', state: 'succeeded', nominated: true, currentRoundTripTime: 0.01 };
    const rr = (fractionLost, roundTripTime, jitter = 0.002, kind = 'audio') => ({ id: 'RI', type: 'remote-inbound-rtp', kind, fractionLost, roundTripTime, jitter });
    assert.equal(q.sendQuality([pair, rr(0, 0.01)], true).quality, 'good');
    assert.equal(q.sendQuality([pair, rr(0.05, 0.01)], true).quality, 'fair');
    assert.equal(q.sendQuality([pair, rr(0.01, 0.7)], true).quality, 'poor');
    assert.equal(q.sendQuality([pair, rr(0.2, 0.01), rr(0, 0.01)], true).quality, 'poor', 'the worst stream');
    assert.equal(q.sendQuality([pair, rr(0, 0.01, 0.2)], true).quality, 'fair', 'audio jitter');
    assert.equal(q.sendQuality([pair, rr(0, 0.01, 0.2, 'video')], true).quality, 'good', 'video jitter says little');
    assert.equal(q.sendQuality([pair], false).quality, 'lost');
    assert.equal(q.sendQuality([], true).quality, 'good');
  });
});

describe('who is speaking', () => {
  it('reads levels of known owners and our own microphone, and ignores unknown tracks', () => {
    const stats = [
      { type: 'inbound-rtp', kind: 'audio', trackIdentifier: 'a', audioLevel: 0.3 },
      { type: 'inbound-rtp', kind: 'audio', trackIdentifier: 'b', audioLevel: 0.001 },
      { type: 'inbound-rtp', kind: 'audio', trackIdentifier: 'x', audioLevel: 0.9 },
      { type: 'media-source', kind: 'audio', audioLevel: 0.2 },
    ];
    const owners = { a: 'p_ada', b: 'p_bob' };
    assert.deepEqual([...speaking.speakingIn(stats, 'p_me', (t) => owners[t])].sort(), ['p_ada', 'p_me']);
  });
});

describe('speaker view: who is shown large', () => {
  const present = ['p_ada', 'p_bob', 'p_cy'];
  /** Runs readings `[now, [speaking…]]` from `state` and returns the state after them. */
  const run = (readings, state = sp.initialSpeaker) =>
    readings.reduce((s, [now, who]) => sp.nextSpeaker(s, { now, speaking: new Set(who), present }), state);

  it('shows the first other participant until anyone speaks, then the first to speak at once', () => {
    assert.equal(sp.featured(sp.initialSpeaker, present), 'p_ada');
    assert.equal(sp.featured(sp.initialSpeaker, []), null);
    assert.equal(run([[0, ['p_bob']]]).active, 'p_bob');
  });

  it('moves to someone else only after they spoke for the hold time', () => {
    let s = run([[0, ['p_ada']]]);
    s = run([[400, ['p_bob']], [800, ['p_bob']]], s);
    assert.equal(s.active, 'p_ada', 'after 400 ms of Bob');
    s = run([[1200, ['p_bob']]], s);
    assert.equal(s.active, 'p_ada', 'after 800 ms of Bob');
    s = run([[1400, ['p_bob']]], s);
    assert.equal(s.active, 'p_bob', `after ${sp.HOLD_MS} ms of Bob`);
  });

  it('does not flap on a short interjection, and a pause between words does not restart the count', () => {
    let s = run([[0, ['p_ada']], [400, ['p_bob']], [800, ['p_ada']], [1200, ['p_bob']], [1600, ['p_ada']]]);
    assert.equal(s.active, 'p_ada');
    // Bob speaks from 2000 ms with one silent reading in between: 1000 ms later he has it.
    s = run([[2000, ['p_bob']], [2400, []], [2800, ['p_bob']]], s);
    assert.equal(s.active, 'p_ada');
    s = run([[3000, ['p_bob']]], s);
    assert.equal(s.active, 'p_bob');
    // A long silence restarts it.
    s = run([[4000, ['p_cy']], [4400, []], [4800, []], [5200, ['p_cy']], [5600, ['p_cy']]], s);
    assert.equal(s.active, 'p_bob');
  });

  it('stays with the last speaker while nobody speaks, and while they speak alongside others', () => {
    let s = run([[0, ['p_cy']], [5_000, []], [60_000, []]]);
    assert.equal(s.active, 'p_cy');
    s = run([[60_400, ['p_ada', 'p_cy']], [61_000, ['p_ada', 'p_cy']], [62_000, ['p_ada', 'p_cy']]], s);
    assert.equal(s.active, 'p_cy');
  });

  it('ignores our own voice and drops someone who left', () => {
    let s = run([[0, ['p_me']]]);
    assert.equal(s.active, null);
    s = run([[0, ['p_bob']]]);
    s = sp.nextSpeaker(s, { now: 500, speaking: new Set(), present: ['p_ada', 'p_cy'] });
    assert.equal(s.active, null);
    assert.equal(sp.featured(s, ['p_ada', 'p_cy']), 'p_ada');
    assert.equal(sp.featured(run([[0, ['p_cy']]]), present), 'p_cy');
  });
});

describe('speaker view: a speaker the server names (server-side speaker detection)', () => {
  const members = ['p_ada', 'p_bob'];

  it('follows a member the server names', () => {
    const s = sp.namedByServer(sp.initialSpeaker, 'p_bob', members);
    assert.equal(s.active, 'p_bob');
    assert.equal(sp.featured(s, members), 'p_bob');
    assert.equal(sp.namedByServer(s, 'p_bob', members), s, 'named again: nothing changes');
  });

  it('ignores a participant outside the encrypted group, ourselves, and nobody', () => {
    const s = sp.namedByServer(sp.initialSpeaker, 'p_ada', members);
    // A hostile server names someone it added to the roster but who is not in our group, or us.
    assert.equal(sp.namedByServer(s, 'p_mallory', members), s);
    assert.equal(sp.namedByServer(s, 'p_me', members), s);
    assert.equal(sp.namedByServer(s, null, members), s);
    assert.equal(sp.namedByServer(s, '', members), s);
    assert.equal(sp.featured(sp.namedByServer(s, 'p_mallory', members), members), 'p_ada');
  });
});

describe('quality reports to the server', () => {
  const receiver = (id, failures) => ({ id, kind: 'video', participantId: 'p', contextId: 0, decrypted: 0, failures, lastFailure: null, lastEpoch: null, lastSenderLeaf: null });

  it('reports the worst score of the period, and nothing when nothing was scored', () => {
    const period = new qr.QualityPeriod();
    assert.equal(period.take(), null);
    period.add(['good', 'good']);
    period.add(['fair', 'good']);
    period.add(['good']);
    assert.equal(period.take(), 'fair');
    assert.equal(period.take(), null, 'a new period starts empty');
    period.add(['poor', 'lost', 'fair']);
    assert.equal(period.take(), 'lost');
    assert.equal(qr.decideReport(null, 3), null);
    assert.deepEqual(qr.decideReport('poor', 3), { quality: 'poor', decrypt_failures: 3 });
    assert.deepEqual(qr.decideReport('good', 0), { quality: 'good', decrypt_failures: 0 });
  });

  it('counts decryption failures since the last report, across receivers that come and go', () => {
    const tally = new qr.FailureTally();
    tally.observe([receiver(1, { 'unknown-epoch': 2 }), receiver(2, {})]);
    tally.observe([receiver(1, { 'unknown-epoch': 2, 'authentication-failed': 1 }), receiver(2, { 'wrong-sender': 4 })]);
    assert.equal(tally.take(), 7);
    assert.equal(tally.take(), 0);
    // Receiver 2 goes away after two more failures; receiver 3 arrives with one.
    tally.observe([receiver(1, { 'unknown-epoch': 2, 'authentication-failed': 1 }), receiver(2, { 'wrong-sender': 6 })]);
    tally.observe([receiver(1, { 'unknown-epoch': 2, 'authentication-failed': 1 }), receiver(3, { 'not-encrypted': 1 })]);
    assert.equal(tally.peek(), 3);
    assert.equal(tally.take(), 3);
    // The same counters again: nothing new.
    tally.observe([receiver(1, { 'unknown-epoch': 2, 'authentication-failed': 1 }), receiver(3, { 'not-encrypted': 1 })]);
    assert.equal(tally.take(), 0);
  });

  it('takes a counter that went down (an id reused) as a new receiver', () => {
    assert.equal(qr.failuresSince(new Map([[1, 5]]), new Map([[1, 2]])), 2);
    assert.equal(qr.failuresSince(new Map([[1, 5]]), new Map([[1, 9], [2, 1]])), 5);
  });
});
