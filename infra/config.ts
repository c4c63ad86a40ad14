/**
 * The deployment's configuration: its shape, its defaults and its validation. Values come from the CDK context
 * key `gateway` (cdk.json, or a JSON file named with `-c gatewayConfigFile=path.json`), laid over DEFAULT_CONFIG
 * key by key. Everything is checked at synth, and every problem is reported at once, named by its path.
 */
import {
  checkEventsConfig,
  DEFAULT_EVENTS_CONFIG,
  EVENTS_CONFIG_KEYS,
  type EventsConfig,
} from './events-config';
import { checkJobsConfig, DEFAULT_JOBS_CONFIG, JOBS_CONFIG_KEYS, type JobsConfig } from './jobs-config';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  checkScheduledStartEntry,
  SCHEDULED_START_KEYS,
  type ScheduledStart,
} from './scheduled-start-config';
import {
  checkSecurityConfig,
  DEFAULT_SECURITY_CONFIG,
  SECURITY_CONFIG_KEYS,
  type SecurityConfig,
} from './security-config';
import {
  MAX_LAMBDA_TIMEOUT_SECONDS,
  PROCESS_CHUNK_BATCH_SIZE,
  WORKER_BASE_TIMEOUT_SECONDS,
  workerPacingWaitMs,
  workerTimeoutSeconds,
} from './worker-budget';

export type AuthMode = 'iam' | 'api-key';
export type LogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';

/** Where the DANAConnect credentials live. */
export type SecretConfig =
  /** The stack creates the secret with a placeholder value; the operator puts the credentials in it. */
  | { source: 'create' }
  /** An existing secret, by name (its ARN is not known at synth, so policies use the name plus `-??????`). */
  | { source: 'name'; name: string; kmsKeyArn?: string }
  /** An existing secret, by its complete ARN (with the 6-character suffix Secrets Manager adds). */
  | { source: 'arn'; arn: string; kmsKeyArn?: string };

export type { ScheduledStart } from './scheduled-start-config';

/** S3 lifecycle of the jobs bucket, in days. */
export interface BucketLifecycle {
  /** Uploads (`uploads/`) expire this long after they were written: they hold personal data. */
  uploadsDays: number;
  /** Reports (`reports/`: row numbers, statuses, DANAConnect ids, reasons, never field values). */
  reportsDays: number;
  /** An overwritten or expired version (the bucket is versioned) is deleted this long after. */
  noncurrentVersionsDays: number;
  /** Multipart uploads not completed within this are aborted and their parts deleted. */
  incompleteMultipartUploadDays: number;
  /** The bucket's server access logs. */
  accessLogsDays: number;
}

/** The batch pipeline: S3 uploads and `Prefer: respond-async` requests -> SQS -> paced workers. */
export interface BatchConfig {
  /** Calls per second to DANAConnect across all workers (DANA_RATE_LIMIT_PER_SECOND). */
  rateLimitPerSecond: number;
  /** At most this many worker invocations at once (the SQS event source's maximum concurrency, >= 2). */
  workerMaxConcurrency: number;
  /** Receives of a chunk before it goes to the dead-letter queue; the worker gets the same value. */
  maxReceiveCount: number;
  /**
   * The 5xx statuses after which the worker sends a chunk again (docs/OUTCOME-RULES.md). Default [503]: any other
   * 5xx may come after DANAConnect started rows. Add 500 only if you know your DANAConnect never acts before one.
   */
  resendOn5xx: number[];
  /** Alarm when the oldest chunk has waited longer than this (the queue is not draining). */
  backlogAlarmMinutes: number;
  /** The ingest function's timeout (at most Lambda's 15 minutes) and memory. */
  ingestTimeoutSeconds: number;
  ingestMemoryMb: number;
  /**
   * The largest upload the ingest reads, in bytes (default 2 GiB). A larger object is rejected whole, before it is
   * read, with a summary naming the limit; presigned upload forms carry the same bound.
   */
  maxUploadBytes: number;
  /** The most rows one upload may hold (default 5,000,000). An upload with more is rejected whole. */
  maxRowsPerUpload: number;
  lifecycle: BucketLifecycle;
}

/** The security settings (uploaders, apiKeys, callerThrottles, encryption) are in ./security-config.ts. */
export interface GatewayConfig extends SecurityConfig, JobsConfig, EventsConfig {
  /** The API Gateway stage, and the stack's name suffix (`DanaGateway-<stage>`). */
  stage: string;
  /** DANAConnect's base URL, scheme and host only (the client appends `/api/<version>/rest`). */
  danaBaseUrl: string;
  /** The OAuth2 token endpoint for API 2.0 credentials; unset means the client's default. */
  danaTokenUrl?: string;
  secret: SecretConfig;
  /** `iam`: every method needs SigV4. `api-key`: every method needs an `x-api-key` of the stack's usage plan. */
  auth: AuthMode;
  /** Stage-wide (and usage-plan) throttling: steady requests per second and burst. */
  throttling: { rateLimit: number; burstLimit: number };
  /** Retention of every log group the stack creates (functions, API access logs). */
  logRetentionDays: number;
  logLevel: LogLevel;
  /** E-mail addresses subscribed to the alarm topic (each must confirm the subscription). */
  alarmEmails: string[];
  /**
   * `create`: the stack sets the account's API Gateway CloudWatch role (needed once per account and region for
   * execution logging). `existing`: another stack or the console already did.
   */
  apiGatewayAccountRole: 'create' | 'existing';
  scheduledStarts: ScheduledStart[];
  /** Each key (and each key of `batch.lifecycle`) defaults on its own. */
  batch: BatchConfig;
}

export const DEFAULT_BATCH_CONFIG: BatchConfig = {
  rateLimitPerSecond: 10,
  workerMaxConcurrency: 5,
  maxReceiveCount: 5,
  resendOn5xx: [503],
  backlogAlarmMinutes: 180,
  ingestTimeoutSeconds: 900,
  ingestMemoryMb: 1024,
  maxUploadBytes: 2 * 1024 ** 3,
  maxRowsPerUpload: 5_000_000,
  lifecycle: {
    uploadsDays: 30,
    reportsDays: 90,
    noncurrentVersionsDays: 7,
    incompleteMultipartUploadDays: 7,
    accessLogsDays: 90,
  },
};

export const DEFAULT_CONFIG: GatewayConfig = {
  stage: 'prod',
  danaBaseUrl: 'https://appserv.danaconnect.com',
  secret: { source: 'create' },
  auth: 'iam',
  throttling: { rateLimit: 20, burstLimit: 40 },
  logRetentionDays: 30,
  logLevel: 'INFO',
  alarmEmails: [],
  apiGatewayAccountRole: 'create',
  scheduledStarts: [],
  batch: DEFAULT_BATCH_CONFIG,
  ...DEFAULT_SECURITY_CONFIG,
  ...DEFAULT_JOBS_CONFIG,
  ...DEFAULT_EVENTS_CONFIG,
};

/** The retention values CloudWatch Logs accepts (RetentionDays), 9999 meaning never expire. */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
  9999,
] as const;

export const CONFIG_CONTEXT_KEY = 'gateway';
export const CONFIG_FILE_CONTEXT_KEY = 'gatewayConfigFile';

export class GatewayConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`Invalid gateway configuration (${source}):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'GatewayConfigError';
  }
}

// Cron: AWS EventBridge's 6-field form, checked by the same code as the runtime schedules API.
export { cronProblem } from '../lambdas/core/schedules';

// ---------------------------------------------------------------------------------------------------------
// Field checks. Each records its problem under the field's path and returns the value when it is usable.

class Checker {
  readonly problems: string[] = [];

  fail(path: string, reason: string): undefined {
    this.problems.push(`${path}: ${reason}`);
    return undefined;
  }

  object(path: string, value: unknown, keys: readonly string[]): Record<string, unknown> | undefined {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      return this.fail(path, 'must be an object');
    }
    for (const key of Object.keys(value)) {
      if (!keys.includes(key))
        this.fail(`${path}.${key}`, `is not a known setting (known: ${keys.join(', ')})`);
    }
    return value as Record<string, unknown>;
  }

  string(path: string, value: unknown, pattern: RegExp, rule: string): string | undefined {
    if (typeof value !== 'string' || !pattern.test(value)) return this.fail(path, `must be ${rule}`);
    return value;
  }

  oneOf<T extends string>(path: string, value: unknown, allowed: readonly T[]): T | undefined {
    if (typeof value !== 'string' || !allowed.includes(value as T)) {
      return this.fail(path, `must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`);
    }
    return value as T;
  }

  number(path: string, value: unknown, min: number, max: number, integer: boolean): number | undefined {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
      return this.fail(path, `must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}`);
    }
    if (integer && !Number.isInteger(value)) return this.fail(path, 'must be an integer');
    return value;
  }

  httpsUrl(path: string, value: unknown, hostOnly: boolean): string | undefined {
    let url: URL;
    try {
      if (typeof value !== 'string') throw new TypeError();
      url = new URL(value);
    } catch {
      return this.fail(path, 'must be an absolute https:// URL');
    }
    if (url.protocol !== 'https:') return this.fail(path, 'must use https:// (credentials travel on it)');
    if (url.username || url.password) return this.fail(path, 'must not carry credentials');
    if (url.search || url.hash) return this.fail(path, 'must not have a query or fragment');
    if (hostOnly && url.pathname !== '/') {
      return this.fail(path, 'must be scheme and host only (the client appends /api/<version>/rest)');
    }
    return (value as string).replace(/\/+$/, '');
  }
}

const SECRET_NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
const SECRET_ARN =
  /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$/;
const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

function checkSecret(c: Checker, value: unknown): SecretConfig | undefined {
  const obj = c.object('secret', value, ['source', 'name', 'arn', 'kmsKeyArn']);
  if (!obj) return undefined;
  const source = c.oneOf('secret.source', obj.source, ['create', 'name', 'arn'] as const);
  const kmsKeyArn =
    obj.kmsKeyArn === undefined
      ? undefined
      : c.string(
          'secret.kmsKeyArn',
          obj.kmsKeyArn,
          KMS_KEY_ARN,
          'a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)',
        );
  switch (source) {
    case 'create':
      if (obj.name !== undefined || obj.arn !== undefined || obj.kmsKeyArn !== undefined) {
        return c.fail('secret', 'with source "create", name, arn and kmsKeyArn must not be set');
      }
      return { source };
    case 'name': {
      if (obj.arn !== undefined) return c.fail('secret.arn', 'must not be set with source "name"');
      const name = c.string(
        'secret.name',
        obj.name,
        SECRET_NAME,
        '1 to 512 characters of letters, digits and /_+=.@-',
      );
      return name === undefined ? undefined : { source, name, ...(kmsKeyArn ? { kmsKeyArn } : {}) };
    }
    case 'arn': {
      if (obj.name !== undefined) return c.fail('secret.name', 'must not be set with source "arn"');
      const arn = c.string(
        'secret.arn',
        obj.arn,
        SECRET_ARN,
        'the secret\'s complete ARN, ending in -<6 characters> (or use source "name")',
      );
      return arn === undefined ? undefined : { source, arn, ...(kmsKeyArn ? { kmsKeyArn } : {}) };
    }
    default:
      return undefined;
  }
}

function checkScheduledStart(c: Checker, path: string, value: unknown): ScheduledStart | undefined {
  const obj = c.object(path, value, SCHEDULED_START_KEYS);
  return obj && checkScheduledStartEntry(path, obj, c.problems);
}

/** Distinct 5xx statuses; 503 is the default, and the only one that proves nothing was acted on. */
function checkResendOn5xx(c: Checker, value: unknown): number[] | undefined {
  const path = 'batch.resendOn5xx';
  if (!Array.isArray(value)) return c.fail(path, 'must be an array of HTTP statuses from 500 to 599');
  const statuses = value.map((v, i) => c.number(`${path}[${i}]`, v, 500, 599, true));
  if (statuses.some((s) => s === undefined)) return undefined;
  if (new Set(statuses).size !== statuses.length) return c.fail(path, 'must not repeat a status');
  return statuses as number[];
}

/**
 * Every chunk that can wait for a pacing slot at once (the workers' concurrency × their batch size) must get one
 * within the worker's timeout, or pacing alone would hand chunks back without end: such a config cannot work.
 */
function checkPacingFits(c: Checker, rate: number, concurrency: number): void {
  const waitMs = workerPacingWaitMs(rate, concurrency);
  const timeout = workerTimeoutSeconds(waitMs);
  if (timeout <= MAX_LAMBDA_TIMEOUT_SECONDS) return;
  const fits = Math.floor(
    (MAX_LAMBDA_TIMEOUT_SECONDS - WORKER_BASE_TIMEOUT_SECONDS) / ((PROCESS_CHUNK_BATCH_SIZE * 1.05) / rate),
  );
  c.fail(
    'batch.workerMaxConcurrency',
    `${concurrency} workers × ${PROCESS_CHUNK_BATCH_SIZE} chunks each wait up to ${Math.ceil(waitMs / 1000)} s ` +
      `for their pacing slots at ${rate} calls/s, beyond what a worker can live (Lambda's 15 minutes with the call ` +
      `and its bookkeeping): at this rate use at most ${fits} (or raise batch.rateLimitPerSecond)`,
  );
}

/** `batch`, each key (and each key of `lifecycle`) laid over its default. */
/** `batch.lifecycle`, each key laid over its default: whole days from 1 to 36,500. */
function checkLifecycle(c: Checker, value: unknown): BucketLifecycle {
  const keys = Object.keys(DEFAULT_BATCH_CONFIG.lifecycle) as (keyof BucketLifecycle)[];
  const given = c.object('batch.lifecycle', value, keys);
  const merged = { ...DEFAULT_BATCH_CONFIG.lifecycle, ...given } as Record<string, unknown>;
  const days = (key: keyof BucketLifecycle) =>
    c.number(`batch.lifecycle.${key}`, merged[key], 1, 36_500, true);
  // With any problem the caller throws before this value is used.
  return Object.fromEntries(keys.map((key) => [key, days(key)])) as unknown as BucketLifecycle;
}

function checkBatch(c: Checker, value: unknown): BatchConfig | undefined {
  const keys = Object.keys(DEFAULT_BATCH_CONFIG);
  const given = value === undefined ? {} : c.object('batch', value, keys);
  if (!given) return undefined;
  const merged = { ...DEFAULT_BATCH_CONFIG, ...given } as Record<string, unknown>;
  const rateLimitPerSecond = c.number(
    'batch.rateLimitPerSecond',
    merged.rateLimitPerSecond,
    0.1,
    1_000,
    false,
  );
  // Lambda's SQS event sources take 2 to 1000.
  const workerMaxConcurrency = c.number(
    'batch.workerMaxConcurrency',
    merged.workerMaxConcurrency,
    2,
    1_000,
    true,
  );
  // One receive would leave no room for a single retry of a 429 or 5xx; SQS allows at most 1000.
  const maxReceiveCount = c.number('batch.maxReceiveCount', merged.maxReceiveCount, 2, 1_000, true);
  const resendOn5xx = checkResendOn5xx(c, merged.resendOn5xx);
  if (rateLimitPerSecond !== undefined && workerMaxConcurrency !== undefined) {
    checkPacingFits(c, rateLimitPerSecond, workerMaxConcurrency);
  }
  const backlogAlarmMinutes = c.number(
    'batch.backlogAlarmMinutes',
    merged.backlogAlarmMinutes,
    5,
    10_080,
    true,
  );
  const ingestTimeoutSeconds = c.number(
    'batch.ingestTimeoutSeconds',
    merged.ingestTimeoutSeconds,
    60,
    900,
    true,
  );
  const ingestMemoryMb = c.number('batch.ingestMemoryMb', merged.ingestMemoryMb, 256, 10_240, true);
  // S3's largest object is 5 TiB.
  const maxUploadBytes = c.number('batch.maxUploadBytes', merged.maxUploadBytes, 1, 5 * 1024 ** 4, true);
  const maxRowsPerUpload = c.number('batch.maxRowsPerUpload', merged.maxRowsPerUpload, 1, 100_000_000, true);
  const lifecycle = checkLifecycle(c, merged.lifecycle);
  // With any problem the caller throws before this value is used.
  return {
    rateLimitPerSecond: rateLimitPerSecond!,
    workerMaxConcurrency: workerMaxConcurrency!,
    maxReceiveCount: maxReceiveCount!,
    resendOn5xx: resendOn5xx!,
    backlogAlarmMinutes: backlogAlarmMinutes!,
    ingestTimeoutSeconds: ingestTimeoutSeconds!,
    ingestMemoryMb: ingestMemoryMb!,
    maxUploadBytes: maxUploadBytes!,
    maxRowsPerUpload: maxRowsPerUpload!,
    lifecycle,
  };
}

const CONFIG_KEYS = [
  ...new Set([
    ...Object.keys(DEFAULT_CONFIG),
    'danaTokenUrl',
    ...SECURITY_CONFIG_KEYS,
    ...JOBS_CONFIG_KEYS,
    ...EVENTS_CONFIG_KEYS,
  ]),
];

function checkAlarmEmails(c: Checker, value: unknown): string[] | undefined {
  if (!Array.isArray(value)) return c.fail('alarmEmails', 'must be an array of e-mail addresses');
  return value.filter(
    (e, i): e is string => c.string(`alarmEmails[${i}]`, e, EMAIL, 'an e-mail address') !== undefined,
  );
}

/** Each start is checked on its own; names must be unique because they name the schedule resources. */
function checkScheduledStarts(c: Checker, value: unknown): ScheduledStart[] | undefined {
  if (!Array.isArray(value)) return c.fail('scheduledStarts', 'must be an array');
  const starts: ScheduledStart[] = [];
  const seen = new Set<string>();
  for (const [i, item] of value.entries()) {
    const start = checkScheduledStart(c, `scheduledStarts[${i}]`, item);
    if (!start) continue;
    if (seen.has(start.name)) c.fail(`scheduledStarts[${i}].name`, `"${start.name}" is used twice`);
    seen.add(start.name);
    starts.push(start);
  }
  return starts;
}

/**
 * Validates `raw` (the context value, laid over the defaults key by key). `source` says where it came from, for
 * the error message. Throws a GatewayConfigError listing every problem.
 */
export function parseGatewayConfig(raw: unknown, source = `context "${CONFIG_CONTEXT_KEY}"`): GatewayConfig {
  const c = new Checker();
  const given = raw === undefined ? {} : c.object('(root)', raw, CONFIG_KEYS);
  if (!given) throw new GatewayConfigError(source, c.problems);
  const merged = { ...DEFAULT_CONFIG, ...given } as Record<string, unknown>;

  const stage = c.string(
    'stage',
    merged.stage,
    /^[a-z][a-z0-9-]{0,31}$/,
    'lowercase letters, digits and -, starting with a letter, at most 32 characters',
  );
  const danaBaseUrl = c.httpsUrl('danaBaseUrl', merged.danaBaseUrl, true);
  const danaTokenUrl =
    merged.danaTokenUrl === undefined ? undefined : c.httpsUrl('danaTokenUrl', merged.danaTokenUrl, false);
  const secret = checkSecret(c, merged.secret);
  const auth = c.oneOf('auth', merged.auth, ['iam', 'api-key'] as const);
  const throttlingObj = c.object('throttling', merged.throttling, ['rateLimit', 'burstLimit']);
  const rateLimit =
    throttlingObj && c.number('throttling.rateLimit', throttlingObj.rateLimit, 1, 10_000, false);
  const burstLimit =
    throttlingObj && c.number('throttling.burstLimit', throttlingObj.burstLimit, 1, 5_000, true);
  const logRetentionDays = LOG_RETENTION_DAYS.includes(merged.logRetentionDays as never)
    ? (merged.logRetentionDays as number)
    : c.fail('logRetentionDays', `must be one of ${LOG_RETENTION_DAYS.join(', ')} (9999 = never expire)`);
  const logLevel = c.oneOf('logLevel', merged.logLevel, ['DEBUG', 'INFO', 'WARN', 'ERROR'] as const);
  const apiGatewayAccountRole = c.oneOf('apiGatewayAccountRole', merged.apiGatewayAccountRole, [
    'create',
    'existing',
  ] as const);

  const alarmEmails = checkAlarmEmails(c, merged.alarmEmails);
  const scheduledStarts = checkScheduledStarts(c, merged.scheduledStarts);
  const batch = checkBatch(c, given.batch);
  const security = checkSecurityConfig(merged, auth, c.problems);
  const jobs = checkJobsConfig(merged, c.problems);
  const events = checkEventsConfig(merged, c.problems);

  if (c.problems.length > 0) throw new GatewayConfigError(source, c.problems);
  return {
    stage: stage!,
    danaBaseUrl: danaBaseUrl!,
    ...(danaTokenUrl ? { danaTokenUrl } : {}),
    secret: secret!,
    auth: auth!,
    throttling: { rateLimit: rateLimit!, burstLimit: burstLimit! },
    logRetentionDays: logRetentionDays!,
    logLevel: logLevel!,
    alarmEmails: alarmEmails!,
    apiGatewayAccountRole: apiGatewayAccountRole!,
    scheduledStarts: scheduledStarts!,
    batch: batch!,
    ...security!,
    ...jobs!,
    ...events!,
  };
}

/** Reads the configuration from a construct's context: `gatewayConfigFile` (a JSON file) wins over `gateway`. */
export function configFromContext(tryGetContext: (key: string) => unknown): GatewayConfig {
  const file = tryGetContext(CONFIG_FILE_CONTEXT_KEY);
  if (file !== undefined) {
    if (typeof file !== 'string') {
      throw new GatewayConfigError(`context "${CONFIG_FILE_CONTEXT_KEY}"`, ['must be a path to a JSON file']);
    }
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(resolve(file), 'utf8'));
    } catch (error) {
      throw new GatewayConfigError(file, [`cannot be read as JSON (${(error as Error).message})`]);
    }
    return parseGatewayConfig(raw, file);
  }
  return parseGatewayConfig(tryGetContext(CONFIG_CONTEXT_KEY));
}
