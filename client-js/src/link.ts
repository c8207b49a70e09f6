// The join link: `https://HOST/r/ROOM#token=JWT[&name=NAME]`.
//
// The token lives in the URL fragment, which browsers never send to the server in HTTP
// requests; this client hands it over only inside the WebSocket `join` message. A suggested
// display name rides in the fragment too and never reaches the server at all: it only prefills
// the pre-join screen. The claims are decoded here only for that screen; the server verifies.

import type { Source } from './signaling';

export interface JoinLink {
  room: string;
  token: string;
  /** The display name the link suggests, if any. */
  name?: string;
}

/** Claims of a join token that the pre-join screen uses. Unverified. */
export interface TokenClaims {
  sub?: string;
  room?: string;
  /** Expiry, seconds since the epoch. */
  exp?: number;
  /**
   * What the token lets us publish (`grants.publish`; a token without grants publishes the
   * microphone and the camera). Only to prepare the media session early: the server decides.
   */
  publish: Source[];
}

const SOURCES: readonly Source[] = ['microphone', 'camera', 'screen'];
const DEFAULT_PUBLISH: Source[] = ['microphone', 'camera'];

/** Same rule as the server's `RoomName`: 1–64 of `A-Z a-z 0-9 - _ .`, not `.` or `..`. */
export function isValidRoomName(name: string): boolean {
  return /^[A-Za-z0-9._-]{1,64}$/.test(name) && name !== '.' && name !== '..';
}

/** Reads the room from `/r/NAME` and the token from `#token=JWT`; `null` when either is missing. */
export function parseJoinLink(pathname: string, hash: string): JoinLink | null {
  const match = /^\/r\/([^/]+)\/?$/.exec(pathname);
  if (!match?.[1]) return null;
  let room: string;
  try {
    room = decodeURIComponent(match[1]);
  } catch {
    return null;
  }
  if (!isValidRoomName(room)) return null;
  const params = new URLSearchParams(hash.startsWith('#') ? hash.slice(1) : hash);
  const token = params.get('token')?.trim();
  if (!token) return null;
  const name = params.get('name')?.trim();
  return name ? { room, token, name } : { room, token };
}

function base64UrlDecode(part: string): string {
  const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
  const padded = b64 + '='.repeat((4 - (b64.length % 4)) % 4);
  const binary = atob(padded);
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

/** Decodes a JWT's payload without verifying it; `{}` when it can't be read. */
export function decodeTokenClaims(token: string): TokenClaims {
  const none: TokenClaims = { publish: DEFAULT_PUBLISH };
  const payload = token.split('.')[1];
  if (!payload) return none;
  try {
    const value: unknown = JSON.parse(base64UrlDecode(payload));
    if (typeof value !== 'object' || value === null) return none;
    const v = value as Record<string, unknown>;
    const claims: TokenClaims = { publish: DEFAULT_PUBLISH };
    if (typeof v.sub === 'string') claims.sub = v.sub;
    if (typeof v.room === 'string') claims.room = v.room;
    if (typeof v.exp === 'number') claims.exp = v.exp;
    const publish = (v.grants as { publish?: unknown } | undefined)?.publish;
    if (Array.isArray(publish)) claims.publish = SOURCES.filter((s) => publish.includes(s));
    return claims;
  } catch {
    return none;
  }
}
