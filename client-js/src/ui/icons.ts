// Inline SVG icons (24×24, stroked), so the client needs no icon font or extra request.

const SVG_NS = 'http://www.w3.org/2000/svg';

const PATHS = {
  mic: [
    'M12 2a3 3 0 0 1 3 3v6a3 3 0 0 1-6 0V5a3 3 0 0 1 3-3z',
    'M5 10v1a7 7 0 0 0 14 0v-1',
    'M12 18v4',
    'M8 22h8',
  ],
  micOff: [
    'M15 9.3V5a3 3 0 0 0-5.7-1.3',
    'M9 9v2a3 3 0 0 0 5.1 2.1',
    'M19 10v1a7 7 0 0 1-1.2 3.9',
    'M5 10v1a7 7 0 0 0 11.5 5.4',
    'M12 18v4',
    'M8 22h8',
    'M3 3l18 18',
  ],
  camera: ['M4 6h10a2 2 0 0 1 2 2v8a2 2 0 0 1-2 2H4a2 2 0 0 1-2-2V8a2 2 0 0 1 2-2z', 'M16 10l6-4v12l-6-4'],
  cameraOff: [
    'M10 6h4a2 2 0 0 1 2 2v4',
    'M16 10l6-4v12l-3.5-2.3',
    'M16 16a2 2 0 0 1-2 2H4a2 2 0 0 1-2-2V8a2 2 0 0 1 2-2',
    'M3 3l18 18',
  ],
  leave: ['M2 15.2C6.5 10.4 17.5 10.4 22 15.2l-2.4 3.2-3.6-1.8v-2.5c-2.6-.9-5.4-.9-8 0v2.5l-3.6 1.8z'],
  people: [
    'M9 11a4 4 0 1 0 0-8 4 4 0 0 0 0 8z',
    'M2 21v-1a6 6 0 0 1 6-6h2a6 6 0 0 1 6 6v1',
    'M16 3.1a4 4 0 0 1 0 7.8',
    'M19 14.2a6 6 0 0 1 3 5.8v1',
  ],
  alert: ['M12 3l10 18H2z', 'M12 10v5', 'M12 18v.01'],
  lock: ['M6 11h12a1 1 0 0 1 1 1v8a1 1 0 0 1-1 1H6a1 1 0 0 1-1-1v-8a1 1 0 0 1 1-1z', 'M8 11V7a4 4 0 0 1 8 0v4'],
  unlock: ['M6 11h12a1 1 0 0 1 1 1v8a1 1 0 0 1-1 1H6a1 1 0 0 1-1-1v-8a1 1 0 0 1 1-1z', 'M8 11V7a4 4 0 0 1 7.7-1.5'],
  shieldCheck: ['M12 2l8 3v6c0 5-3.4 9.3-8 11-4.6-1.7-8-6-8-11V5z', 'M8.5 12l2.5 2.5 4.5-5'],
  check: ['M5 12.5l4.5 4.5L19 7.5'],
  hourglass: ['M7 3h10', 'M7 21h10', 'M8 3c0 5 8 5 8 9s-8 4-8 9', 'M16 3c0 5-8 5-8 9s8 4 8 9'],
  close: ['M6 6l12 12', 'M18 6L6 18'],
  screen: ['M3 4h18a1 1 0 0 1 1 1v11a1 1 0 0 1-1 1H3a1 1 0 0 1-1-1V5a1 1 0 0 1 1-1z', 'M8 21h8', 'M12 17v4', 'M12 13V8', 'M9.5 10.5L12 8l2.5 2.5'],
  /** Signal bars, filled by quality in CSS (.quality). */
  signal: ['M5 20v-4', 'M12 20v-9', 'M19 20V5'],
  signalOff: ['M5 20v-4', 'M12 20v-9', 'M19 20V5', 'M3 3l18 18'],
  speakerView: ['M3 4h18v11H3z', 'M3 19h5', 'M10 19h4', 'M16 19h5'],
  gridView: ['M3 4h8v7H3z', 'M13 4h8v7h-8z', 'M3 13h8v7H3z', 'M13 13h8v7h-8z'],
  link: ['M10 14a5 5 0 0 0 7 0l3-3a5 5 0 0 0-7-7l-1 1', 'M14 10a5 5 0 0 0-7 0l-3 3a5 5 0 0 0 7 7l1-1'],
} as const;

export type IconName = keyof typeof PATHS;

export function icon(name: IconName, className = 'icon'): SVGSVGElement {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', className);
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  for (const d of PATHS[name]) {
    const path = document.createElementNS(SVG_NS, 'path');
    path.setAttribute('d', d);
    svg.appendChild(path);
  }
  return svg;
}
