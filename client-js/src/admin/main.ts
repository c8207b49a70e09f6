// The operator page at /admin (docs/metrics.md, "The dashboard"): reads /admin/api/stats with
// the admin key every 2 s and shows the node's rooms, participants, call quality, forwarding
// delay, bandwidth, CPU and memory over the last 10 minutes, and its worst subscribers.
//
// The page's state is on <body data-state>: "need-key" (the form), "loading", "live",
// "refused" (401: the form again), "unreachable" (retrying), "error" (another answer, retrying).

import './admin.css';

import { h } from '../ui/dom';
import { Panel, PANELS } from './charts';
import { forgetKey, initialKey, storeKey } from './key';
import { formatNumber, headline, panelData, parseStats, worstRows, type Stats } from './stats';

const POLL_MS = 2_000;
const STATS_URL = '/admin/api/stats';

type State = 'need-key' | 'loading' | 'live' | 'refused' | 'unreachable' | 'error';

const root = document.getElementById('admin');
if (!root) throw new Error('admin.html has no #admin element');

const updated = h('span', { class: 'updated', 'data-testid': 'updated' });
const status = h('p', { class: 'status', role: 'status', 'data-testid': 'status' });
const main = h('main', { class: 'dashboard' });
root.replaceChildren(
  h(
    'header',
    { class: 'top' },
    h('h1', {}, h('span', { class: 'logo', 'aria-hidden': 'true' }), 'Veil node'),
    updated,
  ),
  status,
  main,
);

let key: string | null = initialKey();
let timer: number | undefined;
let generation = 0;
let dashboard: Dashboard | null = null;

function setState(state: State, message: string | null): void {
  document.body.setAttribute('data-state', state);
  status.textContent = message ?? '';
  status.className = `status ${state}`;
  status.hidden = message === null;
}

/** The panels, headline numbers and table; built at the first answer, removed on refusal. */
class Dashboard {
  readonly element: HTMLElement;
  private readonly panels = PANELS.map((def) => new Panel(def));
  private readonly numbers = {
    rooms: h('b', { 'data-testid': 'headline-rooms' }, '–'),
    participants: h('b', { 'data-testid': 'headline-participants' }, '–'),
    lobby: h('b', { 'data-testid': 'headline-lobby' }, '–'),
    packets: h('b', { 'data-testid': 'headline-packets' }, '–'),
  };
  private readonly rows = h('tbody');
  private readonly empty = h('p', { class: 'empty' }, 'No subscriber reports loss or a round trip yet.');
  private readonly observer = new ResizeObserver(() => {
    for (const p of this.panels) p.resize();
  });

  constructor() {
    const stat = (label: string, value: HTMLElement): HTMLElement =>
      h('div', { class: 'stat' }, value, h('span', {}, label));
    this.element = h(
      'div',
      { class: 'content' },
      h(
        'section',
        { class: 'headline', 'aria-label': 'Now' },
        stat('rooms', this.numbers.rooms),
        stat('participants', this.numbers.participants),
        stat('in a lobby', this.numbers.lobby),
        stat('packets out/s', this.numbers.packets),
      ),
      h('div', { class: 'grid' }, ...this.panels.map((p) => p.element)),
      h(
        'section',
        { class: 'panel worst', 'data-testid': 'worst' },
        h('h2', {}, 'Worst subscribers'),
        h(
          'table',
          {},
          h('thead', {}, h('tr', {}, h('th', {}, 'Session'), h('th', {}, 'Loss'), h('th', {}, 'Round trip'))),
          this.rows,
        ),
        this.empty,
      ),
    );
  }

  attach(parent: HTMLElement): void {
    parent.replaceChildren(this.element);
    this.observer.observe(parent);
  }

  render(stats: Stats): void {
    const now = headline(stats);
    this.numbers.rooms.textContent = now ? formatNumber(now.rooms) : '–';
    this.numbers.participants.textContent = now ? formatNumber(now.participants) : '–';
    this.numbers.lobby.textContent = now ? formatNumber(now.lobby) : '–';
    this.numbers.packets.textContent = now ? formatNumber(now.packetsOutPerSecond) : '–';
    const data = panelData(stats);
    for (const p of this.panels) p.update(data[p.def.key]);
    const rows = worstRows(stats);
    this.rows.replaceChildren(
      ...rows.map((r) => h('tr', {}, h('td', {}, r.session), h('td', {}, r.loss), h('td', {}, r.rtt))),
    );
    this.empty.hidden = rows.length > 0;
  }

  destroy(): void {
    this.observer.disconnect();
    for (const p of this.panels) p.destroy();
    this.element.remove();
  }
}

function showForm(message: string | null, state: State): void {
  window.clearTimeout(timer);
  generation++;
  dashboard?.destroy();
  dashboard = null;
  setState(state, message);
  const input = h('input', {
    type: 'password',
    name: 'key',
    autocomplete: 'off',
    spellcheck: 'false',
    required: true,
    'data-testid': 'key-input',
    'aria-label': 'Admin key',
  });
  const form = h(
    'form',
    { class: 'panel key-form', 'data-testid': 'key-form' },
    h('h2', {}, 'Admin key'),
    h('p', {}, 'This page needs the node’s admin key. It stays in this tab and is sent only to this server.'),
    input,
    h('button', { type: 'submit', class: 'button primary' }, 'Show the dashboard'),
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const value = input.value.trim();
    if (!value) return;
    key = value;
    storeKey(value);
    start();
  });
  main.replaceChildren(form);
  input.focus();
}

function start(): void {
  window.clearTimeout(timer);
  generation++;
  setState('loading', 'Loading…');
  main.replaceChildren();
  void poll(generation);
}

async function poll(gen: number): Promise<void> {
  if (gen !== generation || key === null) return;
  let next = true;
  try {
    const res = await fetch(STATS_URL, { headers: { Authorization: `Bearer ${key}` }, cache: 'no-store' });
    if (gen !== generation) return;
    if (res.status === 401 || res.status === 403) {
      forgetKey();
      key = null;
      next = false;
      showForm('The admin key was refused. Enter the key this node was started with.', 'refused');
      return;
    }
    if (!res.ok) {
      setState('error', `The server answered ${res.status} ${res.statusText}; trying again.`);
      return;
    }
    const stats = parseStats(await res.json());
    if (gen !== generation) return;
    if (!dashboard) {
      dashboard = new Dashboard();
      dashboard.attach(main);
    }
    dashboard.render(stats);
    const latest = stats.samples.at(-1);
    updated.textContent = latest
      ? `updated ${new Date(latest.time).toLocaleTimeString()}`
      : 'no samples yet';
    setState('live', null);
  } catch (err) {
    if (gen !== generation) return;
    if (err instanceof TypeError) setState('unreachable', 'Cannot reach the server; trying again.');
    else setState('error', `The server's answer could not be read (${err instanceof Error ? err.message : err}); trying again.`);
  } finally {
    if (next && gen === generation) timer = window.setTimeout(() => void poll(gen), POLL_MS);
  }
}

if (key === null) showForm(null, 'need-key');
else start();
