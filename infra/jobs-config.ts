/**
 * The jobs API's settings (docs/JOBS.md): who besides their owners reads jobs, and which browser origins may use
 * the upload forms and report links. infra/config.ts lays them over their defaults and calls checkJobsConfig; every
 * problem is reported under its path, like every other setting.
 */
import { callerOfPrincipalArn } from '../lambdas/core/job-access';

export interface JobsConfig {
  /**
   * Principal ARNs (IAM users or roles; a role covers all its sessions) that read the jobs that belong to no API
   * caller (uploads), besides the operators of the console: `GET /jobs/{jobId}`, its report and `GET /jobs`.
   */
  jobReaders: string[];
  /**
   * The operator console (docs/CONSOLE.md). `enabled`: the page, its Cognito user pool and /console/api (default
   * true). `mfa`: TOTP for every operator (`required`, default) or for those who set it up (`optional`).
   * `allowedOrigins`: the only origins the jobs bucket's CORS lets post forms and read links.
   */
  console: ConsoleConfig;
}

export interface ConsoleConfig {
  enabled: boolean;
  mfa: 'required' | 'optional';
  allowedOrigins: string[];
}

export const DEFAULT_CONSOLE_CONFIG: ConsoleConfig = { enabled: true, mfa: 'required', allowedOrigins: [] };
export const DEFAULT_JOBS_CONFIG: JobsConfig = { jobReaders: [], console: DEFAULT_CONSOLE_CONFIG };
export const JOBS_CONFIG_KEYS = Object.keys(DEFAULT_JOBS_CONFIG);

/** `https://host[:port]`, nothing after: what a browser sends as `Origin`. */
const ORIGIN = /^https:\/\/[a-z0-9.-]+(:\d{1,5})?$/;

function stringList(
  path: string,
  value: unknown,
  ok: (item: string) => string | undefined,
  problems: string[],
) {
  if (!Array.isArray(value)) {
    problems.push(`${path}: must be an array`);
    return undefined;
  }
  const items: string[] = [];
  for (const [i, item] of value.entries()) {
    const problem = typeof item === 'string' ? ok(item) : 'must be a string';
    if (problem) problems.push(`${path}[${i}]: ${problem}`);
    else items.push(item as string);
  }
  return [...new Set(items)];
}

/** Checks `jobReaders` and `console` of `merged` (the root, laid over the defaults); undefined on a problem. */
export function checkJobsConfig(merged: Record<string, unknown>, problems: string[]): JobsConfig | undefined {
  const before = problems.length;
  const jobReaders = stringList(
    'jobReaders',
    merged.jobReaders,
    (arn) =>
      callerOfPrincipalArn(arn)
        ? undefined
        : 'must be an IAM user or role ARN (arn:aws:iam::<account>:role/<name>)',
    problems,
  );
  const console = merged.console as Record<string, unknown> | undefined;
  let allowedOrigins: string[] | undefined;
  if (typeof console !== 'object' || console === null || Array.isArray(console)) {
    problems.push('console: must be an object');
  } else {
    const known = Object.keys(DEFAULT_CONSOLE_CONFIG);
    for (const key of Object.keys(console)) {
      if (!known.includes(key))
        problems.push(`console.${key}: is not a known setting (known: ${known.join(', ')})`);
    }
    if (console.enabled !== undefined && typeof console.enabled !== 'boolean') {
      problems.push('console.enabled: must be true or false');
    }
    if (console.mfa !== undefined && console.mfa !== 'required' && console.mfa !== 'optional') {
      problems.push('console.mfa: must be "required" or "optional"');
    }
    allowedOrigins = stringList(
      'console.allowedOrigins',
      console.allowedOrigins ?? [],
      (origin) =>
        ORIGIN.test(origin) ? undefined : 'must be an https:// origin (scheme, host and port only)',
      problems,
    );
  }
  if (problems.length > before) return undefined;
  const { enabled, mfa } = { ...DEFAULT_CONSOLE_CONFIG, ...(console as Partial<ConsoleConfig>) };
  return { jobReaders: jobReaders!, console: { enabled, mfa, allowedOrigins: allowedOrigins! } };
}
