/**
 * The soak's work, generated from a seed: uploads (CSV, JSONL, JSON, a few invalid rows each) and async API
 * requests (start/list/data with 1..10 records, start/data and the project start with one), interleaved. Every
 * valid row's record carries an EMAIL unique to the run, the work item and the row, so the sandbox's logs say
 * exactly which rows reached DANAConnect and how often.
 */
import type { JobOperation } from '../../lambdas/core/jobs';
import type { DanaRecord } from '../../lambdas/core/validation';

/** A row the work holds; without `email` it is invalid (it must be rejected and never sent). */
export interface ExpectedRow {
  row: number;
  email?: string;
}

export type UploadFormat = 'csv' | 'jsonl' | 'json';

export interface UploadWork {
  kind: 'upload';
  id: string;
  conversationId: number;
  /** The upload's name without its extension (the key adds it). */
  name: string;
  key: string;
  format: UploadFormat;
  body: string;
  rows: ExpectedRow[];
}

export interface ApiWork {
  kind: 'api';
  id: string;
  /** The route's name, as the doorway hands it to submitApiJob. */
  route: string;
  /** The path the caller sent (the Idempotency-Key's scope). */
  path: string;
  operation: JobOperation;
  records: DanaRecord[];
  rows: ExpectedRow[];
}

export type Work = UploadWork | ApiWork;

const CONVERSATIONS = [1001, 1002, 1003];
const PROJECT_ID = 77;
/** Share of upload rows that are invalid (a wrong field count, not an object). */
const INVALID_SHARE = 0.005;
const UPLOAD_ROWS: [number, number] = [50, 600];

const pick = <T>(items: readonly T[], random: () => number): T => items[Math.floor(random() * items.length)]!;
const between = ([min, max]: [number, number], random: () => number) =>
  min + Math.floor(random() * (max - min + 1));

function record(email: string, row: number): DanaRecord {
  return { EMAIL: email, NAME: `Soak "${row}"`, CITY: 'Caracas, DC' };
}

const csvField = (value: string) => (/[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value);

/** The file's text: a CSV with a header (CRLF), JSON lines, or one JSON array; invalid rows where asked. */
function uploadBody(format: UploadFormat, rows: ExpectedRow[]): string {
  const valid = (r: ExpectedRow) => record(r.email!, r.row);
  if (format === 'csv') {
    const lines = rows.map((r) =>
      r.email ? Object.values(valid(r)).map(csvField).join(',') : 'too,many,fields,here',
    );
    return ['EMAIL,NAME,CITY', ...lines, ''].join('\r\n');
  }
  const items = rows.map((r) => (r.email ? JSON.stringify(valid(r)) : format === 'jsonl' ? '[1,2]' : '"x"'));
  return format === 'jsonl' ? `${items.join('\n')}\n` : `[\n${items.join(',\n')}\n]\n`;
}

function uploadWork(run: string, id: string, size: number, random: () => number): UploadWork {
  const format = pick(['csv', 'jsonl', 'json'] as const, random);
  const conversationId = pick(CONVERSATIONS, random);
  const rows = Array.from({ length: size }, (_, i): ExpectedRow => {
    const row = i + 1;
    return random() < INVALID_SHARE ? { row } : { row, email: `${run}.${id}.r${row}@soak.example` };
  });
  const name = `soak-${run}/${id}`;
  return {
    kind: 'upload',
    id,
    conversationId,
    name,
    key: `uploads/${conversationId}/${name}.${format}`,
    format,
    body: uploadBody(format, rows),
    rows,
  };
}

function apiWork(run: string, id: string, maxRecords: number, random: () => number): ApiWork {
  const draw = random();
  const conversationId = pick(CONVERSATIONS, random);
  const base = '/api/1.0/rest/conversation';
  const shape: Pick<ApiWork, 'route' | 'path' | 'operation'> & { size: number } =
    draw < 0.8
      ? {
          route: 'start-batch',
          path: `${base}/${conversationId}/start/list/data`,
          operation: { kind: 'batch', conversationId },
          size: Math.min(maxRecords, between([1, 10], random)),
        }
      : draw < 0.9
        ? {
            route: 'start-data',
            path: `${base}/${conversationId}/start/data`,
            operation: { kind: 'data', conversationId },
            size: 1,
          }
        : {
            route: 'start-data-by-project',
            path: `${base}/ProjectID/${PROJECT_ID}/start/data`,
            operation: { kind: 'project', projectId: PROJECT_ID },
            size: 1,
          };
  const rows = Array.from({ length: shape.size }, (_, i) => ({
    row: i + 1,
    email: `${run}.${id}.r${i + 1}@soak.example`,
  }));
  const records = rows.map((r) => record(r.email, r.row));
  return { kind: 'api', id, route: shape.route, path: shape.path, operation: shape.operation, records, rows };
}

/** One wave's work: `rows` rows, about `apiShare` of them through the async API, in a shuffled order. */
export function planWave(p: {
  run: string;
  wave: number;
  rows: number;
  apiShare: number;
  random: () => number;
}): Work[] {
  const work: Work[] = [];
  let apiRows = Math.round(p.rows * p.apiShare);
  let uploadRows = p.rows - apiRows;
  while (uploadRows > 0) {
    const size = Math.min(uploadRows, between(UPLOAD_ROWS, p.random));
    work.push(uploadWork(p.run, `w${p.wave}u${work.length}`, size, p.random));
    uploadRows -= size;
  }
  while (apiRows > 0) {
    const item = apiWork(p.run, `w${p.wave}a${work.length}`, apiRows, p.random);
    work.push(item);
    apiRows -= item.rows.length;
  }
  // Fisher–Yates with the seeded generator: uploads and requests arrive mixed.
  for (let i = work.length - 1; i > 0; i--) {
    const j = Math.floor(p.random() * (i + 1));
    [work[i], work[j]] = [work[j]!, work[i]!];
  }
  return work;
}
