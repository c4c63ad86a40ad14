/**
 * Cost per million contacts: every AWS request the upload path and the async path make, counted by an SDK
 * middleware in a run of 10,000 contacts through the real ingest, HTTP and worker code against moto_server
 * (./children/cost.ts), plus Lambda GB-seconds from the measured durations and the memory sizes of the synthesized
 * template, priced with ./prices.ts (one table, dated, with sources). Each path runs at R = 10/s and R = 100/s
 * (DANA_RATE_LIMIT_PER_SECOND). The worker's pacing wait is timed inside the product's limiter (its sleep): per
 * invocation the longest slot wait of its chunks, which wait side by side. DANAConnect's price is not included.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pacingWaitBudgetMs } from '../lambdas/core/pacing';
import { startAwsFaultProxy } from '../test/harness/aws-fault-proxy';
import { synthApp } from './bundle';
import type { MeterEntry } from './lib/aws-meter';
import type { CostConfig, CostPath, CostRun } from './lib/cost-types';
import { startMoto } from './lib/moto';
import { OUT_DIR, runChild, startServerChild } from './lib/proc';
import { ratioOf, type BenchOutcome, type BenchRow } from './lib/result';
import { round } from './lib/stats';
import { deployedConfig, type Deployed } from './lib/template';
import { PRICES } from './prices';

export const COST_GOAL_USD = 0.5;
/** Contacts per run; BENCH_COST_ROWS is for trying the benchmark out only (a multiple of 10). */
export const COST_ROWS = Number(process.env.BENCH_COST_ROWS ?? 10_000);
export const COST_RATES = [10, 100] as const;
/** DANAConnect's answer time in the run: the worker waits for it, so it is part of the GB-s. */
export const COST_DANA_LATENCY_MS = 50;
/** Lambda's START, END and REPORT lines per invocation (about 300 bytes), on top of what the code logs. */
const PLATFORM_LOG_BYTES = 300;
const BILLED_LABELS = new Set(['client', 'ingest-upload', 'start-batch', 'process-chunk', 'esm']);
const S3_PUT_CLASS = new Set([
  'PutObject',
  'CopyObject',
  'CreateMultipartUpload',
  'UploadPart',
  'CompleteMultipartUpload',
  'ListObjectsV2',
  'ListObjects',
]);
const S3_FREE = new Set(['DeleteObject', 'DeleteObjects', 'AbortMultipartUpload']);
const child = (name: string) => fileURLToPath(new URL(`children/${name}`, import.meta.url));

export type Service =
  'lambda' | 'apiGateway' | 'dynamodb' | 'sqs' | 's3' | 'secretsManager' | 'cloudWatchLogs';

export interface Bill {
  usd: Record<Service, number>;
  totalUsd: number;
  workerGbSeconds: number;
  /** The part of workerGbSeconds spent in the pacing limiter (requests, lost races, sleep)... */
  waitGbSeconds: number;
  /** ...and of that, asleep until the slot. */
  sleptGbSeconds: number;
  gbSeconds: number;
}

const billed = (e: MeterEntry) => BILLED_LABELS.has(e.label) && !e.operation.endsWith('(empty)');

function awsRequestsUsd(
  entries: MeterEntry[],
): Pick<Record<Service, number>, 'dynamodb' | 'sqs' | 's3' | 'secretsManager'> {
  const usd = { dynamodb: 0, sqs: 0, s3: 0, secretsManager: 0 };
  for (const e of entries.filter(billed)) {
    if (e.service === 'dynamodb')
      usd.dynamodb += e.wru * PRICES.dynamoWriteUnit.usd + e.rru * PRICES.dynamoReadUnit.usd;
    else if (e.service === 'sqs') usd.sqs += e.billed * PRICES.sqsRequest.usd;
    else if (e.service === 'secretsmanager') usd.secretsManager += e.billed * PRICES.secretsManagerCall.usd;
    else if (S3_PUT_CLASS.has(e.operation)) usd.s3 += e.billed * PRICES.s3PutRequest.usd;
    else if (!S3_FREE.has(e.operation)) usd.s3 += e.billed * PRICES.s3GetRequest.usd;
  }
  return usd;
}

/** What one run costs, in USD, by service. */
export function bill(run: CostRun, deployed: Deployed): Bill {
  let gbSeconds = 0;
  let workerGbSeconds = 0;
  let invocations = 0;
  let logBytes = 0;
  for (const [fn, use] of Object.entries(run.functions)) {
    const memoryMb = deployed.functions[fn]?.memoryMb;
    if (memoryMb === undefined) throw new Error(`no memory size for ${fn} in the template`);
    const gbs = (use.billedMs / 1000) * (memoryMb / 1024);
    gbSeconds += gbs;
    if (fn === 'process-chunk') workerGbSeconds = gbs;
    invocations += use.invocations;
    logBytes += (run.logBytes[fn] ?? 0) + use.invocations * PLATFORM_LOG_BYTES;
  }
  const usd: Record<Service, number> = {
    lambda: gbSeconds * PRICES.lambdaGbSecondArm.usd + invocations * PRICES.lambdaRequest.usd,
    apiGateway: (run.functions['start-batch']?.invocations ?? 0) * PRICES.apiGatewayRestRequest.usd,
    ...awsRequestsUsd(run.meter),
    cloudWatchLogs: (logBytes / 2 ** 30) * PRICES.cloudWatchLogsGb.usd,
  };
  const totalUsd = Object.values(usd).reduce((a, b) => a + b, 0);
  const workerGb = deployed.functions['process-chunk']!.memoryMb / 1024;
  const waitGbSeconds = (run.pacing.waitMs / 1000) * workerGb;
  const sleptGbSeconds = (run.pacing.sleptMs / 1000) * workerGb;
  return { usd, totalUsd, workerGbSeconds, waitGbSeconds, sleptGbSeconds, gbSeconds };
}

/** A bill scaled to one million contacts started. */
export function perMillion(b: Bill, started: number): Bill {
  const k = 1e6 / started;
  const usd = Object.fromEntries(Object.entries(b.usd).map(([s, v]) => [s, v * k])) as Record<
    Service,
    number
  >;
  return {
    usd,
    totalUsd: b.totalUsd * k,
    workerGbSeconds: b.workerGbSeconds * k,
    waitGbSeconds: b.waitGbSeconds * k,
    sleptGbSeconds: b.sleptGbSeconds * k,
    gbSeconds: b.gbSeconds * k,
  };
}

interface Measured {
  path: CostPath;
  rate: number;
  run: CostRun;
  perMillion: Bill;
}

/**
 * BENCH_COST_REUSE=1 (never set by `npm run bench`): take a run's result from bench/out/ when an earlier
 * benchmark completed it with the same number of contacts, so that a rerun after a failure need not repeat the
 * runs that succeeded. The entry's details say which runs were reused.
 */
function reusedRun(path: CostPath, rate: number): CostRun | undefined {
  if (process.env.BENCH_COST_REUSE !== '1') return undefined;
  const file = join(OUT_DIR, `cost-${path}-${rate}.result.json`);
  if (!existsSync(file)) return undefined;
  const run = JSON.parse(readFileSync(file, 'utf8')) as CostRun;
  if (run.config.rows !== COST_ROWS || run.config.path !== path || run.config.rate !== rate) return undefined;
  console.error(
    `  cost: ${path} path, R = ${rate}/s reused from ${file} (${statSync(file).mtime.toISOString()})`,
  );
  return { ...run, reusedFrom: statSync(file).mtime.toISOString() };
}

async function runOnce(
  base: Omit<CostConfig, 'path' | 'rate' | 'pacingMaxWaitMs'>,
  path: CostPath,
  rate: number,
  deployed: Deployed,
): Promise<CostRun> {
  const waiters = deployed.worker.maxConcurrency * deployed.worker.batchSize;
  // The stack sets DANA_PACING_MAX_WAIT_MS from the same function (every waiting chunk gets a slot within it).
  const config: CostConfig = { ...base, path, rate, pacingMaxWaitMs: pacingWaitBudgetMs(rate, waiters) };
  const reused = reusedRun(path, rate);
  if (reused) return reused;
  const { result } = await runChild<CostRun>(`cost-${path}-${rate}`, child('cost.ts'), {
    env: { BENCH_COST: JSON.stringify(config) },
    timeoutMs: 1_200_000,
  });
  if (result.started + result.failed + result.rejected !== COST_ROWS) {
    throw new Error(`${path} at R=${rate}: ${result.started} started of ${COST_ROWS}`);
  }
  return result;
}

async function measureAll(deployed: Deployed, awsUrl: string, danaUrl: string): Promise<Measured[]> {
  const base = {
    rows: COST_ROWS,
    awsUrl,
    danaUrl,
    workerBatchSize: deployed.worker.batchSize,
    workerConcurrency: deployed.worker.maxConcurrency,
    workerTimeoutSeconds: deployed.functions['process-chunk']!.timeoutSeconds,
  };
  const measured: Measured[] = [];
  for (const path of ['upload', 'async'] as const) {
    for (const rate of COST_RATES) {
      console.error(`  cost: ${path} path, R = ${rate}/s`);
      const run = await runOnce(base, path, rate, deployed);
      measured.push({ path, rate, run, perMillion: perMillion(bill(run, deployed), run.started) });
    }
  }
  return measured;
}

const usd = (value: number) => `$${value.toFixed(value < 0.01 ? 4 : 3)}`;

function rowsOf(measured: Measured[]): BenchRow[] {
  const rows: BenchRow[] = [];
  for (const m of measured) {
    rows.push({
      what: `cost per 1M contacts, ${m.path} path, R = ${m.rate}/s (USD, AWS only)`,
      ours: usd(m.perMillion.totalUsd),
      floor: `budget ${usd(COST_GOAL_USD)}`,
      ratio: ratioOf(m.perMillion.totalUsd, COST_GOAL_USD),
      goal: `≤ ${usd(COST_GOAL_USD)}`,
      met: m.perMillion.totalUsd <= COST_GOAL_USD,
    });
    const { waitGbSeconds, sleptGbSeconds, workerGbSeconds } = m.perMillion;
    rows.push({
      what: `pacing, ${m.path} path, R = ${m.rate}/s (worker GB-s per 1M contacts in the limiter; asleep)`,
      ours: `${round(waitGbSeconds, 0)} GB-s = ${usd(waitGbSeconds * PRICES.lambdaGbSecondArm.usd)}; asleep ${round(sleptGbSeconds, 0)}`,
      floor: `worker ${round(workerGbSeconds, 0)} GB-s`,
      ratio: ratioOf(waitGbSeconds, workerGbSeconds),
      goal: '(information: share of the worker)',
    });
  }
  return rows;
}

const SERVICES: [Service, string][] = [
  ['lambda', 'Lambda (requests + GB-s, arm64)'],
  ['apiGateway', 'API Gateway (REST)'],
  ['dynamodb', 'DynamoDB (on-demand WRU/RRU)'],
  ['sqs', 'SQS (64 KB chunks)'],
  ['s3', 'S3 (PUT/GET)'],
  ['secretsManager', 'Secrets Manager'],
  ['cloudWatchLogs', 'CloudWatch Logs (ingestion)'],
];

/** USD per million contacts by service, one column per run. */
function serviceTable(measured: Measured[]): string {
  const runs = measured;
  const header = `| service | ${runs.map((m) => `${m.path}, R = ${m.rate}/s`).join(' | ')} |`;
  const line = `|---|${runs.map(() => '---:').join('|')}|`;
  const body = SERVICES.map(
    ([s, label]) => `| ${label} | ${runs.map((m) => usd(m.perMillion.usd[s])).join(' | ')} |`,
  );
  const total = `| **total** | ${runs.map((m) => `**${usd(m.perMillion.totalUsd)}**`).join(' | ')} |`;
  return [header, line, ...body, total].join('\n');
}

/** Billed AWS requests per 1,000 contacts started, by who made them and what (the R = 10/s runs). */
function requestTable(measured: Measured[]): string {
  const lines: string[] = [
    '| path | made by | service.operation | requests per 1,000 contacts | DynamoDB WRU / RRU per 1,000 |',
    '|---|---|---|---:|---:|',
  ];
  for (const m of measured.filter((x) => x.rate === COST_RATES[0])) {
    const k = 1000 / m.run.started;
    for (const e of [...m.run.meter].filter(billed).sort((a, b) => b.requests - a.requests)) {
      const units = e.service === 'dynamodb' ? `${round(e.wru * k, 1)} / ${round(e.rru * k, 1)}` : '';
      lines.push(
        `| ${m.path} | ${e.label} | ${e.service}.${e.operation} | ${round(e.requests * k, 1)} | ${units} |`,
      );
    }
  }
  return lines.join('\n');
}

export async function costBenchmark(): Promise<BenchOutcome> {
  const deployed = deployedConfig(await synthApp());
  const moto = await startMoto();
  const proxy = await startAwsFaultProxy({ target: moto.url });
  const sandbox = await startServerChild('cost-sandbox', child('sandbox.ts'), {
    BENCH_SANDBOX: JSON.stringify({ faults: { latencyMs: COST_DANA_LATENCY_MS } }),
  });
  try {
    const measured = await measureAll(deployed, proxy.url, sandbox.url);
    const markdown = [
      'Cost per 1,000,000 contacts started, USD, us-east-1 on-demand prices of bench/prices.ts (AWS only; DANAConnect not included):',
      '',
      serviceTable(measured),
      '',
      'Billed AWS requests per 1,000 contacts (R = 10/s runs):',
      '',
      requestTable(measured),
    ].join('\n');
    return {
      rows: rowsOf(measured),
      runs: `${COST_ROWS.toLocaleString('en')} contacts per path (upload: one CSV; async: ${COST_ROWS / 10} start-batch requests of 10) at R = ${COST_RATES.join(' and ')}/s, through the real handlers against moto_server behind the AWS proxy; DANAConnect sandbox latency ${COST_DANA_LATENCY_MS} ms; worker as deployed: ${deployed.worker.maxConcurrency} environments × batches of ${deployed.worker.batchSize}, ${deployed.functions['process-chunk']!.memoryMb} MB`,
      details: {
        deployed,
        proxyRequests: proxy.stats().requests,
        runs: measured.map((m) => ({
          path: m.path,
          rate: m.rate,
          perMillion: m.perMillion,
          run: m.run,
        })),
      },
      markdown,
    };
  } finally {
    await sandbox.stop();
    await proxy.close();
    await moto.stop();
  }
}
