// The chat panel: the messages on screen now (chat.ts), each with its sender as the encrypted
// group names them and the verified mark of the security panel, the time left before it
// disappears, and a box to write in with the sender's own "disappear after" choice. The toggle
// button in the top bar counts what arrived while the panel was closed.
//
// Texts are set with textContent only. Rows are kept per message and updated in place (the
// countdown changes every second), so text being selected or read is not redrawn away.

import { TTL_CHOICES, type ChatEntry } from '../chat';
import { h } from './dom';
import { icon } from './icons';

/** How a sender is shown: its name from the group, and whether the user verified it. */
export interface ChatSender {
  name: string;
  verified: boolean;
}

/** What the panel shows. */
export interface ChatView {
  messages: readonly ChatEntry[];
  sender(participantId: string): ChatSender;
  /** We are in the encryption group: chat can go out. */
  ready: boolean;
  /** Why not, when not ready. */
  waiting: string;
  /** The room's retention, in seconds. */
  retentionSecs: number;
  /** This client's clock (ms), for the time left. */
  now: number;
}

export interface ChatActions {
  /** Sends a message; returns whether it went (else the box keeps the text). */
  send(text: string, ttlSecs: number): boolean;
}

/** "10 seconds", "1 minute", "5 minutes", "1 hour", "1 day". */
export function duration(secs: number): string {
  const units: [number, string][] = [
    [86_400, 'day'],
    [3_600, 'hour'],
    [60, 'minute'],
  ];
  for (const [size, unit] of units) {
    if (secs >= size && secs % size === 0) return plural(secs / size, unit);
  }
  return plural(secs, 'second');
}

function plural(n: number, unit: string): string {
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

/** The time left, rounded up to what the eye needs: "8 s", "4 min", "2 h". */
function timeLeft(ms: number): string {
  const secs = Math.max(0, Math.ceil(ms / 1000));
  const mins = Math.ceil(secs / 60);
  if (secs < 60) return `${secs} s`;
  if (mins < 60) return `${mins} min`;
  return `${Math.ceil(secs / 3_600)} h`;
}

const key = (m: ChatEntry): string => `${m.sender}/${m.id}`;

/** Sets `el`'s text only when it changes: the panel re-renders every second. */
function setText(el: HTMLElement, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}

export class ChatPanel {
  readonly element: HTMLElement;
  readonly button: HTMLButtonElement;
  private readonly unread: HTMLElement;
  private readonly intro: HTMLElement;
  private readonly list: HTMLElement;
  private readonly empty: HTMLElement;
  private readonly input: HTMLTextAreaElement;
  private readonly ttl: HTMLSelectElement;
  private readonly sendButton: HTMLButtonElement;
  private readonly rows = new Map<string, HTMLElement>();
  /** Others' messages that arrived while the panel was closed. */
  private readonly unseen = new Set<string>();
  private retentionSecs = 0;

  constructor(
    private readonly actions: ChatActions,
    onToggle: () => void,
  ) {
    this.unread = h('span', { class: 'chat-unread', 'data-testid': 'chat-unread', hidden: true });
    this.button = h(
      'button',
      {
        type: 'button',
        class: 'people chat-toggle',
        title: 'Chat',
        'data-testid': 'chat-button',
        'aria-label': 'Chat',
        'aria-expanded': 'false',
        onclick: () => onToggle(),
      },
      h('span', {}, 'Chat'),
      this.unread,
    );
    this.intro = h('p', { class: 'muted small chat-intro' });
    this.list = h('ol', { class: 'chat-list', 'data-testid': 'chat-list', 'aria-live': 'polite' });
    this.empty = h('p', { class: 'muted small chat-empty' }, 'No messages. People who join later see nothing from before.');
    this.input = h('textarea', {
      class: 'chat-input',
      'data-testid': 'chat-input',
      rows: 2,
      placeholder: 'Message everyone in the call',
      'aria-label': 'Message',
    });
    this.input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.send();
      }
    });
    this.ttl = h('select', { class: 'chat-ttl', 'data-testid': 'chat-ttl', 'aria-label': 'Disappear after' });
    this.sendButton = h(
      'button',
      { type: 'button', class: 'button primary small', 'data-testid': 'chat-send', onclick: () => this.send() },
      'Send',
    );
    this.element = h(
      'aside',
      { class: 'side-panel chat-panel', 'data-testid': 'chat-panel', 'aria-label': 'Chat', hidden: true },
      h(
        'div',
        { class: 'panel-head' },
        h('h2', {}, 'Chat'),
        h(
          'button',
          { type: 'button', class: 'icon-button', 'aria-label': 'Close chat', onclick: () => this.toggle(false) },
          icon('close'),
        ),
      ),
      h('div', { class: 'panel-body chat-body' }, this.intro, this.empty, this.list),
      h(
        'div',
        { class: 'chat-compose' },
        this.input,
        h('div', { class: 'chat-compose-row' }, h('label', {}, 'Disappear after', this.ttl), this.sendButton),
      ),
    );
  }

  get open(): boolean {
    return !this.element.hidden;
  }

  toggle(open = !this.open): void {
    this.element.hidden = !open;
    this.button.setAttribute('aria-expanded', String(open));
    if (!open) return;
    this.unseen.clear();
    this.showUnread();
    this.input.focus({ preventScroll: true });
  }

  render(view: ChatView): void {
    this.renderChoices(view.retentionSecs);
    setText(
      this.intro,
      'End-to-end encrypted for the people in the call now. Each message disappears from every ' +
        `screen after ${duration(view.retentionSecs)}, or sooner if its sender chose so; anyone ` +
        'here can still copy it before then.',
    );
    this.input.disabled = !view.ready;
    this.sendButton.disabled = !view.ready;
    const placeholder = view.ready ? 'Message everyone in the call' : view.waiting;
    if (this.input.placeholder !== placeholder) this.input.placeholder = placeholder;

    const atBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 40;
    const current = new Set(view.messages.map(key));
    for (const [k, row] of this.rows) {
      if (current.has(k)) continue;
      row.remove();
      this.rows.delete(k);
      this.unseen.delete(k);
    }
    let added = false;
    for (const m of view.messages) {
      let row = this.rows.get(key(m));
      if (!row) {
        row = this.row(m);
        this.rows.set(key(m), row);
        this.list.append(row);
        if (!m.own && !this.open) this.unseen.add(key(m));
        added = true;
      }
      this.update(row, m, view);
    }
    this.empty.hidden = view.messages.length > 0;
    this.showUnread();
    if (added && (atBottom || view.messages.at(-1)?.own)) this.list.scrollTop = this.list.scrollHeight;
  }

  private send(): void {
    const text = this.input.value;
    if (!text.trim() || this.input.disabled) return;
    if (this.actions.send(text, Number(this.ttl.value))) this.input.value = '';
    this.input.focus({ preventScroll: true });
  }

  /** The sender's choices: the room's retention, and those of the shorter times that are shorter. */
  private renderChoices(retentionSecs: number): void {
    if (retentionSecs === this.retentionSecs) return;
    this.retentionSecs = retentionSecs;
    const chosen = this.ttl.value;
    this.ttl.replaceChildren(
      ...TTL_CHOICES.filter((secs) => secs === 0 || secs < retentionSecs).map((secs) =>
        h('option', { value: String(secs) }, secs === 0 ? `Room default (${duration(retentionSecs)})` : duration(secs)),
      ),
    );
    if ([...this.ttl.options].some((o) => o.value === chosen)) this.ttl.value = chosen;
  }

  private row(m: ChatEntry): HTMLElement {
    const text = h('div', { class: 'chat-text', 'data-testid': 'chat-text' });
    text.textContent = m.text;
    return h(
      'li',
      { class: m.own ? 'chat-message own' : 'chat-message', 'data-testid': 'chat-message', 'data-message-id': m.id },
      h(
        'div',
        { class: 'chat-meta' },
        h('span', { class: 'chat-sender', 'data-testid': 'chat-sender' }),
        h('span', { class: 'chat-mark' }),
        h('span', { class: 'chat-expiry muted', 'data-testid': 'chat-expiry' }),
      ),
      text,
      h('div', { class: 'chat-unsent', 'data-testid': 'chat-unsent', hidden: true }),
    );
  }

  /** What changes while a message is on screen: its sender's name and mark, the time left. */
  private update(row: HTMLElement, m: ChatEntry, view: ChatView): void {
    const sender = m.own ? { name: 'You', verified: false } : view.sender(m.sender);
    const name = row.querySelector<HTMLElement>('.chat-sender');
    if (name) setText(name, sender.name);
    name?.setAttribute('data-verified', String(sender.verified));
    name?.setAttribute('data-participant-id', m.sender);
    const mark = row.querySelector<HTMLElement>('.chat-mark');
    if (mark && (mark.childElementCount > 0) !== sender.verified) {
      // The panel's "Verified" chip: the user compared this member's fingerprint.
      mark.replaceChildren(
        ...(sender.verified
          ? [
              h(
                'span',
                { class: 'sec-chip sec-verified', title: 'You verified this person’s key.' },
                icon('shieldCheck'),
                h('span', { class: 'sec-label' }, 'Verified'),
              ),
            ]
          : []),
      );
    }
    const expiry = row.querySelector<HTMLElement>('.chat-expiry');
    if (expiry) setText(expiry, `disappears in ${timeLeft(m.expiresAt - view.now)}`);
    const unsent = row.querySelector<HTMLElement>('.chat-unsent');
    if (unsent && m.unsent !== null) {
      unsent.hidden = false;
      unsent.textContent = `Not sent: ${m.unsent}.`;
      row.classList.add('unsent');
    }
  }

  private showUnread(): void {
    const count = this.unseen.size;
    this.unread.hidden = count === 0;
    this.unread.textContent = count > 0 ? String(count) : '';
    this.button.setAttribute('aria-label', count > 0 ? `Chat, ${count} unread` : 'Chat');
  }
}
