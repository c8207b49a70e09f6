// "Sign in to start a meeting" on the start page, shown when the server signs people in through
// the organisation's OpenID provider (`GET /auth/status`). The server decides who signs in as a
// host; the page only starts the sign-in, which ends on a join link.

import { h } from './dom';

/** Whether the server offers sign-in; false when it cannot say. */
export async function signInAvailable(): Promise<boolean> {
  try {
    const response = await fetch('/auth/status', { cache: 'no-store' });
    if (!response.ok) return false;
    const status = (await response.json()) as { sign_in?: unknown };
    return status.sign_in === true;
  } catch {
    return false;
  }
}

/** A form that goes to `/auth/login?room=NAME`; left empty, the server picks a fresh room. */
export function signInForm(): HTMLFormElement {
  const room = h('input', {
    id: 'sign-in-room',
    name: 'room',
    type: 'text',
    maxlength: 64,
    pattern: '[A-Za-z0-9._\\-]{1,64}',
    title: 'Letters, digits, “-”, “_” or “.”',
    placeholder: 'A new room',
    autocomplete: 'off',
    spellcheck: 'false',
    'data-testid': 'sign-in-room',
  });
  return h(
    'form',
    { class: 'sign-in-form', method: 'get', action: '/auth/login', 'data-testid': 'sign-in-form' },
    h('label', { for: 'sign-in-room' }, 'Room name (optional)'),
    room,
    h('button', { type: 'submit', class: 'button primary', 'data-testid': 'sign-in' }, 'Sign in to start a meeting'),
  );
}
