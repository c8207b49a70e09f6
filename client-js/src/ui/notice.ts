// Full-page notices: no join link, left the meeting, fatal errors.

import { h } from './dom';
import { icon, type IconName } from './icons';

export interface NoticeAction {
  label: string;
  primary?: boolean;
  run(): void;
}

export interface Notice {
  /** Stable name for tests and styling, e.g. `left`, `error`, `no-link`. */
  kind: string;
  icon: IconName;
  title: string;
  /** Plain sentences; the server's own message goes in `detail`. */
  body?: string;
  /** The server's message, shown verbatim. */
  detail?: string;
  actions?: NoticeAction[];
}

export function noticeScreen(notice: Notice): HTMLElement {
  const actions = (notice.actions ?? []).map((a, i) =>
    h(
      'button',
      {
        type: 'button',
        class: a.primary ? 'button primary' : 'button',
        'data-autofocus': i === 0 ? true : undefined,
        onclick: () => a.run(),
      },
      a.label,
    ),
  );
  return h(
    'main',
    { class: `screen notice notice-${notice.kind}`, 'data-screen': notice.kind },
    h(
      'section',
      { class: 'card notice-card', 'aria-labelledby': 'notice-title' },
      h('div', { class: 'notice-icon' }, icon(notice.icon)),
      h('h1', { id: 'notice-title', 'data-testid': 'notice-title' }, notice.title),
      notice.body ? h('p', { class: 'notice-body' }, notice.body) : null,
      notice.detail
        ? h('p', { class: 'notice-detail', 'data-testid': 'error-message' }, notice.detail)
        : null,
      actions.length ? h('div', { class: 'notice-actions' }, ...actions) : null,
    ),
  );
}
