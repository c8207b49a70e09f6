// A small helper for building DOM trees without a framework.

type Attrs = Record<string, string | number | boolean | undefined | EventListener>;
type Child = Node | string | null | undefined | false;

/**
 * `h('button', { class: 'primary', onclick: go }, 'Join')`. Attributes whose value is `false`
 * or `undefined` are left out; `true` sets an empty attribute; `on*` functions become listeners.
 */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (typeof value === 'function') {
      el.addEventListener(key.replace(/^on/, ''), value);
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, ...children);
  return el;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
  }
}

/** Replaces everything in `#app` with `screen` and moves focus to its first heading or control. */
export function showScreen(screen: HTMLElement): void {
  const root = document.getElementById('app');
  if (!root) throw new Error('index.html has no #app element');
  root.replaceChildren(screen);
  const focusTarget = screen.querySelector<HTMLElement>('[data-autofocus], h1');
  if (focusTarget) {
    if (focusTarget.tagName === 'H1') focusTarget.tabIndex = -1;
    focusTarget.focus({ preventScroll: true });
  }
}

/** Two letters for an avatar: "Ada Lovelace" → "AL", "bob" → "B". */
export function initials(name: string): string {
  const words = name.trim().split(/\s+/).filter(Boolean);
  const first = words[0]?.[0] ?? '?';
  const last = words.length > 1 ? (words[words.length - 1]?.[0] ?? '') : '';
  return (first + last).toUpperCase();
}

/** A stable, calm background colour for an avatar, from any string. */
export function avatarColor(key: string): string {
  let hash = 0;
  for (let i = 0; i < key.length; i++) hash = (hash * 31 + key.charCodeAt(i)) | 0;
  const hue = Math.abs(hash) % 360;
  return `hsl(${hue} 35% 38%)`;
}
