/**
 * Reads what the pipeline recorded for a finished wave, straight from moto (no faults): every job's item, the
 * raw outcome items of the job store (every chunk and rejected-rows item, so a row recorded twice shows as
 * twice, which the store's own merged stream would hide), and for uploads the report CSV and summary in the
 * bucket. The result is one ledger line per row of the work, for ./analysis.ts.
 */
import { GetItemCommand, QueryCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import type { RowOutcome } from '../../lambdas/core/jobs';
import { reportKeys } from '../../lambdas/core/reports';
import { parseUploadKey } from '../../lambdas/core/upload/key';
import type { JobRef } from './feeder';
import type { AwsClients, Stack } from './stack';

export interface LedgerRow {
  /** Absent for an invalid row. */
  email?: string;
  source: 'upload' | 'api';
  /** How many outcome entries the job store holds for this row (1 is right). */
  stored: number;
  outcome?: RowOutcome;
  /** Uploads: the report holds this row exactly once, with the stored status, idResult and error. */
  reported: boolean;
}

export interface JobCheck {
  jobId: string;
  source: 'upload' | 'api';
  problems: string[];
}

const str = (v: AttributeValue | undefined) => v?.S;
const num = (v: AttributeValue | undefined) => Number(v?.N ?? 0);

/** RFC 4180 records of a CRLF-terminated CSV. */
export function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      record.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      records.push([...record, field]);
      record = [];
      field = '';
      i++;
    } else field += c;
  }
  return records;
}

async function readText(clients: AwsClients, bucket: string, key: string): Promise<string | undefined> {
  try {
    const answer = await clients.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return await answer.Body!.transformToString('utf8');
  } catch {
    return undefined;
  }
}

/** Every outcome entry under the job, per row (a row in two items appears twice). */
async function storedOutcomes(clients: AwsClients, table: string, jobId: string): Promise<RowOutcome[]> {
  const outcomes: RowOutcome[] = [];
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await clients.dynamo.send(
      new QueryCommand({
        TableName: table,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': { S: `job#${jobId}` } },
        ConsistentRead: true,
        ExclusiveStartKey: start,
      }),
    );
    for (const item of page.Items ?? []) {
      if (item.sk?.S === 'job' || item.outcomes === undefined) continue;
      outcomes.push(...(JSON.parse(str(item.outcomes) ?? '[]') as RowOutcome[]));
    }
    start = page.LastEvaluatedKey;
  } while (start);
  return outcomes;
}

/** The report's lines by row (a row listed twice keeps its count), or why there is none. */
async function reportedRows(
  clients: AwsClients,
  bucket: string,
  ref: JobRef,
  problems: string[],
): Promise<Map<number, { count: number; line: string[] }>> {
  const rows = new Map<number, { count: number; line: string[] }>();
  if (ref.work.kind !== 'upload') return rows;
  // Where the product puts the report of this key (the same functions as the ingest).
  const upload = parseUploadKey(ref.work.key);
  if (upload.kind === 'ignored') throw new Error(`the soak made a key the ingest ignores: ${ref.work.key}`);
  const keys = reportKeys(upload.segment, upload.name);
  const csv = await readText(clients, bucket, keys.csv);
  const summary = await readText(clients, bucket, keys.summary);
  if (csv === undefined || summary === undefined) {
    problems.push('report or summary missing');
    return rows;
  }
  const [header, ...lines] = parseCsv(csv);
  if (header?.join(',') !== 'row,status,idResult,error') problems.push('report header is wrong');
  for (const line of lines) {
    const row = Number(line[0]);
    rows.set(row, { count: (rows.get(row)?.count ?? 0) + 1, line });
  }
  const s = JSON.parse(summary) as { total: number; started: number; rejected: number; failed: number };
  const count = (status: string) => lines.filter((l) => l[1] === status).length;
  if (s.total !== lines.length || s.started !== count('started') || s.rejected !== count('rejected')) {
    problems.push(`summary ${JSON.stringify(s)} does not match the report's ${lines.length} lines`);
  }
  return rows;
}

const sameAsReport = (o: RowOutcome, line: string[] | undefined) =>
  line !== undefined &&
  line[1] === o.status &&
  line[2] === (o.idResult === undefined ? '' : String(o.idResult)) &&
  line[3] === (o.error ?? '');

/** The job item: done, its total, and counts that add up to it and match the outcomes. */
async function checkJobItem(clients: AwsClients, stack: Stack, ref: JobRef, outcomes: RowOutcome[]) {
  const problems: string[] = [];
  const answer = await clients.dynamo.send(
    new GetItemCommand({
      TableName: stack.tableName,
      Key: { pk: { S: `job#${ref.jobId}` }, sk: { S: 'job' } },
      ConsistentRead: true,
    }),
  );
  const item = answer.Item;
  if (!item) return ['job item missing'];
  if (str(item.state) !== 'done') problems.push(`state ${str(item.state)}`);
  const [total, started, rejected, failed] = ['total', 'started', 'rejected', 'failed'].map((k) =>
    num(item[k]),
  );
  if (total !== ref.work.rows.length) problems.push(`total ${total}, expected ${ref.work.rows.length}`);
  if (started! + rejected! + failed! !== total) problems.push('started + rejected + failed ≠ total');
  const count = (status: string) => outcomes.filter((o) => o.status === status).length;
  if (started !== count('started') || failed !== count('failed') || rejected !== count('rejected')) {
    problems.push('the job counts do not match its outcomes');
  }
  return problems;
}

/** One job's rows for the ledger, and what is wrong with the job as a whole. */
export async function checkJob(
  clients: AwsClients,
  stack: Stack,
  ref: JobRef,
): Promise<{ rows: LedgerRow[]; check: JobCheck }> {
  const outcomes = await storedOutcomes(clients, stack.tableName, ref.jobId);
  const problems = await checkJobItem(clients, stack, ref, outcomes);
  const report = await reportedRows(clients, stack.bucketName, ref, problems);
  const byRow = new Map<number, RowOutcome[]>();
  for (const o of outcomes) byRow.set(o.row, [...(byRow.get(o.row) ?? []), o]);
  const source = ref.work.kind;
  const rows = ref.work.rows.map((expected): LedgerRow => {
    const stored = byRow.get(expected.row) ?? [];
    const outcome = stored[0];
    const line = report.get(expected.row);
    const reported =
      source === 'api' || (line?.count === 1 && outcome !== undefined && sameAsReport(outcome, line.line));
    return {
      ...(expected.email !== undefined && { email: expected.email }),
      source,
      stored: stored.length,
      outcome,
      reported,
    };
  });
  const extra = outcomes.filter((o) => o.row < 1 || o.row > ref.work.rows.length).length;
  if (extra > 0) problems.push(`${extra} outcomes for rows the work does not have`);
  if (source === 'upload' && report.size !== ref.work.rows.length) {
    problems.push(`report has ${report.size} distinct rows, expected ${ref.work.rows.length}`);
  }
  return { rows, check: { jobId: ref.jobId, source, problems } };
}

/** Whether the job item says done (the drain's test). */
export async function jobDone(clients: AwsClients, stack: Stack, jobId: string): Promise<boolean> {
  const answer = await clients.dynamo.send(
    new GetItemCommand({
      TableName: stack.tableName,
      Key: { pk: { S: `job#${jobId}` }, sk: { S: 'job' } },
      ConsistentRead: true,
      ProjectionExpression: '#s',
      ExpressionAttributeNames: { '#s': 'state' },
    }),
  );
  return answer.Item?.state?.S === 'done';
}
