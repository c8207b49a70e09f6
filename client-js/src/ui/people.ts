// The people panel: who is in the call (names from inside the encrypted group, the identity the
// server authenticated beside them), and for hosts the lobby queue with Admit and Deny, the
// controls on each participant (turn off microphone, camera or screen share; remove; revoke),
// and the room's policy (lobby, lock, who may share screens, server-side speaker detection,
// end the meeting). Every action is a request: the server checks the host grant and carries it
// out.

import type { LobbyEntry, RoomPolicy, Source } from '../signaling';
import { h } from './dom';
import { icon } from './icons';

/** One person as the panel lists them. */
export interface PersonRow {
  id: string;
  /** The name to show (from the group), or the identity until it arrives. */
  name: string;
  identity: string;
  self: boolean;
  host: boolean;
  microphone: boolean;
  camera: boolean;
  screen: boolean;
}

export interface HostActions {
  admit(participantId: string): void;
  deny(participantId: string): void;
  mute(participantId: string, source: Source): void;
  remove(participantId: string): void;
  /** Revokes the identity: whoever holds it is cut off and cannot rejoin this room. */
  revoke(identity: string): void;
  setPolicy(policy: RoomPolicy): void;
  endMeeting(): void;
}

/** What the panel shows. */
export interface PeopleView {
  people: PersonRow[];
  lobby: LobbyEntry[];
  policy: RoomPolicy | null;
  /** We host: show the lobby, the controls and the policy. */
  host: boolean;
}

function button(label: string, testid: string, run: () => void, danger = false): HTMLButtonElement {
  return h(
    'button',
    { type: 'button', class: danger ? 'button small danger' : 'button small', 'data-testid': testid, onclick: run },
    label,
  );
}

export class PeoplePanel {
  readonly element: HTMLElement;
  private readonly body: HTMLElement;
  private shown: PeopleView = { people: [], lobby: [], policy: null, host: false };

  constructor(private readonly actions: HostActions) {
    this.body = h('div', { class: 'panel-body' });
    this.element = h(
      'aside',
      { class: 'side-panel people-panel', 'data-testid': 'people-panel', 'aria-label': 'People', hidden: true },
      h(
        'div',
        { class: 'panel-head' },
        h('h2', {}, 'People'),
        h(
          'button',
          { type: 'button', class: 'icon-button', 'aria-label': 'Close', onclick: () => this.toggle(false) },
          icon('close'),
        ),
      ),
      this.body,
    );
  }

  get open(): boolean {
    return !this.element.hidden;
  }

  toggle(open = !this.open): void {
    this.element.hidden = !open;
    if (open) this.render(this.shown);
  }

  render(view: PeopleView): void {
    this.shown = view;
    if (!this.open) return;
    const parts: (HTMLElement | null)[] = [];
    if (view.host && view.lobby.length > 0) {
      parts.push(h('h3', {}, `Waiting in the lobby (${view.lobby.length})`));
      parts.push(
        h(
          'ul',
          { class: 'people-list', 'data-testid': 'lobby-list' },
          ...view.lobby.map((w) =>
            h(
              'li',
              { class: 'person', 'data-testid': 'lobby-entry', 'data-participant-id': w.id },
              h('span', { class: 'person-name' }, w.identity),
              h(
                'span',
                { class: 'person-actions' },
                button('Admit', 'admit', () => this.actions.admit(w.id)),
                button('Deny', 'deny', () => this.actions.deny(w.id), true),
              ),
            ),
          ),
        ),
      );
    }
    parts.push(h('h3', {}, `In the meeting (${view.people.length})`));
    parts.push(h('ul', { class: 'people-list' }, ...view.people.map((p) => this.person(p, view.host))));
    if (view.host && view.policy) parts.push(...this.policy(view.policy));
    this.body.replaceChildren(...parts.filter((p): p is HTMLElement => p !== null));
  }

  private person(p: PersonRow, host: boolean): HTMLElement {
    const tags = [p.self ? 'you' : null, p.host ? 'host' : null, p.screen ? 'presenting' : null].filter(Boolean);
    const controls =
      host && !p.self
        ? h(
            'span',
            { class: 'person-actions' },
            p.microphone ? button('Mute', 'mute-microphone', () => this.actions.mute(p.id, 'microphone')) : null,
            p.camera ? button('Stop video', 'mute-camera', () => this.actions.mute(p.id, 'camera')) : null,
            p.screen ? button('Stop share', 'mute-screen', () => this.actions.mute(p.id, 'screen')) : null,
            button('Remove', 'remove', () => this.actions.remove(p.id), true),
            button('Revoke', 'revoke', () => this.actions.revoke(p.identity), true),
          )
        : null;
    return h(
      'li',
      { class: 'person', 'data-testid': 'person', 'data-participant-id': p.id },
      h(
        'span',
        { class: 'person-name' },
        p.name,
        p.name !== p.identity ? h('span', { class: 'muted small' }, ` ${p.identity}`) : null,
        tags.length ? h('span', { class: 'person-tags' }, ` · ${tags.join(' · ')}`) : null,
      ),
      controls,
    );
  }

  private policy(policy: RoomPolicy): HTMLElement[] {
    const toggle = (label: string, testid: string, on: boolean, change: (on: boolean) => RoomPolicy): HTMLElement => {
      const input = h('input', { type: 'checkbox', 'data-testid': testid, checked: on });
      input.addEventListener('change', () => this.actions.setPolicy(change(input.checked)));
      return h('label', { class: 'policy-toggle' }, input, label);
    };
    return [
      h('h3', {}, 'Meeting settings'),
      toggle('Lobby: a host admits newcomers', 'policy-lobby', policy.lobby, (lobby) => ({ ...policy, lobby })),
      toggle('Lock the meeting', 'policy-locked', policy.locked, (locked) => ({ ...policy, locked })),
      toggle('Only hosts share screens', 'policy-screen-hosts', policy.screen_share === 'hosts', (hosts) => ({
        ...policy,
        screen_share: hosts ? 'hosts' : 'granted',
      })),
      toggle(
        'Server detects who speaks (for very large meetings; the server learns who speaks when)',
        'policy-server-speaker',
        policy.server_speaker_detection === true,
        (on) => ({ ...policy, server_speaker_detection: on }),
      ),
      h(
        'p',
        { class: 'muted small' },
        `Up to ${policy.max_participants} participants.`,
      ),
      button('End meeting for everyone', 'end-meeting', () => this.actions.endMeeting(), true),
    ];
  }
}
