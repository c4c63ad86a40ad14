import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  configFromContext,
  cronProblem,
  DEFAULT_BATCH_CONFIG,
  DEFAULT_CONFIG,
  GatewayConfigError,
  parseGatewayConfig,
} from '../../infra/config';
import { buildGatewayApp, cdkJsonContext } from '../../infra/gateway-app';

const validStart = {
  name: 'monday-reminders',
  conversationId: 1001,
  cron: 'cron(0 12 ? * MON *)',
  enabled: true,
  description: 'Monday reminders',
};

/** The problems parseGatewayConfig reports for `raw`. */
function problemsOf(raw: unknown): string[] {
  try {
    parseGatewayConfig(raw);
  } catch (error) {
    if (error instanceof GatewayConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected the configuration to be refused');
}

describe('configuration: defaults and cdk.json', () => {
  it('no context at all gives the defaults', () => {
    expect(parseGatewayConfig(undefined)).toEqual(DEFAULT_CONFIG);
  });

  it("cdk.json's configuration is valid and is what the app deploys", () => {
    const config = parseGatewayConfig(cdkJsonContext().gateway);
    expect(config.stage).toBe('prod');
    expect(config.danaBaseUrl).toBe('https://appserv.danaconnect.com');
    expect(config.auth).toBe('iam');
    expect(config.secret).toEqual({ source: 'create' });
  });

  it('a partial configuration keeps the defaults for the keys it does not set', () => {
    const config = parseGatewayConfig({ stage: 'staging', logRetentionDays: 90 });
    expect(config).toEqual({ ...DEFAULT_CONFIG, stage: 'staging', logRetentionDays: 90 });
  });

  it('accepts each secret source, a token URL and scheduled starts', () => {
    const config = parseGatewayConfig({
      danaTokenUrl: 'https://auth.danaconnect.com/oauth2/token',
      secret: {
        source: 'arn',
        arn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/dana-AbC123',
        kmsKeyArn: 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
      },
      scheduledStarts: [validStart, { ...validStart, name: 'b', conversationId: 2147483647, enabled: false }],
    });
    expect(config.danaTokenUrl).toBe('https://auth.danaconnect.com/oauth2/token');
    expect(config.secret.source).toBe('arn');
    expect(config.scheduledStarts.map((s) => s.conversationId)).toEqual([1001, 2147483647]);
    expect(parseGatewayConfig({ secret: { source: 'name', name: 'prod/danaconnect' } }).secret).toEqual({
      source: 'name',
      name: 'prod/danaconnect',
    });
  });

  it('batch settings default one by one, lifecycle days too', () => {
    expect(DEFAULT_BATCH_CONFIG).toEqual({
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
    });
    const config = parseGatewayConfig({
      batch: { rateLimitPerSecond: 2.5, maxReceiveCount: 8, lifecycle: { uploadsDays: 3 } },
    });
    expect(config.batch).toEqual({
      ...DEFAULT_BATCH_CONFIG,
      rateLimitPerSecond: 2.5,
      maxReceiveCount: 8,
      lifecycle: { ...DEFAULT_BATCH_CONFIG.lifecycle, uploadsDays: 3 },
    });
    expect(parseGatewayConfig({ batch: {} }).batch).toEqual(DEFAULT_BATCH_CONFIG);
  });

  it('a trailing slash on the base URL is dropped', () => {
    expect(parseGatewayConfig({ danaBaseUrl: 'https://appserv.danaconnect.com/' }).danaBaseUrl).toBe(
      'https://appserv.danaconnect.com',
    );
  });
});

describe('configuration: errors name the setting and the rule', () => {
  it.each([
    [{ danaBaseUrl: 'http://appserv.danaconnect.com' }, 'danaBaseUrl: must use https://'],
    [{ danaBaseUrl: 'appserv.danaconnect.com' }, 'danaBaseUrl: must be an absolute https:// URL'],
    [
      { danaBaseUrl: 'https://appserv.danaconnect.com/api/1.0/rest' },
      'danaBaseUrl: must be scheme and host only',
    ],
    [{ danaBaseUrl: 'https://user:pw@appserv.danaconnect.com' }, 'danaBaseUrl: must not carry credentials'],
    [{ danaTokenUrl: 'http://auth.danaconnect.com/oauth2/token' }, 'danaTokenUrl: must use https://'],
    [{ stage: 'Prod_1' }, 'stage: must be lowercase letters, digits and -'],
    [{ stage: '' }, 'stage: must be lowercase letters'],
    [{ auth: 'cognito' }, 'auth: must be one of "iam", "api-key"'],
    [
      { throttling: { rateLimit: 0, burstLimit: 10 } },
      'throttling.rateLimit: must be a number from 1 to 10000',
    ],
    [{ throttling: { rateLimit: 10, burstLimit: 2.5 } }, 'throttling.burstLimit: must be an integer'],
    [{ throttling: { rateLimit: 10 } }, 'throttling.burstLimit: must be an integer from 1 to 5000'],
    [{ logRetentionDays: 10 }, 'logRetentionDays: must be one of 1, 3, 5, 7, 14, 30'],
    [{ logLevel: 'verbose' }, 'logLevel: must be one of "DEBUG", "INFO", "WARN", "ERROR"'],
    [{ alarmEmails: ['ops'] }, 'alarmEmails[0]: must be an e-mail address'],
    [{ apiGatewayAccountRole: 'maybe' }, 'apiGatewayAccountRole: must be one of "create", "existing"'],
    [{ stages: 'prod' }, 'stages: is not a known setting'],
    [{ secret: { source: 'ssm' } }, 'secret.source: must be one of "create", "name", "arn"'],
    [
      { secret: { source: 'create', name: 'x' } },
      'secret: with source "create", name, arn and kmsKeyArn must not',
    ],
    [{ secret: { source: 'name' } }, 'secret.name: must be 1 to 512 characters'],
    [
      { secret: { source: 'arn', arn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/dana' } },
      "secret.arn: must be the secret's complete ARN, ending in -<6 characters>",
    ],
    [
      { secret: { source: 'name', name: 'x', kmsKeyArn: 'alias/aws/secretsmanager' } },
      'secret.kmsKeyArn: must be a KMS key ARN',
    ],
    [{ scheduledStarts: {} }, 'scheduledStarts: must be an array'],
    [{ batch: [] }, 'batch: must be an object'],
    [{ batch: { rateLimit: 5 } }, 'batch.rateLimit: is not a known setting'],
    [{ batch: { rateLimitPerSecond: 0 } }, 'batch.rateLimitPerSecond: must be a number from 0.1 to 1000'],
    [{ batch: { rateLimitPerSecond: '10' } }, 'batch.rateLimitPerSecond: must be a number from 0.1 to 1000'],
    [{ batch: { workerMaxConcurrency: 1 } }, 'batch.workerMaxConcurrency: must be an integer from 2 to 1000'],
    [{ batch: { maxReceiveCount: 1 } }, 'batch.maxReceiveCount: must be an integer from 2 to 1000'],
    [{ batch: { maxReceiveCount: 4.5 } }, 'batch.maxReceiveCount: must be an integer'],
    [{ batch: { backlogAlarmMinutes: 1 } }, 'batch.backlogAlarmMinutes: must be an integer from 5 to 10080'],
    [
      { batch: { ingestTimeoutSeconds: 901 } },
      'batch.ingestTimeoutSeconds: must be an integer from 60 to 900',
    ],
    [{ batch: { ingestMemoryMb: 128 } }, 'batch.ingestMemoryMb: must be an integer from 256 to 10240'],
    [{ batch: { maxUploadBytes: 0 } }, 'batch.maxUploadBytes: must be an integer from 1 to 5497558138880'],
    [{ batch: { maxUploadBytes: 1.5 } }, 'batch.maxUploadBytes: must be an integer'],
    [{ batch: { maxRowsPerUpload: 0 } }, 'batch.maxRowsPerUpload: must be an integer from 1 to 100000000'],
    [{ batch: { lifecycle: 30 } }, 'batch.lifecycle: must be an object'],
    [{ batch: { lifecycle: { uploads: 30 } } }, 'batch.lifecycle.uploads: is not a known setting'],
    [
      { batch: { lifecycle: { uploadsDays: 0 } } },
      'batch.lifecycle.uploadsDays: must be an integer from 1 to 36500',
    ],
    [{ batch: { lifecycle: { reportsDays: 1.5 } } }, 'batch.lifecycle.reportsDays: must be an integer'],
  ])('%j → %s', (raw, expected) => {
    expect(problemsOf(raw).join('\n')).toContain(expected);
  });

  it.each([
    [
      { cron: 'cron(0 8 * * *)' },
      'scheduledStarts[0].cron: "cron(0 8 * * *)" has 5 fields; EventBridge cron has 6',
    ],
    [{ cron: '0 8 * * ? *' }, 'must look like cron(Minutes Hours Day-of-month Month Day-of-week Year)'],
    [{ cron: 'rate(5 minutes)' }, 'must look like cron('],
    [{ cron: 'cron(0 8 * * * *)' }, 'exactly one of day-of-month and day-of-week must be "?"'],
    [{ cron: 'cron(60 8 * * ? *)' }, 'minutes "60": "60" is not a value, range or * within 0-59'],
    [{ conversationId: 0 }, 'scheduledStarts[0].conversationId: must be an integer from 1 to 2147483647'],
    [{ conversationId: 2147483648 }, 'conversationId: must be an integer from 1 to 2147483647'],
    [{ conversationId: 1.5 }, 'conversationId: must be an integer from 1 to 2147483647'],
    [{ conversationId: '1001' }, 'scheduledStarts[0].conversationId: must be a number (not a string)'],
    // The runtime API's rule (lambdas/core/schedules.ts parseScheduleName), one rule for both.
    [
      { name: 'monday reminders' },
      'scheduledStarts[0].name: must be 1 to 64 characters of A-Z, a-z, 0-9, _, . and -, not dots only',
    ],
    [{ name: '..' }, 'scheduledStarts[0].name: must be 1 to 64 characters of'],
    [{ name: 'x'.repeat(65) }, 'scheduledStarts[0].name: must be 1 to 64 characters of'],
    [{ enabled: 'yes' }, 'scheduledStarts[0].enabled: must be true or false'],
    [{ description: '' }, 'scheduledStarts[0].description: must be 1 to 512 characters on one line'],
    [{ cron: undefined, at: '08:00' }, 'scheduledStarts[0].at: must be a local date-time without offset'],
    [{ at: '2099-12-24T08:00:00' }, 'scheduledStarts[0].at: give cron or at, not both'],
    [{ cron: undefined, at: '2020-12-24 08:00:00' }, 'scheduledStarts[0].at: must be a local date-time'],
    [
      { cron: undefined, at: '2099-03-08T02:30:00', timezone: 'America/New_York' },
      'scheduledStarts[0].at: "2099-03-08T02:30:00" does not exist in America/New_York',
    ],
    [
      { timezone: 'America/Atlantis' },
      'scheduledStarts[0].timezone: "America/Atlantis" is not a known IANA time zone',
    ],
    [
      { timezone: 'UTC', cron: 'cron(0 8 * * MON *)' },
      'scheduledStarts[0].cron: "cron(0 8 * * MON *)" exactly one of',
    ],
    [
      { conversation: 'newsletter' },
      'scheduledStarts[0].conversation: give conversationId or conversation, not both',
    ],
    [
      { conversationId: undefined, conversation: 'News' },
      'scheduledStarts[0].conversation: must be a conversation id',
    ],
    [
      { conversationId: undefined, conversation: 'news_' },
      'scheduledStarts[0].conversation: must be 1 to 63 characters',
    ],
    [
      { timezone: 'UTC', flexibleWindowMinutes: 1441 },
      'scheduledStarts[0].flexibleWindowMinutes: must be an integer from 0 to 1440',
    ],
    [{ flexibleWindowMinutes: 5 }, 'scheduledStarts[0].flexibleWindowMinutes: needs a timezone'],
  ])('scheduled start %j → %s', (change, expected) => {
    expect(problemsOf({ scheduledStarts: [{ ...validStart, ...change }] }).join('\n')).toContain(expected);
  });

  it('a name with dots is accepted, as by the runtime API', () => {
    const config = parseGatewayConfig({ scheduledStarts: [{ ...validStart, name: 'weekly.v2' }] });
    expect(config.scheduledStarts.map((s) => s.name)).toEqual(['weekly.v2']);
  });

  it('an `at` in the past is no problem: the entry is kept, marked past (not deployed, warned about)', () => {
    const config = parseGatewayConfig({
      scheduledStarts: [{ ...validStart, cron: undefined, at: '2020-12-24T08:00:00' }],
    });
    expect(config.scheduledStarts).toEqual([
      expect.objectContaining({ name: 'monday-reminders', at: '2020-12-24T08:00:00', past: true }),
    ]);
    const ahead = parseGatewayConfig({
      scheduledStarts: [{ ...validStart, cron: undefined, at: '2099-12-24T08:00:00' }],
    });
    expect(ahead.scheduledStarts[0]).not.toHaveProperty('past');
  });

  it('a schedule name used twice is refused', () => {
    expect(problemsOf({ scheduledStarts: [validStart, { ...validStart, conversationId: 1002 }] })).toEqual([
      'scheduledStarts[1].name: "monday-reminders" is used twice',
    ]);
  });

  it('reports every problem at once, in one message that says where the configuration came from', () => {
    let error: unknown;
    try {
      parseGatewayConfig(
        { stage: 'Prod', danaBaseUrl: 'http://x', scheduledStarts: [{ ...validStart, cron: 'cron(bad)' }] },
        'cdk.json context "gateway"',
      );
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(GatewayConfigError);
    const message = (error as Error).message;
    expect(message).toMatch(/^Invalid gateway configuration \(cdk\.json context "gateway"\):\n/);
    expect((error as GatewayConfigError).problems).toHaveLength(3);
    expect(message).toContain('  - stage: ');
    expect(message).toContain('  - danaBaseUrl: ');
    expect(message).toContain('  - scheduledStarts[0].cron: ');
  });

  it('batch.resendOn5xx: distinct statuses from 500 to 599, 500 may be added', () => {
    expect(parseGatewayConfig({ batch: { resendOn5xx: [503, 500] } }).batch.resendOn5xx).toEqual([503, 500]);
    expect(parseGatewayConfig({ batch: { resendOn5xx: [] } }).batch.resendOn5xx).toEqual([]);
    for (const [bad, problem] of [
      [[429], 'batch.resendOn5xx[0]: must be an integer from 500 to 599'],
      [[503, 503], 'batch.resendOn5xx: must not repeat a status'],
      ['503', 'batch.resendOn5xx: must be an array'],
    ] as const) {
      expect(() => parseGatewayConfig({ batch: { resendOn5xx: bad } })).toThrow(problem);
    }
  });

  // Defect 5: a config whose waiting chunks cannot all get a pacing slot within a worker's life cannot work.
  it('defect 5: refuses a rate and concurrency whose pacing wait cannot fit a worker, saying what fits', () => {
    expect(
      parseGatewayConfig({ batch: { rateLimitPerSecond: 0.1, workerMaxConcurrency: 2 } }).batch,
    ).toMatchObject({
      rateLimitPerSecond: 0.1,
      workerMaxConcurrency: 2,
    });
    expect(
      parseGatewayConfig({ batch: { rateLimitPerSecond: 1000, workerMaxConcurrency: 1000 } }).batch,
    ).toBeDefined();
    expect(() =>
      parseGatewayConfig({ batch: { rateLimitPerSecond: 0.1, workerMaxConcurrency: 20 } }),
    ).toThrow(
      /batch\.workerMaxConcurrency: 20 workers × 5 chunks each wait up to 1050 s for their pacing slots at 0\.1 calls\/s.*use at most 14/,
    );
  });

  it('the app refuses to synthesize with an invalid configuration', () => {
    expect(() =>
      buildGatewayApp({
        context: { ...cdkJsonContext(), gateway: { ...(cdkJsonContext().gateway as object), auth: 'none' } },
      }),
    ).toThrow(
      /Invalid gateway configuration \(context "gateway"\):\n {2}- auth: must be one of "iam", "api-key"/,
    );
  });
});

describe('cron expressions (EventBridge, 6 fields, UTC)', () => {
  it.each([
    'cron(0 8 * * ? *)',
    'cron(0 12 ? * MON-FRI *)',
    'cron(0/15 8-17 ? * MON-FRI *)',
    'cron(*/5 * * * ? *)',
    'cron(30 6 1,15 JAN-MAR ? 2027)',
    'cron(0 12 L * ? *)',
    'cron(0 8 15W * ? *)',
    'cron(0 9 ? * 2#1 *)',
    'cron(0 9 ? * 6L *)',
    'cron(0 9 ? * sun *)',
    'cron(59 23 31 12 ? 2199)',
  ])('accepts %s', (expression) => {
    expect(cronProblem(expression)).toBeUndefined();
  });

  it.each([
    ['cron(0 24 * * ? *)', 'hours "24"'],
    ['cron(0 8 32 * ? *)', 'day-of-month "32"'],
    ['cron(0 8 0 * ? *)', 'day-of-month "0"'],
    ['cron(0 8 ? 13 * *)', 'month "13"'],
    ['cron(0 8 ? * 8 *)', 'day-of-week "8"'],
    ['cron(0 8 ? * MON-FRIDAY *)', 'day-of-week "MON-FRIDAY"'],
    ['cron(0 8 * * ? 1969)', 'year "1969"'],
    ['cron(*/0 8 * * ? *)', 'malformed /step'],
    ['cron(0 8 ? * ? *)', 'exactly one of day-of-month and day-of-week'],
    ['cron(? 8 * * ? *)', 'minutes "?"'],
    ['cron(0 8 L-2 * ? *)', 'day-of-month "L-2"'],
    ['cron(0 8 1-2-3 * ? *)', 'day-of-month "1-2-3"'],
  ])('refuses %s (%s)', (expression, expected) => {
    expect(cronProblem(expression)).toContain(expected);
  });
});

describe('configuration from a JSON file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gateway-config-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('`-c gatewayConfigFile=<path>` reads the whole configuration from that file', () => {
    const file = join(dir, 'staging.json');
    writeFileSync(file, JSON.stringify({ stage: 'staging', auth: 'api-key' }));
    const context: Record<string, unknown> = { gatewayConfigFile: file, gateway: { stage: 'prod' } };
    const config = configFromContext((key) => context[key]);
    expect(config).toEqual({ ...DEFAULT_CONFIG, stage: 'staging', auth: 'api-key' });
  });

  it('names the file when it is missing, unreadable or invalid', () => {
    const missing = join(dir, 'missing.json');
    expect(() => configFromContext((key) => (key === 'gatewayConfigFile' ? missing : undefined))).toThrow(
      `Invalid gateway configuration (${missing})`,
    );
    const invalid = join(dir, 'invalid.json');
    writeFileSync(invalid, JSON.stringify({ logLevel: 'LOUD' }));
    expect(() => configFromContext((key) => (key === 'gatewayConfigFile' ? invalid : undefined))).toThrow(
      `Invalid gateway configuration (${invalid}):\n  - logLevel: must be one of`,
    );
  });
});
