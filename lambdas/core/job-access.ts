/**
 * Who may read a job (issue 14.1), pure. A job made through the API belongs to the caller who made it (its
 * `owner`, the caller string of ../http/request.ts callerOf: `iam:<principal ARN>` or `api-key:<key id>`); only
 * that caller reads it. A job that belongs to no API caller (every upload, and an API job made by a request that
 * named nobody) is read by operators (`operator:<sub>`: console users signed in through a Cognito user pool
 * authorizer) and by the principals named in config `jobReaders` (JOB_READERS). Anyone else is answered exactly as
 * if the job did not exist (404), so a job id tells a stranger nothing, not even that the job exists.
 */
import { ConfigurationError, InvalidInputError } from './errors';
import type { JobStore, JobSummary } from './jobs';

/** The list partition of jobs that belong to no API caller (uploads). Callers always carry a `kind:` prefix. */
export const SHARED_OWNER = 'shared';

export type CallerKind = 'iam' | 'api-key' | 'operator';

export function callerKind(caller: string): CallerKind | undefined {
  const kind = caller.slice(0, caller.indexOf(':'));
  return kind === 'iam' || kind === 'api-key' || kind === 'operator' ? kind : undefined;
}

/** Users of the operator console (Cognito): they read every job that belongs to no API caller. */
export const isOperator = (caller: string) => callerKind(caller) === 'operator';

const USER_OR_ROLE = /^arn:(aws[a-z-]*):iam::(\d{12}):(user|role)\/(?:[\x21-\x7E]*\/)?([\w+=,.@-]{1,128})$/;
const ASSUMED_ROLE = /^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role\/([\w+=,.@-]{1,128})(?:\/[\x21-\x7E]+)?$/;

/**
 * A principal ARN as configured (`jobReaders`) → the caller string the gateway sees for it. API Gateway names a
 * role's caller by its session (`arn:aws:sts::1:assumed-role/Name/session`; callerOf drops the session), so a
 * role ARN (`arn:aws:iam::1:role/path/Name`) becomes `iam:arn:aws:sts::1:assumed-role/Name`. Undefined when the
 * text is not a user, role or assumed-role ARN.
 */
export function callerOfPrincipalArn(arn: string): string | undefined {
  const role = ASSUMED_ROLE.exec(arn);
  if (role) return `iam:arn:${role[1]}:sts::${role[2]}:assumed-role/${role[3]}`;
  const named = USER_OR_ROLE.exec(arn);
  if (!named) return undefined;
  const [, partition, account, type, name] = named;
  // A user is named as IAM names it (with its path), as API Gateway reports it.
  return type === 'role' ? `iam:arn:${partition}:sts::${account}:assumed-role/${name}` : `iam:${arn}`;
}

/** The callers `jobReaders` names. A malformed entry is a deployment mistake, named without its value. */
export function parseJobReaders(raw: string | undefined): ReadonlySet<string> {
  const readers = new Set<string>();
  for (const [index, arn] of (raw ?? '').split(',').entries()) {
    if (arn.trim() === '') continue;
    const caller = callerOfPrincipalArn(arn.trim());
    if (!caller) throw new ConfigurationError(`JOB_READERS entry ${index + 1} is not a user or role ARN`);
    readers.add(caller);
  }
  return readers;
}

let cached: { raw: string | undefined; readers: ReadonlySet<string> } | undefined;

/** JOB_READERS (comma-separated principal ARNs; the stack sets it from config `jobReaders`), parsed once. */
export function jobReadersFromEnv(env: NodeJS.ProcessEnv = process.env): ReadonlySet<string> {
  const raw = env.JOB_READERS;
  if (cached === undefined || cached.raw !== raw) cached = { raw, readers: parseJobReaders(raw) };
  return cached.readers;
}

/** What the rule needs to know about a caller. */
export interface Reader {
  /** The authenticated caller (callerOf); undefined reads nothing. */
  caller: string | undefined;
  readers: ReadonlySet<string>;
}

/** Whether the caller may see the job at all (a job it may not see is answered as not existing). */
export function mayReadJob(reader: Reader, job: { owner?: string }): boolean {
  const { caller } = reader;
  if (caller === undefined) return false;
  if (job.owner !== undefined) return job.owner === caller;
  return isOperator(caller) || reader.readers.has(caller);
}

/** The list partitions (owners) a caller's jobs list covers: its own, and the shared one for readers. */
export function listOwners(reader: Reader): string[] {
  const { caller } = reader;
  if (caller === undefined) return [];
  const shared = isOperator(caller) || reader.readers.has(caller);
  return shared ? [caller, SHARED_OWNER] : [caller];
}

/**
 * The job, when this reader may see it; 404 NOT_FOUND otherwise, the same answer as for a job that does not exist
 * (or expired), so nobody learns whether someone else's job id is real.
 */
export async function readableJob(
  jobs: Pick<JobStore, 'getJob'>,
  jobId: string,
  reader: Reader,
): Promise<JobSummary> {
  const job = await jobs.getJob(jobId);
  if (!job || !mayReadJob(reader, job)) throw new InvalidInputError('jobId', 'no such job', 'NOT_FOUND');
  return job;
}
