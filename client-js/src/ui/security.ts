// What the call shows about end-to-end encryption: the header indicator (verification code,
// flagged when it changes), the security panel (members from MLS with their fingerprints and a
// "Mark verified" toggle each), and the per-tile state chip.

import type { GroupMember } from '../e2ee/mls';
import { groupFingerprint, STATE_LABEL, type CallSecurity, type SecurityState } from '../e2ee/security';
import type { SecuritySnapshot } from '../meeting';
import { h } from './dom';
import { icon, type IconName } from './icons';

const STATE_ICON: Record<SecurityState, IconName> = {
  verified: 'shieldCheck',
  encrypted: 'lock',
  'decryption-failing': 'alert',
  'not-encrypted': 'unlock',
  joining: 'hourglass',
};

/** The small state label on a tile's nameplate. */
export function stateChip(state: SecurityState): HTMLElement {
  return h(
    'span',
    {
      class: `sec-chip sec-${state}`,
      'data-testid': 'tile-security',
      'data-state': state,
      title: STATE_DESCRIPTION[state],
    },
    icon(STATE_ICON[state]),
    h('span', { class: 'sec-label' }, STATE_LABEL[state]),
  );
}

const STATE_DESCRIPTION: Record<SecurityState, string> = {
  verified: 'End-to-end encrypted, and you verified this person’s key.',
  encrypted: 'End-to-end encrypted: only the people in this call can see and hear this.',
  'decryption-failing': 'Media from this person cannot be decrypted; it is not shown.',
  'not-encrypted': 'This person’s media is not end-to-end encrypted; it is not shown.',
  joining: 'Joining the encryption group…',
};

/** How long the "changed" flag stays on the code when nobody opens the panel. */
const CHANGED_FLAG_MS = 30_000;

/** The header's security indicator: a button that opens the panel. */
export class SecurityIndicator {
  readonly element: HTMLButtonElement;
  private code: string | null = null;
  private changedTimer: number | undefined;
  private changed = false;

  constructor(onOpen: () => void) {
    this.element = h('button', {
      type: 'button',
      class: 'security-indicator',
      'data-testid': 'security-indicator',
      'aria-haspopup': 'dialog',
      onclick: () => onOpen(),
    });
    this.render('pending', null);
  }

  /** Returns true when the code changed (a new epoch with a new membership). */
  update(call: CallSecurity, code: string | null): boolean {
    const changed = code !== null && this.code !== null && code !== this.code;
    if (code !== null) this.code = code;
    if (changed) {
      this.changed = true;
      window.clearTimeout(this.changedTimer);
      this.changedTimer = window.setTimeout(() => this.acknowledge(), CHANGED_FLAG_MS);
    }
    this.render(call, this.code);
    return changed;
  }

  /** The user looked at the new code. */
  acknowledge(): void {
    if (!this.changed) return;
    this.changed = false;
    window.clearTimeout(this.changedTimer);
    this.element.querySelector('.code-changed')?.remove();
    this.element.classList.remove('changed');
  }

  dispose(): void {
    window.clearTimeout(this.changedTimer);
  }

  private render(call: CallSecurity, code: string | null): void {
    const el = this.element;
    el.dataset.call = call;
    el.classList.toggle('changed', this.changed);
    const codeEl = code ? h('span', { class: 'code', 'data-testid': 'security-code' }, code) : null;
    const changedEl = this.changed
      ? h('span', { class: 'code-changed', 'data-testid': 'security-code-changed' }, 'changed')
      : null;
    switch (call) {
      case 'off':
        el.replaceChildren(icon('unlock'), h('span', {}, 'Not end-to-end encrypted'));
        el.title = 'Encryption is switched off on this device: the server could see and hear this call.';
        break;
      case 'pending':
        el.replaceChildren(
          icon('hourglass'),
          h('span', {}, 'Setting up encryption…'),
          codeEl ?? '',
          changedEl ?? '',
        );
        el.title = 'Waiting for everyone to join the encryption group.';
        break;
      case 'at-risk':
        el.replaceChildren(icon('alert'), h('span', {}, 'Not everyone is encrypted'), codeEl ?? '', changedEl ?? '');
        el.title = 'Someone’s media is not end-to-end encrypted or cannot be decrypted. It is not shown.';
        break;
      case 'secure':
      case 'verified':
        el.replaceChildren(
          icon(call === 'verified' ? 'shieldCheck' : 'lock'),
          h('span', { class: 'code-label' }, call === 'verified' ? 'Verified · code' : 'Security code'),
          codeEl ?? '',
          changedEl ?? '',
        );
        el.title = 'End-to-end encrypted. Compare this code with everyone in the call.';
        break;
    }
    el.setAttribute(
      'aria-label',
      `${el.textContent ?? ''}. Open the security details.`.replace(/\s+/g, ' ').trim(),
    );
  }
}

export interface PanelRow {
  participantId: string;
  name: string;
  self: boolean;
  fingerprint: string | null;
  state: SecurityState;
  verified: boolean;
}

/** Rows for the panel: members from MLS first (by leaf), then room participants not in it. */
export function panelRows(snap: SecuritySnapshot, outside: { id: string; label: string }[]): PanelRow[] {
  const rows: PanelRow[] = snap.members.map((m: GroupMember) => ({
    participantId: m.participantId,
    name: m.displayName || m.participantId,
    self: m.participantId === snap.selfId,
    fingerprint: m.fingerprint,
    state: snap.states.get(m.participantId) ?? 'encrypted',
    verified: snap.verified.has(m.participantId),
  }));
  const inGroup = new Set(snap.members.map((m) => m.participantId));
  for (const o of outside) {
    if (inGroup.has(o.id)) continue;
    rows.push({
      participantId: o.id,
      name: o.label,
      self: o.id === snap.selfId,
      fingerprint: null,
      state: snap.states.get(o.id) ?? 'joining',
      verified: false,
    });
  }
  return rows;
}

/** The security panel: the code, what it means, and every member with their fingerprint. */
export class SecurityPanel {
  readonly element: HTMLElement;
  private readonly body: HTMLElement;

  constructor(private readonly onVerify: (participantId: string, verified: boolean) => void) {
    this.body = h('div', { class: 'panel-body' });
    this.element = h(
      'aside',
      {
        class: 'security-panel',
        'data-testid': 'security-panel',
        role: 'dialog',
        'aria-labelledby': 'security-panel-title',
        hidden: true,
      },
      h(
        'div',
        { class: 'panel-head' },
        h('h2', { id: 'security-panel-title' }, 'End-to-end encryption'),
        h(
          'button',
          {
            type: 'button',
            class: 'icon-button',
            'aria-label': 'Close security details',
            'data-testid': 'security-panel-close',
            onclick: () => this.close(),
          },
          icon('close'),
        ),
      ),
      this.body,
    );
  }

  get open(): boolean {
    return !this.element.hidden;
  }

  toggle(): void {
    if (this.open) this.close();
    else {
      this.element.hidden = false;
      this.element.querySelector<HTMLElement>('button')?.focus({ preventScroll: true });
    }
  }

  close(): void {
    this.element.hidden = true;
  }

  render(snap: SecuritySnapshot, rows: PanelRow[], codeChanged: boolean): void {
    const intro = snap.e2ee
      ? 'Audio and video are encrypted on each device with keys only the members below hold; ' +
        'the server cannot see or hear them.'
      : 'Encryption is switched off on this device (a benchmark setting): the server could see and hear this call.';
    const code = snap.code
      ? h(
          'div',
          { class: 'panel-code' },
          h('div', { class: 'panel-code-label' }, 'Security code', codeChanged ? h('span', { class: 'code-changed' }, 'changed') : null),
          h('div', { class: 'panel-code-value', 'data-testid': 'panel-code' }, snap.code),
          h(
            'p',
            { class: 'muted' },
            'Everyone in the call should see this same code; compare it aloud. If it differs, ' +
              'someone else is in the group. It changes whenever someone joins or leaves.',
          ),
        )
      : null;
    const list = h('ul', { class: 'member-list', 'data-testid': 'member-list' });
    for (const row of rows) {
      const toggle =
        !row.self && row.fingerprint
          ? h(
              'button',
              {
                type: 'button',
                class: row.verified ? 'button small verified' : 'button small',
                'data-testid': 'verify-toggle',
                'aria-pressed': String(row.verified),
                onclick: () => this.onVerify(row.participantId, !row.verified),
              },
              row.verified ? icon('check') : null,
              row.verified ? 'Verified' : 'Mark verified',
            )
          : null;
      list.append(
        h(
          'li',
          {
            class: 'member',
            'data-testid': 'member',
            'data-participant-id': row.participantId,
            'data-state': row.state,
          },
          h(
            'div',
            { class: 'member-main' },
            h(
              'div',
              { class: 'member-name' },
              h('span', { 'data-testid': 'member-name' }, row.name),
              row.self ? h('span', { class: 'you' }, 'You') : null,
            ),
            h(
              'div',
              { class: 'member-fingerprint', 'data-testid': 'member-fingerprint' },
              row.fingerprint ? groupFingerprint(row.fingerprint) : 'not in the encryption group',
            ),
          ),
          // A verified member's toggle already says so.
          row.state === 'verified' && toggle ? null : stateChip(row.state),
          toggle,
        ),
      );
    }
    const note = snap.problem ? h('p', { class: 'panel-problem' }, snap.problem) : null;
    this.body.replaceChildren(
      h('p', { class: 'muted' }, intro),
      code ?? '',
      h('h3', {}, snap.members.length ? `Members (${snap.members.length})` : 'Members'),
      list,
      h(
        'p',
        { class: 'muted small' },
        'To verify someone, compare the key fingerprint shown here with the one on their screen ' +
          '(their own row), then mark them verified. The mark is dropped if their key changes.',
      ),
      note ?? '',
    );
  }
}
