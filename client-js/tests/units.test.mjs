// Unit tests of the client's pure parts (join links, token claims, wire parsing, layout), run
// in node: esbuild bundles the TypeScript module in memory and node imports the result.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as esbuild from 'esbuild';

import { CLIENT_DIR } from './harness.mjs';

async function load(entry) {
  const out = await esbuild.build({
    entryPoints: [`${CLIENT_DIR}/${entry}`],
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    write: false,
    logLevel: 'silent',
  });
  const code = out.outputFiles[0].text;
  return import(`data:text/javascript;base64,${Buffer.from(code).toString('base64')}`);
}

const link = await load('src/link.ts');
const signaling = await load('src/signaling.ts');
const call = await load('src/ui/call.ts').catch(() => null); // needs a DOM only when used

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
    assert.deepEqual(claims, { sub: 'ada', room: 'standup', exp: 1900000000 });
    assert.deepEqual(link.decodeTokenClaims('not a token'), {});
    assert.deepEqual(link.decodeTokenClaims('a.!!!.c'), {});
    assert.deepEqual(link.decodeTokenClaims(jwt({ sub: 42 })), {});
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
