/**
 * Schedules: the list with each schedule's next runs, in its own zone and in the viewer's; pause/resume (PUT with
 * `enabled` flipped), delete after a confirmation, and a create form checked as you type by the API's own
 * validator (lambdas/core/schedules.ts parseSchedule, bundled into the page), so the words are the API's.
 */
import { InvalidInputError } from '../../../lambdas/core/errors';
import { parseSchedule, scheduleView } from '../../../lambdas/core/schedules';
import { api, withQuery } from '../api';
import { field, fill, h, localTime, showFieldError } from '../dom';
import type { Schedule, ScheduleList, ScheduleRun } from '../types';
import { clearProblem, confirmDialog, pager, problemRegion, showProblem } from '../ui';
import type { View } from './view';

const SCHEDULES_PER_PAGE = 50;
const viewerZone = Intl.DateTimeFormat().resolvedOptions().timeZone;

function runsList(runs: ScheduleRun[] | undefined, zone: string): HTMLElement {
  if (!runs?.length) return h('p', { class: 'hint' }, 'No run ahead.');
  return h(
    'ol',
    { class: 'runs' },
    runs.map((r) =>
      h(
        'li',
        null,
        h('span', { class: 'run-local' }, `${localTime(r.utc, zone)} (${zone})`),
        h('br'),
        h('span', { class: 'run-viewer' }, `${localTime(r.utc, viewerZone)} (your time, ${viewerZone})`),
      ),
    ),
  );
}

/** The body a PUT takes: the schedule without what the API adds. */
function bodyOf(schedule: Schedule): Omit<Schedule, 'nextRuns'> {
  const { nextRuns: _runs, ...body } = schedule;
  return body;
}

function scheduleRow(schedule: Schedule, reload: () => void, problem: HTMLElement): HTMLTableRowElement {
  const toggle = h(
    'button',
    { type: 'button' },
    schedule.enabled ? `Pause ${schedule.name}` : `Resume ${schedule.name}`,
  );
  toggle.addEventListener('click', () => {
    api('PUT', `/schedules/${encodeURIComponent(schedule.name)}`, {
      ...bodyOf(schedule),
      enabled: !schedule.enabled,
    }).then(reload, (e: unknown) => showProblem(problem, e, reload));
  });
  const remove = h('button', { type: 'button', class: 'danger' }, `Delete ${schedule.name}`);
  remove.addEventListener('click', () => {
    void confirmDialog(
      `Delete schedule ${schedule.name}?`,
      [
        h(
          'p',
          null,
          `It will not run again. ${schedule.cron ?? `Once at ${schedule.at}`} in ${schedule.timezone}.`,
        ),
      ],
      'Delete',
    ).then((yes) => {
      if (yes)
        api('DELETE', `/schedules/${encodeURIComponent(schedule.name)}`).then(reload, (e: unknown) =>
          showProblem(problem, e, reload),
        );
    });
  });
  return h(
    'tr',
    { 'data-schedule': schedule.name },
    h(
      'th',
      { scope: 'row' },
      schedule.name,
      schedule.description && h('p', { class: 'hint' }, schedule.description),
    ),
    h('td', null, String(schedule.conversation)),
    h('td', null, schedule.cron ?? `once at ${schedule.at}`, h('br'), schedule.timezone),
    h('td', null, schedule.enabled ? 'enabled' : 'paused'),
    h(
      'td',
      null,
      schedule.enabled ? runsList(schedule.nextRuns, schedule.timezone) : h('p', { class: 'hint' }, 'paused'),
    ),
    h('td', { class: 'actions' }, toggle, remove),
  );
}

/** Valid stand-ins for the fields left empty, so the validator reports on what was typed. */
function withPlaceholders(body: Record<string, unknown>): Record<string, unknown> {
  const inTwoDays = new Date(Date.now() + 2 * 86_400_000).toISOString().slice(0, 19);
  const empty = (key: string) => body[key] === '' || body[key] === undefined;
  return {
    ...body,
    ...(empty('name') && { name: 'placeholder' }),
    ...(empty('conversation') && { conversation: 1 }),
    ...(empty('timezone') && { timezone: 'UTC' }),
    ...('cron' in body ? empty('cron') && { cron: 'cron(0 9 * * ? *)' } : empty('at') && { at: inTwoDays }),
  };
}

function zoneOptions(): HTMLDataListElement {
  const zones = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [];
  return h(
    'datalist',
    { id: 'zone-options' },
    ['UTC', ...zones].map((z) => h('option', { value: z })),
  );
}

function createForm(reload: () => void): HTMLElement {
  const name = h('input', { name: 'name', autocomplete: 'off', spellcheck: 'false' });
  const conversation = h('input', {
    name: 'conversation',
    autocomplete: 'off',
    list: 'alias-options',
    spellcheck: 'false',
  });
  const kind = h(
    'select',
    { name: 'kind' },
    h('option', { value: 'at' }, 'Once, at a local date and time'),
    h('option', { value: 'cron' }, 'Repeating, by cron'),
  );
  const at = h('input', { name: 'at', type: 'datetime-local', step: 1 });
  const cron = h('input', {
    name: 'cron',
    autocomplete: 'off',
    spellcheck: 'false',
    placeholder: 'cron(0 9 ? * MON-FRI *)',
  });
  const timezone = h('input', {
    name: 'timezone',
    list: 'zone-options',
    autocomplete: 'off',
    value: viewerZone,
    spellcheck: 'false',
  });
  const window = h('input', { name: 'flexibleWindowMinutes', type: 'number', min: 0, max: 1440, value: 0 });
  const enabled = h('input', { name: 'enabled', type: 'checkbox', checked: true });
  const description = h('input', { name: 'description', autocomplete: 'off' });
  const fields: Record<string, HTMLElement> = {
    name,
    conversation,
    at,
    cron,
    timezone,
    flexibleWindowMinutes: window,
    enabled,
    description,
  };
  const problem = problemRegion();
  const preview = h('div', { class: 'preview', 'aria-live': 'polite' });
  const atField = field('Local date and time', at, 'In the time zone below.');
  const cronField = field(
    'Cron',
    cron,
    'EventBridge 6-field cron: minutes hours day-of-month month day-of-week year.',
  );
  cronField.hidden = true;

  const body = (): Record<string, unknown> => {
    const raw = conversation.value.trim();
    const seconds = at.value.length === 16 ? `${at.value}:00` : at.value;
    return {
      name: name.value.trim(),
      conversation: /^\d+$/.test(raw) ? Number(raw) : raw,
      ...(kind.value === 'cron' ? { cron: cron.value } : { at: seconds }),
      timezone: timezone.value.trim(),
      flexibleWindowMinutes: Number(window.value || '0'),
      enabled: enabled.checked,
      ...(description.value && { description: description.value }),
    };
  };
  /**
   * Runs the API's own validator on what is typed. First with placeholders in the fields still empty, so that the
   * first problem found is in a field the operator filled (shown under it); then on the form as it is, to preview
   * the next runs when all of it is valid.
   */
  const check = (): boolean => {
    for (const control of Object.values(fields)) showFieldError(control, undefined);
    const now = new Date();
    try {
      parseSchedule(withPlaceholders(body()), now);
    } catch (error) {
      if (!(error instanceof InvalidInputError)) throw error;
      const control = fields[error.target];
      if (control) showFieldError(control, error.reason);
    }
    try {
      const schedule = parseSchedule(body(), now);
      fill(
        preview,
        h('h4', null, 'Next runs'),
        runsList(scheduleView(schedule, now, 3).nextRuns, schedule.timezone),
      );
      return true;
    } catch {
      fill(preview);
      return false;
    }
  };
  kind.addEventListener('change', () => {
    atField.hidden = kind.value !== 'at';
    cronField.hidden = kind.value !== 'cron';
    check();
  });
  const form = h(
    'form',
    { class: 'new-schedule', novalidate: true },
    h('h3', null, 'New schedule'),
    problem,
    field('Name', name, 'A-Z, a-z, 0-9, _, . and -; up to 64.'),
    field('Conversation (alias or id)', conversation),
    field('Runs', kind),
    atField,
    cronField,
    field('Time zone', timezone, 'An IANA zone such as America/Caracas.'),
    zoneOptions(),
    field('Flexible window (minutes)', window, '0 runs on time; more lets it start up to that late.'),
    h(
      'div',
      { class: 'field checkbox' },
      enabled,
      h('label', { for: enabled.id || (enabled.id = 'schedule-enabled') }, 'Enabled'),
    ),
    field('Description', description),
    preview,
    h('button', { type: 'submit' }, 'Create schedule'),
  );
  form.addEventListener('input', () => check());
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    clearProblem(problem, fields);
    api('POST', '/schedules', body()).then(
      () => {
        form.reset();
        timezone.value = viewerZone;
        fill(preview);
        reload();
      },
      (error: unknown) => showProblem(problem, error, undefined, fields),
    );
  });
  return form;
}

export const schedulesView: View = (root) => {
  const problem = problemRegion();
  const list = h('div', { class: 'table-wrap' });
  const cursors: (string | undefined)[] = [undefined];
  let page = 0;
  async function load(): Promise<void> {
    try {
      const answer = await api<ScheduleList>(
        'GET',
        withQuery('/schedules', { limit: SCHEDULES_PER_PAGE, cursor: cursors[page] }),
      );
      const next = answer.nextCursor ?? answer.cursor;
      cursors[page + 1] = next;
      clearProblem(problem);
      fill(
        list,
        answer.schedules.length === 0
          ? h('p', null, 'No schedules.')
          : h(
              'table',
              { class: 'schedules' },
              h('caption', null, `Schedules, with next runs in their own zone and in yours (${viewerZone})`),
              h(
                'thead',
                null,
                h(
                  'tr',
                  null,
                  ['Name', 'Conversation', 'When', 'State', 'Next runs', 'Actions'].map((t) =>
                    h('th', { scope: 'col' }, t),
                  ),
                ),
              ),
              h(
                'tbody',
                null,
                answer.schedules.map((s) => scheduleRow(s, () => void load(), problem)),
              ),
            ),
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
    h('h2', null, 'Schedules'),
    problem,
    list,
    createForm(() => void load()),
  );
  void load();
};
