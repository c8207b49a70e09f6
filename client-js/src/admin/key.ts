// The admin key: from the URL fragment (`/admin#key=HEX`, never sent to the server), else from
// this tab's session storage, else from the form. `keyFromFragment` is pure (unit-tested).

const STORAGE_KEY = 'veil-admin-key';

/** The key in a fragment such as `#key=HEX` (other parameters allowed), or null. */
export function keyFromFragment(hash: string): string | null {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const key = params.get('key')?.trim();
  return key ? key : null;
}

/**
 * The key to use at page load. A key in the fragment is stored and taken out of the address
 * bar (and so out of the history and of screenshots); the rest of the fragment stays.
 */
export function initialKey(): string | null {
  const fromUrl = keyFromFragment(location.hash);
  if (fromUrl) {
    const params = new URLSearchParams(location.hash.replace(/^#/, ''));
    params.delete('key');
    const rest = params.toString();
    history.replaceState(history.state, '', `${location.pathname}${location.search}${rest ? `#${rest}` : ''}`);
    storeKey(fromUrl);
    return fromUrl;
  }
  try {
    return sessionStorage.getItem(STORAGE_KEY);
  } catch {
    return null; // storage disabled: the form asks each time
  }
}

export function storeKey(key: string): void {
  try {
    sessionStorage.setItem(STORAGE_KEY, key);
  } catch {
    // storage disabled: the key lives as long as the page
  }
}

export function forgetKey(): void {
  try {
    sessionStorage.removeItem(STORAGE_KEY);
  } catch {
    // nothing stored
  }
}
