/** Jobs: the list (newest first, filter by state, cursor pages) and one job's page (counts, outcomes paged). */
import { api, apiBase, downloadReport, authMode, withQuery } from '../api';
import { field, fill, h, localTime } from '../dom';
import type { JobList, JobListItem, JobView, RowOutcome } from '../types';
import { counts, pager, problemRegion, progressBar, rowsDone, showProblem } from '../ui';
import type { View } from './view';

const JOBS_PER_PAGE = 20;
const OUTCOMES_PER_PAGE = 50;
const REFRESH_MS = 2000;

/** The link that downloads a job's report.csv (see downloadReport for why a click handler). */
export function reportLink(jobId: string, name: string): HTMLAnchorElement {
  const fileName = `${name}.report.csv`;
  const link = h(
    'a',
    { href: `${apiBase()}/jobs/${jobId}/report`, download: fileName, class: 'report-link' },
    'Download report.csv',
  );
  if (authMode() !== 'none') {
    link.addEventListener('click', (e) => {
      e.preventDefault();
      downloadReport(jobId, fileName).catch((error: unknown) => {
        const note = h('span', { role: 'alert', class: 'field-error' });
        link.after(note);
        showProblem(note, error, () => link.click());
      });
    });
  }
  return link;
}

export function outcomesTable(outcomes: RowOutcome[]): HTMLTableElement {
  return h(
    'table',
    { class: 'outcomes' },
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        h('th', { scope: 'col' }, 'Row'),
        h('th', { scope: 'col' }, 'Status'),
        h('th', { scope: 'col' }, 'Result or reason'),
      ),
    ),
    h(
      'tbody',
      null,
      outcomes.map((o) =>
        h(
          'tr',
          { class: `status-${o.status}` },
          h('td', null, String(o.row)),
          h('td', null, o.status),
          h('td', null, o.error ?? (o.idResult === undefined ? '' : `idResult ${o.idResult}`)),
        ),
      ),
    ),
  );
}

function sourceText(job: JobListItem): string {
  return job.source.kind === 'upload' ? job.source.key : `API ${job.source.route}`;
}

function jobRow(job: JobListItem): HTMLTableRowElement {
  const bar = progressBar(`Progress of job ${job.jobId.slice(0, 8)}`);
  const done = rowsDone(job);
  bar.set(job.state === 'ingesting' ? undefined : done, job.total, `${done}/${job.total}`);
  return h(
    'tr',
    null,
    h('td', null, h('a', { href: `#/jobs/${job.jobId}` }, sourceText(job))),
    h(
      'td',
      null,
      job.alias ? `${job.alias} (${job.conversationId ?? '?'})` : String(job.conversationId ?? '—'),
    ),
    h('td', null, h('span', { class: `state state-${job.state}` }, job.state)),
    h('td', null, bar.element),
    h('td', null, `${job.total} / ${job.started} / ${job.rejected} / ${job.failed}`),
    h('td', null, localTime(job.createdAt)),
    h('td', null, localTime(job.finishedAt)),
  );
}

export const jobsView: View = (root, life) => {
  const state = h(
    'select',
    { name: 'state' },
    h('option', { value: '' }, 'All states'),
    ['ingesting', 'running', 'done'].map((s) => h('option', { value: s }, s)),
  );
  const problem = problemRegion();
  const table = h('div', { class: 'table-wrap' });
  const cursors: (string | undefined)[] = [undefined];
  let page = 0;

  async function load(): Promise<void> {
    try {
      const list = await api<JobList>(
        'GET',
        withQuery('/jobs', { limit: JOBS_PER_PAGE, state: state.value, cursor: cursors[page] }),
      );
      cursors[page + 1] = list.nextCursor;
      problem.hidden = true;
      fill(
        table,
        list.jobs.length === 0
          ? h('p', null, 'No jobs.')
          : h(
              'table',
              { class: 'jobs' },
              h('caption', null, `Jobs, newest first${state.value ? ` (${state.value})` : ''}`),
              h(
                'thead',
                null,
                h(
                  'tr',
                  null,
                  [
                    'Source',
                    'Conversation',
                    'State',
                    'Progress',
                    'Total / started / rejected / failed',
                    'Created',
                    'Finished',
                  ].map((t) => h('th', { scope: 'col' }, t)),
                ),
              ),
              h('tbody', null, list.jobs.map(jobRow)),
            ),
        pager(page > 0, list.nextCursor !== undefined, (to) => {
          page = to === 'first' ? 0 : to === 'previous' ? page - 1 : page + 1;
          void load();
        }),
      );
    } catch (error) {
      showProblem(problem, error, () => void load());
    }
  }
  state.addEventListener('change', () => {
    cursors.length = 1;
    page = 0;
    void load();
  });
  fill(root, h('h2', null, 'Jobs'), h('form', { class: 'filters' }, field('State', state)), problem, table);
  void load();
  void (async () => {
    // The first page follows running jobs; later pages stay still while read.
    while (life.alive()) {
      await life.sleep(REFRESH_MS * 2);
      if (life.alive() && page === 0 && problem.hidden) await load();
    }
  })();
};

export const jobPageView: View = (root, life, [jobId]) => {
  const problem = problemRegion();
  const body = h('div', { 'aria-live': 'polite' });
  const rows = progressBar('Rows done');
  let outcomePage = 0;

  function draw(job: JobView): void {
    const done = rowsDone(job);
    rows.set(job.state === 'ingesting' ? undefined : done, job.total, `${done} of ${job.total} rows`);
    const pages = Math.max(1, Math.ceil(job.outcomes.length / OUTCOMES_PER_PAGE));
    outcomePage = Math.min(outcomePage, pages - 1);
    const shown = job.outcomes.slice(outcomePage * OUTCOMES_PER_PAGE, (outcomePage + 1) * OUTCOMES_PER_PAGE);
    fill(
      body,
      h(
        'p',
        null,
        `State: ${job.state} · started ${localTime(job.startedAt)} · finished ${localTime(job.finishedAt)}`,
      ),
      rows.element,
      counts(job),
      job.state === 'done' && h('p', null, reportLink(job.jobId, `job-${job.jobId.slice(0, 8)}`)),
      h('h3', null, `Row outcomes (page ${outcomePage + 1} of ${pages})`),
      shown.length ? outcomesTable(shown) : h('p', null, 'No row outcomes yet.'),
      pager(outcomePage > 0, outcomePage < pages - 1, (to) => {
        outcomePage = to === 'first' ? 0 : to === 'previous' ? outcomePage - 1 : outcomePage + 1;
        draw(job);
      }),
      job.truncated &&
        h(
          'p',
          { class: 'hint' },
          `Rows from ${job.nextRow} on are not listed here; the report has every row.`,
        ),
    );
  }

  async function load(): Promise<void> {
    while (life.alive()) {
      try {
        const job = await api<JobView>('GET', `/jobs/${encodeURIComponent(jobId ?? '')}`);
        problem.hidden = true;
        draw(job);
        if (job.state === 'done') return;
      } catch (error) {
        showProblem(problem, error, () => void load());
        return;
      }
      await life.sleep(REFRESH_MS);
    }
  }
  fill(
    root,
    h('h2', null, `Job ${jobId ?? ''}`),
    h('p', null, h('a', { href: '#/jobs' }, 'All jobs')),
    problem,
    body,
  );
  void load();
};
