// What the call shows about end-to-end encryption: the header indicator (verification code,
// flagged when it changes, and what puts the call at risk), the security panel (members from
// MLS with their authenticated identity, self-chosen name, fingerprint and a "Mark verified"
// toggle each; the risks, named), and the per-tile state chip.

import type { GroupMember, Risk } from '../e2ee/mls';
import { groupFingerprint, STATE_LABEL, type CallSecurity, type SecurityState } from '../e2ee/security';
import type { SecuritySnapshot } from '../meeting';
import { h } from './dom';
import { icon, type IconName } from './icons';

const STATE_ICON: Record<SecurityState, IconName> = {
  verified: 'shieldCheck',
  encrypted: 'lock',
  'decryption-failing': 'alert',
  'not-encrypted': 'unlock',
  'not-yet-encrypted': 'hourglass',
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
  'not-yet-encrypted': 'Not in the encryption group (yet): nothing is shown as encrypted until it is.',
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

  /**
   * Returns true when the code changed (a new epoch with a new membership). `risk` names what
   * puts the call at risk, if the key agreement says so.
   */
  update(call: CallSecurity, code: string | null, risk: string | null = null): boolean {
    const changed = code !== null && this.code !== null && code !== this.code;
    if (code !== null) this.code = code;
    if (changed) {
      this.changed = true;
      window.clearTimeout(this.changedTimer);
      this.changedTimer = window.setTimeout(() => this.acknowledge(), CHANGED_FLAG_MS);
    }
    this.risk = risk;
    this.render(call, this.code);
    return changed;
  }

  private risk: string | null = null;

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
        // No code and no lock: a code shared with someone who should not be here proves nothing.
        if (this.risk) {
          el.replaceChildren(icon('alert'), h('span', { 'data-testid': 'security-risk' }, `At risk: ${this.risk}`));
          el.title = 'The encryption group and the people in this call do not match. Open the details.';
        } else {
          el.replaceChildren(icon('alert'), h('span', {}, 'Not everyone is encrypted'));
          el.title = 'Someone’s media is not end-to-end encrypted or cannot be decrypted. It is not shown.';
        }
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
  /** The self-chosen name (cleaned), or the identity until the name arrived. */
  name: string;
  /** The identity the join token authenticated, or "guest". */
  identity: string;
  /** Another member chose the same name. */
  duplicateName: boolean;
  self: boolean;
  fingerprint: string | null;
  state: SecurityState;
  verified: boolean;
  /** What puts the call at risk about this participant, if anything. */
  risk: string | null;
}

/** "guest" for a guest link's generated identity, the identity otherwise. */
export function identityLabel(identity: string | null): string {
  if (identity === null) return 'not in the room';
  return /^guest-[0-9a-f]{6}$/.test(identity) ? 'guest' : identity;
}

/** How a member is named on tiles and in messages: its own name, marked if someone shares it. */
export function memberLabel(m: GroupMember, fallback: string): string {
  if (!m.name) return fallback;
  return m.duplicateName ? `${m.name} (duplicate name)` : m.name;
}

/** A participant as risks name them: its name if known, its identity, or its id. */
function nameFor(snap: SecuritySnapshot, participantId: string, identities: Map<string, string>): string {
  const m = snap.members.find((x) => x.participantId === participantId);
  return m?.name ?? identities.get(participantId) ?? m?.identity ?? participantId;
}

/** The header's one-line summary of what puts the call at risk, naming who. */
export function riskSummary(snap: SecuritySnapshot, outside: { id: string; identity: string }[]): string | null {
  const first = snap.risks[0];
  if (!first) return null;
  const identities = new Map(outside.map((o) => [o.id, o.identity]));
  const who = nameFor(snap, first.participantId, identities);
  const what: Record<Risk['kind'], string> = {
    'not-in-room': `${who} is in the encryption group but not in this call`,
    'not-in-group': `${who} is in this call but not in the encryption group`,
    'refused-commit': `a change to the group was refused (${first.participantId})`,
  };
  const more = snap.risks.length > 1 ? ` (+${snap.risks.length - 1} more)` : '';
  return `${what[first.kind]}${more}`;
}

/**
 * Rows for the panel: members from MLS first (by leaf), then room participants not in it.
 * Every member shows the identity the server authenticated beside the name it chose.
 */
export function panelRows(snap: SecuritySnapshot, outside: { id: string; identity: string }[]): PanelRow[] {
  const risks = new Map(snap.risks.map((r) => [r.participantId, r.message]));
  const rows: PanelRow[] = snap.members.map((m: GroupMember) => ({
    participantId: m.participantId,
    name: m.name ?? identityLabel(m.identity),
    identity: identityLabel(m.identity),
    duplicateName: m.duplicateName,
    self: m.participantId === snap.selfId,
    fingerprint: m.fingerprint,
    // A member the room does not show is never "encrypted": it is the risk.
    state: snap.states.get(m.participantId) ?? (risks.has(m.participantId) ? 'decryption-failing' : 'not-yet-encrypted'),
    verified: snap.verified.has(m.participantId),
    risk: risks.get(m.participantId) ?? null,
  }));
  const inGroup = new Set(snap.members.map((m) => m.participantId));
  for (const o of outside) {
    if (inGroup.has(o.id)) continue;
    rows.push({
      participantId: o.id,
      name: identityLabel(o.identity),
      identity: identityLabel(o.identity),
      duplicateName: false,
      self: o.id === snap.selfId,
      fingerprint: null,
      state: snap.states.get(o.id) ?? 'not-yet-encrypted',
      verified: false,
      risk: risks.get(o.id) ?? null,
    });
  }
  // Risks about someone in neither list (a refused commit's outsider).
  const listed = new Set(rows.map((r) => r.participantId));
  for (const r of snap.risks) {
    if (listed.has(r.participantId)) continue;
    listed.add(r.participantId);
    rows.push({
      participantId: r.participantId,
      name: r.participantId,
      identity: 'not in the room',
      duplicateName: false,
      self: false,
      fingerprint: null,
      state: 'decryption-failing',
      verified: false,
      risk: r.message,
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
            class: row.risk ? 'member at-risk' : 'member',
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
              row.duplicateName
                ? h('span', { class: 'duplicate', 'data-testid': 'member-duplicate', title: 'Another member chose the same name: tell them apart by identity and fingerprint.' }, 'same name as another member')
                : null,
              row.self ? h('span', { class: 'you' }, 'You') : null,
            ),
            h('div', { class: 'member-identity', 'data-testid': 'member-identity' }, row.identity),
            h(
              'div',
              { class: 'member-fingerprint', 'data-testid': 'member-fingerprint' },
              row.fingerprint ? groupFingerprint(row.fingerprint) : 'not in the encryption group',
            ),
            row.risk ? h('div', { class: 'member-risk', 'data-testid': 'member-risk' }, row.risk) : null,
          ),
          // A verified member's toggle already says so.
          row.state === 'verified' && toggle ? null : stateChip(row.state),
          toggle,
        ),
      );
    }
    const note = snap.problem ? h('p', { class: 'panel-problem' }, snap.problem) : null;
    const risk = snap.risks.length
      ? h(
          'div',
          { class: 'panel-risk', 'data-testid': 'panel-risk' },
          h('strong', {}, 'This call is at risk.'),
          ' The encryption group and the people in the call do not match, so the security code ' +
            'cannot vouch for who holds the keys:',
          h('ul', {}, ...snap.risks.map((r) => h('li', {}, r.message))),
        )
      : null;
    this.body.replaceChildren(
      h('p', { class: 'muted' }, intro),
      risk ?? '',
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
