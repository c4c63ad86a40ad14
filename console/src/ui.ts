/** Pieces every view shares: the problem banner (with Retry), progress bars, the confirmation dialog, pagers. */
import { ApiError, ConnectionLost, SessionExpired } from './api';
import { fill, h, showFieldError } from './dom';

/** Set by main.ts: what to do when the key or session is wrong (ask for it again, then retry). */
export const session = { onExpired: (_retry: () => void): void => undefined };

/**
 * Shows what went wrong, in words, in `region` (a role=alert box): a field error also goes next to its field
 * (looked up in `fields` by the name the API gave), a lost connection offers Retry, an expired session asks again.
 */
export function showProblem(
  region: HTMLElement,
  error: unknown,
  retry?: () => void,
  fields: Record<string, HTMLElement | undefined> = {},
): void {
  const again = retry && h('button', { type: 'button', onclick: () => retry() }, 'Retry');
  if (error instanceof SessionExpired) {
    fill(region, h('p', null, error.message), again);
    if (retry) session.onExpired(retry);
  } else if (error instanceof ConnectionLost) {
    fill(region, h('p', null, `${error.message} Check that the gateway is running, then retry.`), again);
  } else if (error instanceof ApiError) {
    const control = error.field === undefined ? undefined : fields[error.field.split(/[.[]/)[0]!];
    if (control) showFieldError(control, error.reason);
    fill(region, h('p', null, control ? `${labelOf(control)}: ${error.reason}` : error.message));
  } else {
    fill(region, h('p', null, error instanceof Error ? error.message : String(error)), again);
  }
  region.hidden = false;
}

export function clearProblem(
  region: HTMLElement,
  fields: Record<string, HTMLElement | undefined> = {},
): void {
  fill(region);
  region.hidden = true;
  for (const control of Object.values(fields)) if (control) showFieldError(control, undefined);
}

function labelOf(control: HTMLElement): string {
  return document.querySelector(`label[for="${control.id}"]`)?.textContent ?? control.id;
}

export function problemRegion(): HTMLElement {
  return h('div', { class: 'problem', role: 'alert', hidden: true });
}

/** A labelled <progress> with a text line beside it; `set(undefined)` shows it as still unknown. */
export function progressBar(label: string): {
  element: HTMLElement;
  set(done: number | undefined, total: number | undefined, text: string): void;
} {
  const bar = h('progress', { max: 100, 'aria-label': label });
  const caption = h('span', { class: 'progress-text' });
  return {
    element: h('div', { class: 'progress' }, h('span', { class: 'progress-label' }, label), bar, caption),
    set(done, total, text) {
      if (done === undefined || !total) bar.removeAttribute('value');
      else bar.value = Math.min(100, Math.round((done / total) * 100));
      caption.textContent = text;
    },
  };
}

/** Asks for a yes/no in a modal <dialog> (keyboard: focus moves in, Esc cancels). Resolves true on confirm. */
export function confirmDialog(
  title: string,
  body: (Node | string)[],
  confirmLabel: string,
): Promise<boolean> {
  return new Promise((resolve) => {
    const titleId = `dialog-title-${Date.now()}`;
    const dialog = h(
      'dialog',
      { 'aria-labelledby': titleId, class: 'confirm' },
      h('h2', { id: titleId }, title),
      ...body,
      h(
        'form',
        { method: 'dialog', class: 'actions' },
        h('button', { value: 'cancel', type: 'submit' }, 'Cancel'),
        h('button', { value: 'confirm', type: 'submit', class: 'danger' }, confirmLabel),
      ),
    );
    dialog.addEventListener('close', () => {
      resolve(dialog.returnValue === 'confirm');
      dialog.remove();
    });
    document.body.appendChild(dialog);
    dialog.showModal();
  });
}

/** "Newer"/"Older" style page buttons for cursor-paged lists. */
export function pager(
  hasPrevious: boolean,
  hasNext: boolean,
  go: (direction: 'first' | 'previous' | 'next') => void,
): HTMLElement | null {
  if (!hasPrevious && !hasNext) return null;
  return h(
    'nav',
    { class: 'pager', 'aria-label': 'Pages' },
    h('button', { type: 'button', disabled: !hasPrevious, onclick: () => go('first') }, 'First page'),
    h('button', { type: 'button', disabled: !hasPrevious, onclick: () => go('previous') }, 'Previous page'),
    h('button', { type: 'button', disabled: !hasNext, onclick: () => go('next') }, 'Next page'),
  );
}

export function counts(job: {
  total: number;
  started: number;
  rejected: number;
  failed: number;
}): HTMLElement {
  return h(
    'dl',
    { class: 'counts' },
    ...(['total', 'started', 'rejected', 'failed'] as const).flatMap((name) => [
      h('dt', null, name),
      h('dd', { 'data-count': name }, String(job[name])),
    ]),
  );
}

/** Rows done (started, rejected or failed) out of total. */
export const rowsDone = (job: { started: number; rejected: number; failed: number }): number =>
  job.started + job.rejected + job.failed;
