// Unit tests of the operator page's pure parts (src/admin/stats.ts: the /admin/api/stats answer
// to chart series, headline numbers and the worst-subscribers table; src/admin/key.ts: the key
// in the URL fragment), run in node like tests/units.test.mjs.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { loadModule } from './harness.mjs';

const stats = await loadModule('src/admin/stats.ts');
const key = await loadModule('src/admin/key.ts');

/** A sample as docs/metrics.md shows it, with `over` replacing fields. */
function sample(time, over = {}) {
  return {
    time,
    rooms: 3,
    participants: 12,
    lobby: 0,
    quality: { good: 10, fair: 1, poor: 1, lost: 0 },
    forwarding_delay_ms: { p50: 0.21, p90: 0.6, p99: 1.8 },
    bits_in_per_second: 5_400_000,
    bits_out_per_second: 21_000_000,
    packets_out_per_second: 2400,
    cpu_cores: 0.31,
    memory_bytes: 52_000_000,
    ...over,
  };
}

const documented = {
  interval_ms: 2000,
  samples: [sample(1767225598123, { participants: 11 }), sample(1767225600123)],
  worst_subscribers: [{ session: 17, loss: 0.04, rtt_ms: 120.0 }],
};

describe('operator page: the stats answer', () => {
  it('reads the documented answer and turns it into every panel’s series', () => {
    const s = stats.parseStats(documented);
    assert.equal(s.samples.length, 2);
    const d = stats.panelData(s);
    assert.deepEqual(d.people, [[1767225598.123, 1767225600.123], [3, 3], [11, 12], [0, 0]]);
    assert.deepEqual(d.quality.slice(1), [[10, 10], [1, 1], [1, 1], [0, 0]]);
    assert.deepEqual(d.delay.slice(1), [[0.21, 0.21], [0.6, 0.6], [1.8, 1.8]]);
    assert.deepEqual(d.bandwidth.slice(1), [[5_400_000, 5_400_000], [21_000_000, 21_000_000]]);
    assert.deepEqual(d.cpu.slice(1), [[0.31, 0.31]]);
    assert.equal(d.memory[1][0].toFixed(2), (52_000_000 / 1048576).toFixed(2));
    for (const cols of Object.values(d)) {
      for (const c of cols) assert.equal(c.length, 2, 'every series has one value per sample');
    }
  });

  it('shows the latest sample in the headline, and nothing before the first', () => {
    const h = stats.headline(stats.parseStats(documented));
    assert.deepEqual(h, {
      rooms: 3,
      participants: 12,
      lobby: 0,
      packetsOutPerSecond: 2400,
      quality: { good: 10, fair: 1, poor: 1, lost: 0 },
      time: 1767225600123,
    });
    assert.equal(stats.headline(stats.parseStats({ interval_ms: 2000, samples: [], worst_subscribers: [] })), null);
  });

  it('sorts samples oldest first and leaves gaps for percentiles of idle intervals', () => {
    const s = stats.parseStats({
      samples: [
        sample(3000),
        sample(1000, { forwarding_delay_ms: { p50: null, p90: null, p99: null } }),
        sample(2000, { forwarding_delay_ms: null }),
      ],
    });
    assert.deepEqual(s.samples.map((x) => x.time), [1000, 2000, 3000]);
    assert.deepEqual(stats.panelData(s).delay[1], [null, null, 0.21]);
    assert.equal(s.interval_ms, 2000);
    assert.deepEqual(s.worst_subscribers, []);
  });

  it('reads an odd field as zero rather than blanking the page, and refuses what is no answer at all', () => {
    const s = stats.parseStats({ samples: [{ time: 5, rooms: 'x', quality: null }, 'junk', { rooms: 1 }] });
    assert.equal(s.samples.length, 1, 'samples without a time are dropped');
    assert.equal(s.samples[0].rooms, 0);
    assert.deepEqual(s.samples[0].quality, { good: 0, fair: 0, poor: 0, lost: 0 });
    assert.throws(() => stats.parseStats('<html>'), /no "samples"/);
    assert.throws(() => stats.parseStats(null), /no "samples"/);
  });

  it('lists the worst subscribers by session number, most loss then longest round trip', () => {
    const s = stats.parseStats({
      samples: [],
      worst_subscribers: [
        { session: 3, loss: 0.001, rtt_ms: 400 },
        { session: 17, loss: 0.04, rtt_ms: 120.0 },
        { session: 9, loss: 0.001, rtt_ms: 35.25 },
        { session: 4, loss: 0, rtt_ms: null },
        { session: 5, loss: null, rtt_ms: 80 },
      ],
    });
    assert.deepEqual(stats.worstRows(s), [
      { session: '#17', loss: '4.0 %', rtt: '120 ms' },
      { session: '#3', loss: '0.1 %', rtt: '400 ms' },
      { session: '#9', loss: '0.1 %', rtt: '35.3 ms' },
      { session: '#4', loss: '0.0 %', rtt: '–' },
      { session: '#5', loss: '–', rtt: '80 ms' },
    ]);
  });

  it('formats bit rates, percentages and numbers for people', () => {
    assert.equal(stats.formatBits(21_000_000), '21 Mbit/s');
    assert.equal(stats.formatBits(5_400_000), '5.4 Mbit/s');
    assert.equal(stats.formatBits(950), '950 bit/s');
    assert.equal(stats.formatBits(null), '–');
    assert.equal(stats.formatPercent(0.25), '25 %');
    assert.equal(stats.formatNumber(0.213), '0.21');
    assert.equal(stats.formatNumber(1234.5), '1,235');
  });
});

describe('operator page: the key in the URL fragment', () => {
  it('takes the key from #key=, and nothing from an empty or absent one', () => {
    assert.equal(key.keyFromFragment('#key=0a1b2c'), '0a1b2c');
    assert.equal(key.keyFromFragment('#x=1&key=ff'), 'ff');
    assert.equal(key.keyFromFragment('#key='), null);
    assert.equal(key.keyFromFragment(''), null);
    assert.equal(key.keyFromFragment('#token=abc'), null);
  });
});
