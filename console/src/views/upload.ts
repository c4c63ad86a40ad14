/**
 * Upload: a conversation (alias or id) and a file; then two bars, bytes (XHR progress of the presigned POST) and
 * rows (GET /jobs/{id} every POLL_MS), and at the end the counts, the report link and the first rows that were
 * rejected or failed, with their reasons.
 */
import { api, postFile, withQuery } from '../api';
import { field, fill, h } from '../dom';
import type { AliasList, JobList, JobView, UploadTicket } from '../types';
import { clearProblem, counts, problemRegion, progressBar, rowsDone, showProblem } from '../ui';
import { outcomesTable, reportLink } from './job';
import type { View } from './view';

export const POLL_MS = 1000;
const FIRST_PROBLEMS = 10;
const ACCEPTED = '.csv,.jsonl,.json';

export const uploadView: View = (root, life) => {
  const conversation = h('input', {
    name: 'conversation',
    list: 'alias-options',
    autocomplete: 'off',
    required: true,
    spellcheck: 'false',
  });
  const aliasOptions = h('datalist', { id: 'alias-options' });
  const fileInput = h('input', { type: 'file', name: 'file', accept: ACCEPTED, required: true });
  const chosen = h('p', { class: 'chosen', 'aria-live': 'polite' }, 'No file chosen.');
  const drop = h(
    'div',
    { class: 'dropzone' },
    h('p', null, 'Drop a CSV, JSONL or JSON file here, or choose one:'),
    field('File', fileInput),
    chosen,
  );
  const submit = h('button', { type: 'submit' }, 'Upload and start');
  const problem = problemRegion();
  const fields = {
    conversation,
    fileName: fileInput,
    file: fileInput,
    contentLength: fileInput,
    key: conversation,
  };
  const bytes = progressBar('Bytes sent');
  const rows = progressBar('Rows done');
  const result = h('div', { class: 'result' });
  const progress = h(
    'section',
    { class: 'upload-progress', 'aria-live': 'polite', 'aria-label': 'Upload progress', hidden: true },
    bytes.element,
    rows.element,
    result,
  );
  let file: File | undefined;

  const choose = (picked: File | undefined) => {
    file = picked;
    chosen.textContent = picked ? `Chosen: ${picked.name} (${picked.size} bytes)` : 'No file chosen.';
  };
  fileInput.addEventListener('change', () => choose(fileInput.files?.[0]));
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    choose(e.dataTransfer?.files[0]);
  });

  const form = h(
    'form',
    { class: 'upload-form', novalidate: true },
    field(
      'Conversation (alias or id)',
      conversation,
      'Pick an alias from the list or type a conversation id.',
    ),
    aliasOptions,
    drop,
    submit,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void start();
  });

  async function start(): Promise<void> {
    clearProblem(problem, fields);
    if (!file) {
      showProblem(problem, new Error('Choose a file first.'));
      fileInput.focus();
      return;
    }
    submit.disabled = true;
    try {
      const ticket = await api<UploadTicket>('POST', '/uploads', {
        conversation: conversation.value.trim(),
        fileName: file.name,
        contentLength: file.size,
      });
      progress.hidden = false;
      fill(result);
      rows.set(undefined, undefined, 'waiting for the upload');
      await postFile(ticket.upload, file, (sent, total) =>
        bytes.set(sent, total, `${sent} of ${total} bytes (${Math.round((sent / (total || 1)) * 100)} %)`),
      );
      await follow(ticket.key);
    } catch (error) {
      showProblem(problem, error, () => void start(), fields);
    } finally {
      submit.disabled = false;
    }
  }

  /** Finds the job the upload became (by its key), then polls it until done. */
  async function follow(key: string): Promise<void> {
    rows.set(undefined, undefined, 'waiting for the job to start');
    let jobId: string | undefined;
    while (!jobId && life.alive()) {
      const page = await api<JobList>('GET', withQuery('/jobs', { limit: 50 }));
      jobId = page.jobs.find((j) => j.source.kind === 'upload' && j.source.key === key)?.jobId;
      if (!jobId) await life.sleep(POLL_MS);
    }
    while (jobId && life.alive()) {
      const job = await api<JobView>('GET', `/jobs/${jobId}`);
      const done = rowsDone(job);
      const known = job.state !== 'ingesting';
      rows.set(
        known ? done : undefined,
        known ? job.total : undefined,
        known
          ? `${done} of ${job.total} rows (${job.total ? Math.round((done / job.total) * 100) : 100} %)`
          : `reading the file: ${job.total} rows so far`,
      );
      if (job.state === 'done') {
        if (job.total === 0) rows.set(1, 1, '0 of 0 rows (100 %)');
        finished(job, key);
        return;
      }
      await life.sleep(POLL_MS);
    }
  }

  function finished(job: JobView, key: string): void {
    const problems = job.outcomes.filter((o) => o.status !== 'started').slice(0, FIRST_PROBLEMS);
    fill(
      result,
      h('h3', null, 'Finished'),
      counts(job),
      h(
        'p',
        null,
        reportLink(job.jobId, key.split('/').pop() ?? 'upload'),
        ' · ',
        h('a', { href: `#/jobs/${job.jobId}` }, 'Job page'),
      ),
      problems.length > 0
        ? [h('h4', null, `First ${problems.length} rejected or failed rows`), outcomesTable(problems)]
        : h('p', null, 'No row was rejected or failed.'),
    );
  }

  fill(root, h('h2', null, 'Upload a file'), problem, form, progress);
  api<AliasList>('GET', withQuery('/aliases', { limit: 100 })).then(
    (list) =>
      fill(
        aliasOptions,
        list.aliases.map((a) =>
          h('option', { value: a.name }, `${a.name} (conversation ${a.conversationId})`),
        ),
      ),
    () => undefined, // the list only helps; typing an id or alias works without it
  );
};
