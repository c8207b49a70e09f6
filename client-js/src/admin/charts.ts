// The operator page's time-series panels, drawn with uPlot. Each panel is a card with a title,
// its current values and a chart that follows its container's width.

import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

import { h } from '../ui/dom';
import { formatBits, formatNumber, type Columns, type PanelData } from './stats';

interface SeriesDef {
  label: string;
  color: string;
  /** Filled under the line (for counts that are parts of a whole). */
  fill?: boolean;
}

export interface PanelDef {
  key: keyof PanelData;
  title: string;
  /** The unit, after the current values and on hover. */
  format: (v: number | null) => string;
  series: SeriesDef[];
  /** The y axis starts at zero (counts, rates); otherwise uPlot fits it. */
  fromZero?: boolean;
}

const count = (v: number | null): string => (v === null ? '–' : formatNumber(v));
const ms = (v: number | null): string => (v === null ? '–' : `${formatNumber(v)} ms`);
const cores = (v: number | null): string => (v === null ? '–' : `${formatNumber(v)} cores`);
const mib = (v: number | null): string => (v === null ? '–' : `${formatNumber(v)} MiB`);

export const PANELS: PanelDef[] = [
  {
    key: 'people',
    title: 'Rooms and participants',
    format: count,
    fromZero: true,
    series: [
      { label: 'Rooms', color: '#6b4fbb' },
      { label: 'Participants', color: '#1f6feb' },
      { label: 'In a lobby', color: '#8b949e' },
    ],
  },
  {
    key: 'quality',
    title: 'Connection quality (participants by their latest report)',
    format: count,
    fromZero: true,
    series: [
      { label: 'Good', color: '#1a7f37' },
      { label: 'Fair', color: '#bf8700' },
      { label: 'Poor', color: '#cf222e' },
      { label: 'Lost', color: '#57606a' },
    ],
  },
  {
    key: 'delay',
    title: 'Forwarding delay',
    format: ms,
    fromZero: true,
    series: [
      { label: 'p50', color: '#1a7f37' },
      { label: 'p90', color: '#bf8700' },
      { label: 'p99', color: '#cf222e' },
    ],
  },
  {
    key: 'bandwidth',
    title: 'Bandwidth',
    format: formatBits,
    fromZero: true,
    series: [
      { label: 'In', color: '#1f6feb' },
      { label: 'Out', color: '#8250df' },
    ],
  },
  { key: 'cpu', title: 'CPU', format: cores, fromZero: true, series: [{ label: 'CPU', color: '#bc4c00', fill: true }] },
  {
    key: 'memory',
    title: 'Memory (resident)',
    format: mib,
    fromZero: true,
    series: [{ label: 'Memory', color: '#0a7ea4', fill: true }],
  },
];

const CHART_HEIGHT = 200;
const MIN_WINDOW_SECS = 60;

/** A panel on the page: its card and, once there is data, its chart. */
export class Panel {
  readonly element: HTMLElement;
  private readonly body: HTMLElement;
  private readonly current: HTMLElement;
  private plot: uPlot | null = null;

  constructor(readonly def: PanelDef) {
    this.current = h('div', { class: 'current' });
    this.body = h('div', { class: 'chart' });
    this.element = h(
      'section',
      { class: 'panel', 'data-panel': def.key, 'data-samples': 0 },
      h('h2', {}, def.title),
      this.current,
      this.body,
    );
  }

  /** Draws `data` (creating the chart the first time, when the card is in the page). */
  update(data: Columns): void {
    const samples = data[0].length;
    this.element.setAttribute('data-samples', String(samples));
    this.current.replaceChildren(
      ...this.def.series.map((s, i) => {
        const v = data[i + 1]?.at(-1) ?? null;
        return h(
          'span',
          { class: 'value', 'data-series': s.label },
          h('i', { class: 'swatch', style: `background:${s.color}` }),
          `${s.label} `,
          h('b', {}, this.def.format(v)),
        );
      }),
    );
    if (!this.plot) this.plot = this.create(data);
    else this.plot.setData(data as uPlot.AlignedData);
  }

  resize(): void {
    this.plot?.setSize({ width: this.width(), height: CHART_HEIGHT });
  }

  destroy(): void {
    this.plot?.destroy();
    this.plot = null;
  }

  private width(): number {
    return Math.max(200, Math.floor(this.body.clientWidth || this.element.clientWidth - 32));
  }

  private create(data: Columns): uPlot {
    const format = this.def.format;
    const opts: uPlot.Options = {
      width: this.width(),
      height: CHART_HEIGHT,
      legend: { show: true, live: true },
      cursor: { drag: { x: false, y: false } },
      // At least the last minute, so that the first few samples do not stretch over the width
      // with ticks every half second.
      scales: { x: { time: true, range: (_u, min, max) => [Math.min(min, max - MIN_WINDOW_SECS), max] }, y: this.def.fromZero ? { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } : {} },
      axes: [
        { stroke: '#57606a', grid: { stroke: '#eaeef2' }, ticks: { stroke: '#d0d7de' } },
        {
          stroke: '#57606a',
          grid: { stroke: '#eaeef2' },
          ticks: { stroke: '#d0d7de' },
          size: 80,
          values: (_u, splits) => splits.map((v) => format(v)),
        },
      ],
      series: [
        {},
        ...this.def.series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: 2,
          ...(s.fill ? { fill: `${s.color}22` } : {}),
          value: (_u: uPlot, v: number | null) => format(v),
          spanGaps: false,
        })),
      ],
    };
    return new uPlot(opts, data as uPlot.AlignedData, this.body);
  }
}
