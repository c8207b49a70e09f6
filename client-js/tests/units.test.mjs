// Unit tests of the client's pure parts (join links, token claims, wire parsing, layout, the
// chat model), run in node: esbuild bundles the TypeScript module in memory and node imports
// the result.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { loadModule } from './harness.mjs';

const link = await loadModule('src/link.ts');
const signaling = await loadModule('src/signaling.ts');
const room = await loadModule('src/room.ts');
const media = await loadModule('src/media.ts');
const chat = await loadModule('src/chat.ts');
const errors = await loadModule('src/errors.ts');
const call = await loadModule('src/ui/call.ts').catch(() => null); // needs a DOM only when used

function jwt(claims) {
  const part = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${part({ alg: 'HS256', typ: 'JWT' })}.${part(claims)}.c2ln`;
}

describe('join links', () => {
  it('reads the room from /r/NAME and the token from #token=', () => {
    assert.deepEqual(link.parseJoinLink('/r/standup', '#token=abc.def.ghi'), {
      room: 'standup',
      token: 'abc.def.ghi',
    });
    assert.deepEqual(link.parseJoinLink('/r/q4-review_2026.a/', '#token=t'), {
      room: 'q4-review_2026.a',
      token: 't',
    });
  });

  it('refuses links without a room, a token, or with a room the server would refuse', () => {
    for (const [path, hash] of [
      ['/', '#token=t'],
      ['/r/', '#token=t'],
      ['/r/standup', ''],
      ['/r/standup', '#token='],
      ['/r/standup', '#name=x'],
      ['/r/a%2Fb', '#token=t'],
      ['/r/..', '#token=t'],
      ['/r/' + 'x'.repeat(65), '#token=t'],
      ['/r/caf%C3%A9', '#token=t'],
      ['/r/a/b', '#token=t'],
    ]) {
      assert.equal(link.parseJoinLink(path, hash), null, `${path}${hash}`);
    }
  });

  it('takes a suggested name from the fragment, never from the token', () => {
    assert.deepEqual(link.parseJoinLink('/r/standup', '#token=t&name=Ada%20Lovelace%20%E2%9C%93'), {
      room: 'standup',
      token: 't',
      name: 'Ada Lovelace ✓',
    });
    const claims = link.decodeTokenClaims(
      jwt({ sub: 'ada', room: 'standup', name: 'Ada Lovelace ✓', exp: 1900000000 }),
    );
    const defaults = { publish: ['microphone', 'camera'] };
    assert.deepEqual(claims, { sub: 'ada', room: 'standup', exp: 1900000000, ...defaults });
    assert.deepEqual(link.decodeTokenClaims('not a token'), defaults);
    assert.deepEqual(link.decodeTokenClaims('a.!!!.c'), defaults);
    assert.deepEqual(link.decodeTokenClaims(jwt({ sub: 42 })), defaults);
  });

  it('reads what the token lets us publish, knowing only real sources', () => {
    const grants = (publish) => link.decodeTokenClaims(jwt({ grants: { publish } })).publish;
    assert.deepEqual(grants(['screen', 'microphone', 'camera']), ['microphone', 'camera', 'screen']);
    assert.deepEqual(grants([]), []);
    assert.deepEqual(grants(['telepathy', 'camera']), ['camera']);
    assert.deepEqual(link.decodeTokenClaims(jwt({ grants: { host: true } })).publish, ['microphone', 'camera']);
  });
});

describe('remote tracks', () => {
  it('take their source from the SFU track id in the description, by kind otherwise', () => {
    const sdp = [
      'v=0',
      'm=audio 9 UDP/TLS/RTP/SAVPF 111',
      'a=mid:0',
      'a=msid:p_ada p_ada-screen_audio-0',
      'm=video 9 UDP/TLS/RTP/SAVPF 96',
      'a=mid:1',
      'a=msid:p_ada p_ada-screen-1',
      '',
    ].join('\r\n');
    assert.equal(media.msidTrackId(sdp, '1'), 'p_ada-screen-1');
    assert.equal(media.msidTrackId(sdp, '7'), null);
    assert.equal(media.sourceOfTrack('p_ada-screen-1', 'p_ada', 'video'), 'screen');
    assert.equal(media.sourceOfTrack('p_ada-screen_audio-0', 'p_ada', 'audio'), 'screen_audio');
    assert.equal(media.sourceOfTrack('p_ada-camera-12', 'p_ada', 'video'), 'camera');
    // Another participant's label, or none, says nothing: the kind decides.
    assert.equal(media.sourceOfTrack('p_bob-screen-1', 'p_ada', 'video'), 'camera');
    assert.equal(media.sourceOfTrack('', 'p_ada', 'audio'), 'microphone');
    assert.equal(media.sourceOfTrack('p_ada-telepathy-1', 'p_ada', 'video'), 'camera');
  });

  it('leaves the audio-level header extension out of an SDP, and nothing else', () => {
    const sdp = [
      'v=0',
      'm=audio 9 UDP/TLS/RTP/SAVPF 111',
      'a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level',
      'a=extmap:2/sendonly urn:ietf:params:rtp-hdrext:ssrc-audio-level',
      'a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
      'a=extmap:4 urn:ietf:params:rtp-hdrext:csrc-audio-level',
      'a=mid:0',
      '',
    ].join('\r\n');
    const stripped = media.withoutAudioLevels(sdp);
    assert.ok(!stripped.includes('ssrc-audio-level'), stripped);
    assert.ok(stripped.includes('a=extmap:3 http://www.ietf.org/id/draft-holmer'), 'other extensions stay');
    assert.ok(stripped.includes('a=extmap:4 urn:ietf:params:rtp-hdrext:csrc-audio-level'));
    assert.ok(stripped.endsWith('a=mid:0\r\n'), 'line endings are kept');
    assert.equal(media.withoutAudioLevels(stripped), stripped);
  });

  it('moves a returning audio-level extension to id 1 where that is free, as the SFU maps it', () => {
    const sdp = 'm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=extmap:9 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\na=mid:0\r\n';
    assert.equal(media.audioLevelsAtId1(sdp), sdp.replace('extmap:9', 'extmap:1'));
    const taken = sdp.replace('a=mid:0', 'a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=mid:0');
    assert.equal(media.audioLevelsAtId1(taken), taken, 'id 1 is taken: left as it is');
  });
});

const person = (id, extra = {}) => ({ id, identity: id.slice(2), microphone: true, camera: true, screen: false, host: false, ...extra });
const joinedMsg = (extra = {}) => ({
  type: 'joined',
  participant_id: 'p_me',
  room: 'r',
  identity: 'me',
  grants: { publish: ['microphone', 'camera'], subscribe: true, host: false, bypass_lobby: false },
  policy: { lobby: false, locked: false, max_participants: 100, screen_share: 'granted', chat_retention_secs: 3600 },
  participants: [person('p_ada')],
  e2ee: { group_id: 'g', external_sender: { signature_key: 'k', identity: 'i' }, create_group: false },
  ...extra,
});

describe('the room model', () => {
  it('follows joins, updates and leaves, never listing ourselves among the others', () => {
    let s = room.reduce(room.initialRoom, joinedMsg());
    assert.equal(s.phase, 'call');
    assert.deepEqual(s.participants.map((p) => p.id), ['p_ada']);
    s = room.reduce(s, { type: 'participant_joined', participant: person('p_bob') });
    s = room.reduce(s, { type: 'participant_joined', participant: person('p_me') });
    assert.deepEqual(s.participants.map((p) => p.id), ['p_ada', 'p_bob']);
    s = room.reduce(s, { type: 'participant_updated', participant: person('p_bob', { microphone: false }) });
    assert.equal(s.participants[1].microphone, false);
    // An update for someone not here does not add them.
    assert.equal(room.reduce(s, { type: 'participant_updated', participant: person('p_zed') }), s);
    s = room.reduce(s, { type: 'participant_left', participant_id: 'p_ada' });
    assert.deepEqual(s.participants.map((p) => p.id), ['p_bob']);
    assert.equal(room.reduce(s, { type: 'pong' }), s, 'other messages leave it as it is');
  });

  it('waits in the lobby until joined, and tells hosts who arrives there', () => {
    let s = room.reduce(room.initialRoom, { type: 'lobby', room: 'r' });
    assert.equal(s.phase, 'lobby');
    const host = { publish: ['microphone', 'camera', 'screen'], subscribe: true, host: true, bypass_lobby: true };
    s = room.reduce(s, joinedMsg({ grants: host }));
    assert.ok(room.isHost(s) && room.canShareScreen(s));
    const msg = { type: 'lobby_updated', waiting: [{ id: 'p_eve', identity: 'eve' }] };
    const after = room.reduce(s, msg);
    assert.deepEqual(room.roomNotices(s, after, msg, () => '?').map((n) => n.text), ['eve is waiting in the lobby.']);
    // Nobody new: nothing to say. Not a host: nothing either.
    assert.deepEqual(room.roomNotices(after, room.reduce(after, msg), msg, () => '?'), []);
    const guest = room.reduce(room.initialRoom, joinedMsg());
    assert.deepEqual(room.roomNotices(guest, room.reduce(guest, msg), msg, () => '?'), []);
  });

  it('says when a host muted us, until we turn it on ourselves', () => {
    const s = room.reduce(room.initialRoom, joinedMsg());
    const msg = { type: 'mute_requested', source: 'screen' };
    const muted = room.reduce(s, msg);
    assert.deepEqual(muted.mutedByHost.sort(), ['screen', 'screen_audio']);
    const [notice] = room.roomNotices(s, muted, msg, () => '?');
    assert.equal(notice.text, 'A host turned off your screen share.');
    assert.equal(notice.alert, true);
    assert.deepEqual(room.unmutedByUs(muted, 'screen').mutedByHost, ['screen_audio']);
  });

  it('takes grants from policy updates and tells what changed', () => {
    const s = room.reduce(room.initialRoom, joinedMsg({ grants: { publish: ['microphone', 'camera', 'screen'], subscribe: true, host: false, bypass_lobby: false } }));
    assert.ok(room.canShareScreen(s));
    const msg = {
      type: 'policy_updated',
      policy: { lobby: true, locked: true, max_participants: 100, screen_share: 'hosts' },
      grants: { publish: ['microphone', 'camera'], subscribe: true, host: false, bypass_lobby: false },
    };
    const after = room.reduce(s, msg);
    assert.ok(!room.canShareScreen(after));
    assert.deepEqual(room.roomNotices(s, after, msg, () => '?').map((n) => n.text), [
      'The meeting is locked.',
      'The lobby is on: a host admits newcomers.',
      'Only hosts may share their screen now.',
    ]);
  });

  it('shows our own screen large while we share, else the latest sharer', () => {
    let s = room.reduce(room.initialRoom, joinedMsg({ participants: [person('p_ada'), person('p_bob')] }));
    assert.equal(room.presenter(s, false, null), null);
    const update = { type: 'participant_updated', participant: person('p_ada', { screen: true }) };
    const after = room.reduce(s, update);
    assert.deepEqual(room.roomNotices(s, after, update, (id) => `name of ${id}`).map((n) => n.text), [
      'name of p_ada is sharing their screen.',
    ]);
    s = after;
    assert.equal(room.presenter(s, false, null), 'p_ada');
    assert.equal(room.presenter(s, true, 'p_ada'), 'p_me');
    s = room.reduce(s, { type: 'participant_updated', participant: person('p_bob', { screen: true }) });
    assert.equal(room.presenter(s, false, 'p_ada'), 'p_ada', 'whoever is shown stays shown');
    assert.equal(room.presenter(s, false, null), 'p_bob');
  });

  it('announces group members by the names they sent, once, and who left', () => {
    const member = (id, name) => ({ leaf: 0, participantId: id, identity: null, name, duplicateName: false, fingerprint: '' });
    const seen = new Set();
    assert.deepEqual(room.groupNotices([], [member('p_me', 'Me'), member('p_ada', 'Ada')], 'p_me', seen, true), []);
    const two = [member('p_me', 'Me'), member('p_ada', 'Ada')];
    const three = [...two, member('p_bob', null)];
    assert.deepEqual(room.groupNotices(two, three, 'p_me', seen, false), [], 'no name yet');
    const named = [...two, member('p_bob', 'Bob')];
    assert.deepEqual(room.groupNotices(three, named, 'p_me', seen, false), ['Bob joined']);
    assert.deepEqual(room.groupNotices(named, named, 'p_me', seen, false), []);
    assert.deepEqual(room.groupNotices(named, two, 'p_me', seen, false), ['Bob left']);
  });
});

describe('signaling messages', () => {
  it('parses server messages and drops the version field', () => {
    const msg = signaling.parseServerMessage(
      '{"v":1,"type":"error","code":"wrong_room","message":"the join token is for another room","fatal":true}',
    );
    assert.deepEqual(msg, {
      type: 'error',
      code: 'wrong_room',
      message: 'the join token is for another room',
      fatal: true,
    });
    assert.deepEqual(signaling.parseServerMessage('{"v":1,"type":"pong"}'), { type: 'pong' });
  });

  it('ignores what is not a server message', () => {
    for (const text of [
      '',
      'nope',
      '[]',
      'null',
      '{"v":1}',
      '{"v":1,"type":"explode"}',
      '{"v":1,"type":"join"}',
    ]) {
      assert.equal(signaling.parseServerMessage(text), null, text);
    }
  });

  it('speaks protocol version 2 and accepts nothing lower', () => {
    assert.equal(signaling.PROTOCOL_VERSION, 2);
    assert.equal(signaling.MIN_PROTOCOL_VERSION, 2);
  });
});

describe('grid layout', { skip: call === null && 'the call view did not load outside a browser' }, () => {
  it('chooses the column count that makes 16:9 tiles largest', () => {
    assert.equal(call.bestColumns(1, 1600, 900).cols, 1);
    assert.equal(call.bestColumns(2, 1600, 900).cols, 2);
    assert.equal(call.bestColumns(3, 1600, 900).cols, 2);
    assert.equal(call.bestColumns(4, 1600, 900).cols, 2);
    assert.equal(call.bestColumns(9, 1600, 900).cols, 3);
    // A tall phone screen stacks tiles.
    assert.equal(call.bestColumns(3, 390, 700).cols, 1);
  });

  it('never makes tiles wider than the space allows', () => {
    for (let n = 1; n <= 25; n++) {
      const { cols, tileWidth } = call.bestColumns(n, 1000, 560);
      const rows = Math.ceil(n / cols);
      assert.ok(cols * tileWidth + (cols - 1) * 12 <= 1000 + 1e-6, `n=${n}`);
      assert.ok((rows * (tileWidth * 9)) / 16 + (rows - 1) * 12 <= 560 + 1e-6, `n=${n}`);
    }
  });
});

describe('chat model', () => {
  const message = (id, sender, ttlSecs = 0, own = false) => ({ id, sender, text: `text of ${id}`, own, ttlSecs });

  it('keeps each message for the shorter of the room\'s retention and its sender\'s choice, from its arrival', () => {
    const log = new chat.ChatLog(60);
    assert.equal(log.add(message('a', 'p_ada'), 1_000).expiresAt, 61_000, 'the room\'s minute');
    assert.equal(log.add(message('b', 'p_bob', 10), 5_000).expiresAt, 15_000, 'the sender\'s 10 s');
    assert.equal(log.add(message('c', 'p_cyd', 300), 5_000).expiresAt, 65_000, 'never longer than the room');
    assert.equal(chat.expiryOf(0, 3600, 0), 3_600_000);
  });

  it('expires messages by this client\'s clock, and only those whose time is up', () => {
    const log = new chat.ChatLog(60);
    log.add(message('a', 'p_ada', 10), 0);
    log.add(message('b', 'p_bob'), 0);
    assert.equal(log.expire(9_999), false);
    assert.deepEqual(log.messages.map((m) => m.id), ['a', 'b']);
    assert.equal(log.expire(10_000), true);
    assert.deepEqual(log.messages.map((m) => m.id), ['b']);
    assert.equal(log.expire(60_000), true);
    assert.deepEqual(log.messages, []);
  });

  it('applies a shorter room retention to what is on screen, a longer one only to what comes next', () => {
    const log = new chat.ChatLog(3600);
    log.add(message('a', 'p_ada'), 0);
    log.setRetention(30);
    assert.equal(log.messages[0].expiresAt, 30_000);
    log.setRetention(600);
    assert.equal(log.messages[0].expiresAt, 30_000, 'not lengthened');
    assert.equal(log.add(message('b', 'p_ada'), 1_000).expiresAt, 601_000);
  });

  it('ignores a message twice from one sender, keeps equal ids from two, and marks our own unsent', () => {
    const log = new chat.ChatLog();
    assert.ok(log.add(message('x', 'p_ada'), 0));
    assert.equal(log.add(message('x', 'p_ada'), 1), null);
    assert.ok(log.add(message('x', 'p_bob'), 2));
    log.add(message('mine', 'p_me', 0, true), 3);
    assert.equal(log.markUnsent('x', 'nope'), false, 'only our own messages');
    assert.equal(log.markUnsent('mine', 'Dan joined the group before it could be sent'), true);
    assert.deepEqual(
      log.messages.map((m) => [m.sender, m.id, m.unsent]),
      [['p_ada', 'x', null], ['p_bob', 'x', null], ['p_me', 'mine', 'Dan joined the group before it could be sent']],
    );
  });
});

describe('TURN relays from the server', () => {
  const good = { urls: ['turn:relay.example.org:3478?transport=tcp'], username: '1700086400:p_abc', credential: 'm0Mu' };

  it('keeps turn: and turns: relays with string credentials', () => {
    const turns = { ...good, urls: ['turns:relay.example.org:443?transport=tcp'] };
    assert.deepEqual(signaling.relayServers([good, turns]), [good, turns]);
    assert.deepEqual(signaling.relayServers(undefined), []);
  });

  it('drops whatever a hostile server puts there instead', () => {
    const odd = [
      'turn:relay.example.org',
      null,
      { ...good, urls: 'turn:relay.example.org' },
      { ...good, username: 7 },
      { ...good, credential: undefined },
      { ...good, urls: ['stun:stun.example.org', 'https://evil.example', 'turn:a b', 42] },
    ];
    assert.deepEqual(signaling.relayServers(odd), []);
    const mixed = { ...good, urls: ['stun:stun.example.org', ...good.urls] };
    assert.deepEqual(signaling.relayServers([mixed]), [good]);
    assert.deepEqual(signaling.relayServers({ urls: good.urls }), []);
  });
});

describe('joining again by itself', () => {
  it('retries a lost server or network with growing waits, then leaves it to the person', () => {
    const waits = [];
    for (let attempt = 0; ; attempt++) {
      const wait = errors.rejoinDelay('connection_lost', attempt);
      if (wait === null) break;
      waits.push(wait);
    }
    assert.ok(waits.length >= 5, `${waits}`);
    for (let i = 1; i < waits.length; i++) assert.ok(waits[i] >= waits[i - 1], `${waits}`);
    const total = waits.reduce((a, b) => a + b, 0);
    assert.ok(total >= 15_000 && total <= 60_000, `gives up after ${total} ms`);
    for (const reason of ['unreachable', 'media_failed', 'media_timeout']) assert.equal(errors.rejoinDelay(reason, 0), waits[0]);
  });

  it('never retries what joining again cannot cure', () => {
    for (const reason of ['token_expired', 'invalid_token', 'wrong_room', 'revoked', 'removed', 'meeting_ended', 'replaced', 'room_full', 'room_locked', 'e2ee_failed']) {
      assert.equal(errors.rejoinDelay(reason, 0), null, reason);
    }
  });
});
