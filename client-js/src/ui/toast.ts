// Short, non-blocking notices ("Bob joined", a non-fatal server error).

import { h } from './dom';

const TOAST_MS = 5_000;

function region(): HTMLElement {
  let el = document.getElementById('toasts');
  if (!el) {
    el = h('div', { id: 'toasts', class: 'toasts', role: 'status', 'aria-live': 'polite' });
    document.body.appendChild(el);
  }
  return el;
}

export function toast(message: string, kind: 'info' | 'error' = 'info'): void {
  const item = h('div', { class: `toast toast-${kind}`, 'data-testid': 'toast' }, message);
  region().appendChild(item);
  window.setTimeout(() => {
    item.classList.add('leaving');
    window.setTimeout(() => item.remove(), 300);
  }, TOAST_MS);
}
