/**
 * Aliases: each alias with its current id and history, a form to point it at another id (after a confirmation
 * that names what follows the alias: its schedules, its upload folder, its callers), and one to add an alias.
 */
import { api, withQuery } from '../api';
import { field, fill, h, localTime } from '../dom';
import type { Alias, AliasList, ScheduleList } from '../types';
import { clearProblem, confirmDialog, pager, problemRegion, showProblem } from '../ui';
import type { View } from './view';

const ALIASES_PER_PAGE = 50;
/** The confirmation reads at most this many pages of schedules (50 each) to name those that follow. */
const MAX_SCHEDULE_PAGES = 20;

/** Schedules that name the alias, for the confirmation; empty when they cannot be listed. */
async function schedulesNaming(alias: string): Promise<string[] | undefined> {
  const names: string[] = [];
  let cursor: string | undefined;
  try {
    for (let page = 0; page < MAX_SCHEDULE_PAGES; page++) {
      const list = await api<ScheduleList>('GET', withQuery('/schedules', { limit: 50, cursor }));
      names.push(...list.schedules.filter((s) => s.conversation === alias).map((s) => s.name));
      cursor = list.nextCursor ?? list.cursor;
      if (cursor === undefined) return names;
    }
    return names;
  } catch {
    return undefined;
  }
}

async function confirmChange(alias: Alias, newId: number): Promise<boolean> {
  const schedules = await schedulesNaming(alias.name);
  return confirmDialog(
    `Point ${alias.name} at conversation ${newId}?`,
    [
      h(
        'p',
        null,
        `It points at conversation ${alias.conversationId} now. From the next use on, everything that names "${alias.name}" starts conversation ${newId} instead:`,
      ),
      h(
        'ul',
        null,
        h(
          'li',
          null,
          schedules === undefined
            ? 'every schedule naming it (the list of schedules could not be read)'
            : schedules.length
              ? `schedules: ${schedules.join(', ')}`
              : 'schedules naming it (none at the moment)',
        ),
        h('li', null, `uploads into the folder uploads/${alias.name}/`),
        h('li', null, `callers using /conversation/${alias.name}/… in their URLs`),
      ),
      h('p', { class: 'hint' }, 'Jobs already running keep the id they started with.'),
    ],
    `Point at ${newId}`,
  );
}

function aliasItem(alias: Alias, reload: () => void): HTMLElement {
  const idInput = h('input', {
    name: 'conversationId',
    inputmode: 'numeric',
    autocomplete: 'off',
    value: String(alias.conversationId),
  });
  const problem = problemRegion();
  const form = h(
    'form',
    { class: 'inline', 'aria-label': `Change ${alias.name}` },
    field(`New conversation id for ${alias.name}`, idInput),
    h('button', { type: 'submit' }, 'Change'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void (async () => {
      clearProblem(problem, { conversationId: idInput });
      const newId = Number(idInput.value.trim());
      if (/^\d+$/.test(idInput.value.trim()) && newId === alias.conversationId) return;
      if (/^\d+$/.test(idInput.value.trim()) && !(await confirmChange(alias, newId))) return;
      try {
        await api('PUT', `/aliases/${alias.name}`, {
          conversationId: /^\d+$/.test(idInput.value.trim()) ? newId : idInput.value,
        });
        reload();
      } catch (error) {
        showProblem(problem, error, undefined, { conversationId: idInput });
      }
    })();
  });
  return h(
    'article',
    { class: 'alias', 'data-alias': alias.name },
    h('h3', null, alias.name, ' → ', h('span', { class: 'current-id' }, String(alias.conversationId))),
    h('p', { class: 'hint' }, `since ${localTime(alias.updatedAt)}`),
    problem,
    form,
    h(
      'details',
      null,
      h('summary', null, `History (${alias.history.length})`),
      h(
        'ol',
        null,
        alias.history.map((c) =>
          h('li', null, `${c.conversationId}: ${localTime(c.from)} – ${c.to ? localTime(c.to) : 'now'}`),
        ),
      ),
    ),
  );
}

function newAliasForm(reload: () => void): HTMLElement {
  const name = h('input', {
    name: 'name',
    autocomplete: 'off',
    spellcheck: 'false',
    pattern: '[a-z][a-z0-9-]{0,62}',
  });
  const id = h('input', { name: 'conversationId', inputmode: 'numeric', autocomplete: 'off' });
  const problem = problemRegion();
  const fields = { name, conversationId: id };
  const form = h(
    'form',
    { class: 'new-alias', novalidate: true },
    h('h3', null, 'New alias'),
    problem,
    field('Alias name', name, 'a-z, 0-9 and -, starting with a letter'),
    field('Conversation id', id),
    h('button', { type: 'submit' }, 'Create alias'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    clearProblem(problem, fields);
    const raw = id.value.trim();
    api('PUT', `/aliases/${encodeURIComponent(name.value.trim() || '-')}`, {
      conversationId: /^\d+$/.test(raw) ? Number(raw) : raw,
    }).then(
      () => reload(),
      (error: unknown) => showProblem(problem, error, undefined, fields),
    );
  });
  return form;
}

export const aliasesView: View = (root) => {
  const problem = problemRegion();
  const list = h('div', { class: 'aliases' });
  const cursors: (string | undefined)[] = [undefined];
  let page = 0;
  async function load(): Promise<void> {
    try {
      const answer = await api<AliasList>(
        'GET',
        withQuery('/aliases', { limit: ALIASES_PER_PAGE, cursor: cursors[page] }),
      );
      const next = answer.nextCursor ?? answer.cursor;
      cursors[page + 1] = next;
      problem.hidden = true;
      fill(
        list,
        answer.aliases.length
          ? answer.aliases.map((a) => aliasItem(a, () => void load()))
          : h('p', null, 'No aliases yet.'),
        pager(page > 0, next !== undefined, (to) => {
          page = to === 'first' ? 0 : to === 'previous' ? page - 1 : page + 1;
          void load();
        }),
      );
    } catch (error) {
      showProblem(problem, error, () => void load());
    }
  }
  fill(
    root,
    h('h2', null, 'Aliases'),
    problem,
    list,
    newAliasForm(() => void load()),
  );
  void load();
};
