// What a person is told when a meeting ends against their will. The server's own message is
// shown under the title; the title and the advice come from here.

import type { FatalReason } from './meeting';

export interface FatalText {
  title: string;
  advice: string;
  /** Whether trying again with the same link can help. */
  retry: boolean;
}

export function describeFatal(reason: FatalReason): FatalText {
  switch (reason) {
    case 'token_expired':
      return {
        title: 'This join link has expired',
        advice: 'Ask the meeting host for a new link.',
        retry: false,
      };
    case 'invalid_token':
      return {
        title: 'This join link is not valid',
        advice: 'Check that you copied the whole link, or ask the meeting host for a new one.',
        retry: false,
      };
    case 'wrong_room':
      return {
        title: 'This join link is for another meeting',
        advice: 'Open the link exactly as you received it, or ask the meeting host for a new one.',
        retry: false,
      };
    case 'unknown_room':
      return {
        title: 'This meeting does not exist',
        advice: 'Check the link with the meeting host.',
        retry: false,
      };
    case 'unsupported_version':
      return {
        title: 'This page is out of date',
        advice: 'Reload the page to get the current version.',
        retry: false,
      };
    case 'replaced':
      return {
        title: 'You joined from somewhere else',
        advice: 'This meeting is open in another tab or on another device.',
        retry: true,
      };
    case 'denied':
      return {
        title: 'A host did not let you in',
        advice: 'Ask the meeting host if you should have been admitted.',
        retry: false,
      };
    case 'removed':
      return {
        title: 'You were removed from the meeting',
        advice: 'A host removed you; this link cannot be used to rejoin.',
        retry: false,
      };
    case 'revoked':
      return {
        title: 'Your access to this meeting was revoked',
        advice: 'Ask the meeting host for a new link if you should be in it.',
        retry: false,
      };
    case 'meeting_ended':
      return { title: 'The meeting has ended', advice: 'A host ended the meeting for everyone.', retry: false };
    case 'room_locked':
      return {
        title: 'This meeting is locked',
        advice: 'A host locked the meeting; ask them to unlock it, then join again.',
        retry: true,
      };
    case 'room_full':
      return { title: 'This meeting is full', advice: 'Try again when someone has left.', retry: true };
    case 'media_error':
      return { title: 'Audio and video could not be set up', advice: 'Try joining again.', retry: true };
    case 'media_timeout':
    case 'media_failed':
      return {
        title: 'The media connection was lost',
        advice: 'Check your network connection and join again.',
        retry: true,
      };
    case 'connection_lost':
      return {
        title: 'You were disconnected',
        advice: 'Check your network connection and join again.',
        retry: true,
      };
    case 'unreachable':
      return { title: 'The meeting server cannot be reached', advice: 'Try again in a moment.', retry: true };
    case 'join_timeout':
      return { title: 'Joining took too long', advice: 'Try again in a moment.', retry: true };
    case 'internal':
      return { title: 'The meeting server had a problem', advice: 'Try joining again.', retry: true };
    case 'e2ee_unsupported':
      return {
        title: 'This browser cannot encrypt the meeting',
        advice:
          'Meetings on Veil are end-to-end encrypted, which needs a recent browser with WebRTC ' +
          'Encoded Transform (Chrome or Edge 141+, Firefox 117+, Safari 15.4+).',
        retry: false,
      };
    case 'e2ee_failed':
      return {
        title: 'End-to-end encryption could not start',
        advice: 'Reload the page and join again.',
        retry: true,
      };
    case 'forbidden':
    case 'not_allowed':
    case 'unknown_participant':
    case 'mls_stale_commit':
    case 'mls_not_member':
    case 'mls_invalid_commit':
    case 'mls_invalid_message':
    case 'bad_message':
    case 'message_too_large':
    case 'not_joined':
    case 'already_joined':
      return { title: 'Something went wrong', advice: 'Reload the page and join again.', retry: true };
  }
}

/**
 * How long to wait before joining again by itself after a meeting ended for `reason`, on the
 * `attempt`-th try in a row (0 first); null when the person must decide. Only a lost server or
 * network is retried: a restarted or upgraded node, a node that died and whose rooms moved, a
 * network that dropped for longer than the media connection waits. Each wait is longer, up to
 * about half a minute in all; a successful join starts the count again.
 */
export function rejoinDelay(reason: FatalReason, attempt: number): number | null {
  if (!REJOIN_BY_ITSELF.has(reason) || attempt >= REJOIN_DELAYS_MS.length) return null;
  return REJOIN_DELAYS_MS[attempt] ?? null;
}

const REJOIN_BY_ITSELF: ReadonlySet<FatalReason> = new Set<FatalReason>([
  'connection_lost',
  'unreachable',
  'media_failed',
  'media_timeout',
  'join_timeout',
]);
const REJOIN_DELAYS_MS = [250, 500, 1000, 2000, 4000, 8000, 8000, 8000];
