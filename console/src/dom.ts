/**
 * The page's one DOM helper: `h(tag, props, ...children)` builds an element. Attributes go through setAttribute
 * and text through text nodes, never innerHTML, so nothing from the API can become markup; there are no inline
 * styles or handlers, which the Content-Security-Policy forbids.
 */
export type Child = Node | string | number | null | undefined | false | Child[];
type Listener = (event: Event) => void;
export type Props = Record<string, string | number | boolean | Listener | undefined | null>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props?: Props | null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (typeof value === 'function') element.addEventListener(name.slice(2).toLowerCase(), value);
    else if (value === true) element.setAttribute(name, '');
    else element.setAttribute(name, String(value));
  }
  append(element, children);
  return element;
}

export function append(parent: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else parent.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
}

/** Replaces everything inside `parent`. */
export function fill(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, children);
}

let idCounter = 0;
/** A document-unique id for label/field and field/error pairs. */
export function uid(prefix: string): string {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

/** A labelled field with its own error line (`aria-describedby`), which `showFieldError` fills. */
export function field(label: string, control: HTMLElement, hint?: string): HTMLElement {
  const id = control.id || uid('f');
  control.id = id;
  const errorId = `${id}-error`;
  const hintId = hint ? `${id}-hint` : undefined;
  control.setAttribute('aria-describedby', [hintId, errorId].filter(Boolean).join(' '));
  return h(
    'div',
    { class: 'field' },
    h('label', { for: id }, label),
    control,
    hint && h('p', { class: 'hint', id: hintId }, hint),
    h('p', { class: 'field-error', id: errorId, 'data-for': id }),
  );
}

/** Shows (or, with undefined, clears) the error next to a control built by `field`. */
export function showFieldError(control: HTMLElement, message: string | undefined): void {
  const line = document.getElementById(`${control.id}-error`);
  if (line) line.textContent = message ?? '';
  if (message) control.setAttribute('aria-invalid', 'true');
  else control.removeAttribute('aria-invalid');
}

/** A short instant in the viewer's zone, e.g. "1 Dec 2026, 15:04:05". */
export function localTime(iso: string | undefined, timeZone?: string): string {
  if (!iso) return '—';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return new Intl.DateTimeFormat(undefined, {
    dateStyle: 'medium',
    timeStyle: 'medium',
    ...(timeZone && { timeZone }),
  }).format(date);
}
