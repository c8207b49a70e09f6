// `/metrics` as an operator's tools see it (docs/metrics.md): a real Prometheus scrapes a node
// with its bearer token while bots hold a meeting; promtool accepts deploy/prometheus/; every
// series the Grafana dashboard (deploy/grafana/) queries exists; and nothing in the export
// names an address, a room, an identity or a secret, and neither do the server's log lines nor
// the webhook bodies sent during the meeting.
//
// Needs /usr/bin/prometheus and /usr/bin/promtool (`scripts/setup.sh test`), VEIL_BIN and
// VEIL_LOADTEST_BIN (see harness.mjs, bots.mjs).

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

import { randomHex, reportQuality, startBotMeeting } from './bots.mjs';
import { CLIENT_DIR, eventually, freePort, startServer } from './harness.mjs';

const PROMETHEUS = process.env.PROMETHEUS ?? '/usr/bin/prometheus';
const PROMTOOL = process.env.PROMTOOL ?? '/usr/bin/promtool';
const DEPLOY = resolve(CLIENT_DIR, '../deploy');
const LOG = process.env.VEIL_TEST_LOG === '1';
const run = promisify(execFile);

const secret = randomHex();
const adminKey = randomHex();
const metricsToken = randomHex();
/** The signaling-only participant's room and identity (the bots' are load-PID-N and load-N). */
const ROOM = 'metrics-privacy-check';
const IDENTITY = 'ada-metrics-check';

/** A scrape of the node's /metrics (the token unless `token: null`): `{ status, text }`. */
async function scrape(server, token = metricsToken) {
  const res = await fetch(`${server.url}/metrics`, token ? { headers: { Authorization: `Bearer ${token}` } } : {});
  return { status: res.status, text: await res.text() };
}

/** Sample lines by series name (`name` or `name{...}`, value). */
function seriesNames(text) {
  const names = new Set();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line);
    if (m) names.add(m[1]);
  }
  return names;
}

/** The value of the sample `series` (exact, with labels as printed) in a scrape, or undefined. */
function sampleValue(text, series) {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

/** Every `expr` (and template query) in the Grafana dashboard. */
function dashboardQueries(dashboard) {
  const out = [];
  const walk = (v) => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if ((k === 'expr' || k === 'definition') && typeof x === 'string') out.push(x);
        else walk(x);
      }
    }
  };
  walk(dashboard);
  return out;
}

describe('metrics: Prometheus scraping a node during a meeting', () => {
  let server;
  let bots;
  let prometheus;
  let promDir;
  let promUrl;
  let promLog = [];
  let client;
  /** A scrape taken while the bots meet. */
  let during;
  /** A webhook receiver, and the bodies it was sent. */
  let hooks;
  const hookBodies = [];

  before(async () => {
    hooks = createHttpServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        hookBodies.push(body);
        res.end();
      });
    });
    await new Promise((r) => hooks.listen(0, '127.0.0.1', r));
    promDir = await mkdtemp(join(tmpdir(), 'veil-prom-'));
    const config = join(promDir, 'veil.toml');
    const hookUrl = `http://127.0.0.1:${hooks.address().port}/hooks`;
    await writeFile(config, `[[webhooks]]\nurl = "${hookUrl}"\nsecret = "${randomHex()}"\n`);
    server = await startServer({
      args: ['--config', config],
      env: { VEIL_API_SECRET: secret, VEIL_ADMIN_KEY: adminKey, VEIL_METRICS_TOKEN: metricsToken },
    });
    bots = startBotMeeting(server, secret, { n: 3, duration: 25 });

    await writeFile(join(promDir, 'token'), metricsToken, { mode: 0o600 });
    const host = new URL(server.url).host;
    await writeFile(
      join(promDir, 'prometheus.yml'),
      [
        'global:',
        '  scrape_interval: 1s',
        '  evaluation_interval: 1s',
        'scrape_configs:',
        '  - job_name: veil',
        '    scrape_interval: 1s',
        '    scrape_timeout: 1s',
        '    metrics_path: /metrics',
        '    authorization:',
        '      type: Bearer',
        `      credentials_file: ${join(promDir, 'token')}`,
        '    static_configs:',
        `      - targets: ['${host}']`,
        '',
      ].join('\n'),
    );
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    prometheus = spawn(
      PROMETHEUS,
      [
        `--config.file=${join(promDir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(promDir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    prometheus.stderr.on('data', (d) => {
      promLog.push(String(d));
      if (LOG) process.stderr.write(`[prometheus] ${d}`);
    });
    const promExit = new Promise((r) => prometheus.once('exit', r));
    await Promise.race([
      eventually('Prometheus ready', async () => (await fetch(`${promUrl}/-/ready`)).ok, { timeout: 20_000, interval: 200 }),
      promExit.then((code) => {
        throw new Error(`prometheus exited (${code}):\n${promLog.join('')}`);
      }),
    ]);
  });

  after(async () => {
    client?.ws.close();
    await bots?.stop();
    if (prometheus && prometheus.exitCode === null) {
      const gone = new Promise((r) => prometheus.once('exit', r));
      prometheus.kill('SIGTERM');
      await gone;
    }
    if (promDir) await rm(promDir, { recursive: true, force: true });
    await server?.stop();
    hooks?.close();
  });

  it('refuses a scrape without the token, or with another', async () => {
    assert.equal((await scrape(server, null)).status, 401);
    assert.equal((await scrape(server, randomHex())).status, 401);
    const ok = await scrape(server);
    assert.equal(ok.status, 200, ok.text.slice(0, 500));
  });

  it('counts clients’ quality reports and decryption failures', async () => {
    client = await reportQuality(server, { room: ROOM, identity: IDENTITY, quality: 'poor', decryptFailures: 3 });
    const text = await eventually(
      'the report counted in /metrics',
      async () => {
        const { text } = await scrape(server);
        const poor = sampleValue(text, 'veil_quality_reports_total{quality="poor"}');
        const failures = sampleValue(text, 'veil_client_decrypt_failures_total');
        if (!(poor >= 1 && failures >= 3)) throw new Error(`poor reports ${poor}, decrypt failures ${failures}`);
        return text;
      },
      { timeout: 10_000, interval: 250 },
    );
    assert.ok(sampleValue(text, 'veil_participants_by_quality{quality="poor"}') >= 1, 'the reporter counts as poor');
    const errors = client.messages.filter((m) => m.type === 'error');
    assert.deepEqual(errors, [], 'the server took the report without an error');
  });

  it('is scraped by Prometheus while the bots meet: participants and forwarded packets', async () => {
    const query = async (q) => {
      const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`);
      const body = await res.json();
      if (body.status !== 'success') throw new Error(`${q}: ${JSON.stringify(body)}`);
      return body.data.result;
    };
    let last = null;
    await eventually(
      'Prometheus to see ≥ 3 participants and packets forwarded',
      async () => {
        const participants = await query('veil_participants');
        const rate = await query('rate(veil_rtp_packets_forwarded_total[10s])');
        last = { participants, rate };
        const p = Number(participants[0]?.value?.[1] ?? 0);
        const r = Number(rate[0]?.value?.[1] ?? 0);
        if (!(p >= 3 && r > 0)) {
          const targets = await (await fetch(`${promUrl}/api/v1/targets`)).json();
          const health = targets.data?.activeTargets?.map((t) => `${t.health} ${t.lastError}`).join('; ');
          throw new Error(`participants ${p}, forwarded/s ${r}; targets: ${health}; bots: ${bots.output().slice(-500)}`);
        }
        return true;
      },
      { timeout: 35_000, interval: 1000 },
    );
    assert.ok(last);
    during = await scrape(server);
    assert.equal(during.status, 200);
  });

  it('exports every series the Grafana dashboard queries', async () => {
    assert.ok(during, 'a scrape during the meeting (the test before)');
    const dashboard = JSON.parse(await readFile(join(DEPLOY, 'grafana/veil-dashboard.json'), 'utf8'));
    const wanted = new Set();
    for (const expr of dashboardQueries(dashboard)) {
      for (const m of expr.matchAll(/\b(veil|process)_[a-z_]+/g)) wanted.add(m[0]);
    }
    assert.ok(wanted.size >= 10, `the dashboard queries ${[...wanted]}`);
    const exported = seriesNames(during.text);
    const families = new Set([...exported].map((n) => n.replace(/_(bucket|sum|count)$/, '')));
    const missing = [...wanted].filter((n) => !exported.has(n) && !families.has(n.replace(/_(bucket|sum|count)$/, '')));
    assert.deepEqual(missing, [], `queried by the dashboard but not in /metrics:\n${[...families].sort().join('\n')}`);
  });

  it('exports every series docs/metrics.md lists, and no veil_ series it does not', async () => {
    assert.ok(during, 'a scrape during the meeting');
    const doc = await readFile(resolve(CLIENT_DIR, '../docs/metrics.md'), 'utf8');
    const documented = new Set([...doc.matchAll(/^\| `((?:veil|process)_[a-z_]+)` \|/gm)].map((m) => m[1]));
    assert.ok(documented.size >= 30, `docs/metrics.md lists ${[...documented]}`);
    const families = new Set([...seriesNames(during.text)].map((n) => n.replace(/_(bucket|sum|count)$/, '')));
    const missing = [...documented].filter((n) => !families.has(n));
    assert.deepEqual(missing, [], 'documented but not exported (a labelled series nothing has touched yet is missing too)');
    const undocumented = [...families].filter((n) => n.startsWith('veil_') && !documented.has(n));
    assert.deepEqual(undocumented, [], 'exported but not documented');
  });

  it('names no address, room, identity or secret: not in /metrics, the log or webhooks', async () => {
    assert.ok(during, 'a scrape during the meeting');
    const now = await scrape(server);
    await eventually('webhooks about the meeting', () => hookBodies.some((b) => b.includes('participant_joined')));
    // The log, but for the line that says where the SFU listens (its own address, once).
    const log = server
      .allLogs()
      .split('\n')
      .filter((l) => !l.includes('SFU listening'))
      .join('\n');
    assert.ok(log.includes('joined'), 'the server logged the joins');
    assert.ok(client?.token, 'the reporter joined with a token');
    for (const text of [during.text, now.text, log, hookBodies.join('\n')]) {
      // A JWT's signature is its last part: no text may carry it.
      assert.ok(!text.includes(client.token.split('.')[2]), 'the join token');
      for (const [what, needle] of [
        ['the loopback address', '127.0.0.1'],
        ['the room', ROOM],
        ['the identity', IDENTITY],
        ["the bots' rooms and identities", 'load-'],
        ['the metrics token', metricsToken],
        ['the admin key', adminKey],
        ['the API secret', secret],
      ]) {
        const line = text.split('\n').find((l) => l.includes(needle));
        assert.equal(line, undefined, `a line of /metrics, the log or a webhook names ${what}: ${line}`);
      }
    }
  });

  it('ships Prometheus configuration that promtool accepts', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'veil-promtool-'));
    try {
      await copyFile(join(DEPLOY, 'prometheus/prometheus.yml'), join(dir, 'prometheus.yml'));
      await copyFile(join(DEPLOY, 'prometheus/alerts.yml'), join(dir, 'alerts.yml'));
      await writeFile(join(dir, 'veil-metrics-token'), 'dummy-token\n', { mode: 0o600 });
      const rules = await run(PROMTOOL, ['check', 'rules', join(dir, 'alerts.yml')]);
      assert.match(rules.stdout, /SUCCESS: 5 rules found/);
      const config = await run(PROMTOOL, ['check', 'config', join(dir, 'prometheus.yml')]);
      assert.match(config.stdout, /SUCCESS/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('alerts on series the node exports', async () => {
    assert.ok(during, 'a scrape during the meeting');
    const families = new Set([...seriesNames(during.text)].map((n) => n.replace(/_(bucket|sum|count)$/, '')));
    const alerts = await readFile(join(DEPLOY, 'prometheus/alerts.yml'), 'utf8');
    const used = new Set([...alerts.matchAll(/\b(veil|process)_[a-z_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, '')));
    const missing = [...used].filter((n) => !families.has(n));
    assert.deepEqual(missing, [], 'alert rules over series /metrics does not have');
  });
});
