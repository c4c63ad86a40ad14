/**
 * The security settings of the configuration (docs/SECURITY.md): who may upload, callers' keys and throttles, and
 * which keys encrypt the data at rest. infra/config.ts lays them over their defaults and calls checkSecurityConfig;
 * every problem is reported under its path, like every other setting.
 */
import type { AuthMode } from './config';

/** `aws-managed`: AWS-owned or AWS-managed keys (the default). `customer-managed`: one KMS key of yours. */
export type EncryptionMode = 'aws-managed' | 'customer-managed';

/** One caller of the API with a key and usage plan of its own (`auth: "api-key"`). */
export interface ApiKeyConfig {
  /** Names the key and its usage plan (`dana-gateway-<stage>-<name>`); 1 to 64 letters, digits, _ or -. */
  name: string;
  /** Its steady requests per second and burst (its usage plan's throttle). */
  rateLimit: number;
  burstLimit: number;
}

/**
 * One IAM caller with a throttle of its own (`auth: "iam"`). API Gateway throttles per API key, never per IAM
 * principal: so the caller gets a key and usage plan like an `apiKeys` entry, and sends it (`x-api-key`) with its
 * SigV4 signature. docs/SECURITY.md says why, and what this does and does not bind.
 */
export interface CallerThrottle extends ApiKeyConfig {
  /** The caller's IAM principal (role or user ARN), for the record: API Gateway cannot tie a key to it. */
  principal: string;
}

export interface SecurityConfig {
  /**
   * Principals (role or user ARNs, `*` wildcards allowed) that may put objects under `uploads/`. Set: the bucket
   * policy denies s3:PutObject there to everyone else. Empty (the default): IAM alone decides, as before.
   */
  uploaders: string[];
  /** `auth: "api-key"`: one key and usage plan per caller. Empty: one key for all (as before). */
  apiKeys: ApiKeyConfig[];
  /** `auth: "iam"`: optional per-caller throttles (see CallerThrottle). Set: every caller needs its key. */
  callerThrottles: CallerThrottle[];
  encryption: EncryptionMode;
  /** With `customer-managed`: an existing key by ARN. Absent: the stack creates one (rotation on). */
  encryptionKeyArn?: string;
}

export const DEFAULT_SECURITY_CONFIG: SecurityConfig = {
  uploaders: [],
  apiKeys: [],
  callerThrottles: [],
  encryption: 'aws-managed',
};

/** Keys of the configuration's root that this module reads (encryptionKeyArn has no default). */
export const SECURITY_CONFIG_KEYS = [...Object.keys(DEFAULT_SECURITY_CONFIG), 'encryptionKeyArn'];

/** An IAM principal as aws:PrincipalArn names it: the account root, a role or a user (with path), wildcards allowed. */
const PRINCIPAL_ARN = /^arn:aws[a-z-]*:iam::\d{12}:(root|(role|user)\/[A-Za-z0-9+=,.@_/*-]{1,512})$/;
const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/;
const KEY_NAME = /^[A-Za-z0-9_-]{1,64}$/;

type Problems = string[];

function principalList(path: string, value: unknown, problems: Problems): string[] | undefined {
  if (!Array.isArray(value)) {
    problems.push(`${path}: must be an array of IAM principal ARNs`);
    return undefined;
  }
  const bad = value.findIndex((v) => typeof v !== 'string' || !PRINCIPAL_ARN.test(v));
  if (bad >= 0) {
    problems.push(
      `${path}[${bad}]: must be a role or user ARN (arn:aws:iam::<account>:role/<name>, * allowed) or an account root`,
    );
    return undefined;
  }
  return value as string[];
}

function number(
  path: string,
  value: unknown,
  min: number,
  max: number,
  problems: Problems,
): number | undefined {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    problems.push(`${path}: must be an integer from ${min} to ${max}`);
    return undefined;
  }
  return value;
}

/** One `apiKeys` or `callerThrottles` entry; `principal` is required for the latter. */
function keyEntry(
  path: string,
  value: unknown,
  withPrincipal: boolean,
  problems: Problems,
): CallerThrottle | undefined {
  const known = ['name', 'rateLimit', 'burstLimit', ...(withPrincipal ? ['principal'] : [])];
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    problems.push(`${path}: must be an object with ${known.join(', ')}`);
    return undefined;
  }
  const entry = value as Record<string, unknown>;
  for (const key of Object.keys(entry)) {
    if (!known.includes(key))
      problems.push(`${path}.${key}: is not a known setting (known: ${known.join(', ')})`);
  }
  const before = problems.length;
  if (typeof entry.name !== 'string' || !KEY_NAME.test(entry.name)) {
    problems.push(`${path}.name: must be 1 to 64 letters, digits, _ or -`);
  }
  // API Gateway's own bounds for a usage plan's throttle.
  const rateLimit = number(`${path}.rateLimit`, entry.rateLimit, 1, 10_000, problems);
  const burstLimit = number(`${path}.burstLimit`, entry.burstLimit, 1, 5_000, problems);
  if (withPrincipal && (typeof entry.principal !== 'string' || !PRINCIPAL_ARN.test(entry.principal))) {
    problems.push(`${path}.principal: must be the caller's role or user ARN`);
  }
  if (problems.length > before) return undefined;
  return {
    name: entry.name as string,
    rateLimit: rateLimit!,
    burstLimit: burstLimit!,
    principal: entry.principal as string,
  };
}

function keyList(
  path: string,
  value: unknown,
  withPrincipal: boolean,
  problems: Problems,
): CallerThrottle[] | undefined {
  if (!Array.isArray(value)) {
    problems.push(`${path}: must be an array`);
    return undefined;
  }
  const entries = value.map((v, i) => keyEntry(`${path}[${i}]`, v, withPrincipal, problems));
  if (entries.some((e) => e === undefined)) return undefined;
  const names = entries.map((e) => e!.name.toLowerCase());
  const twice = names.findIndex((n, i) => names.indexOf(n) !== i);
  if (twice >= 0) {
    problems.push(
      `${path}[${twice}].name: "${entries[twice]!.name}" is used twice (names are case-insensitive)`,
    );
    return undefined;
  }
  return entries as CallerThrottle[];
}

/**
 * Checks the security settings of `merged` (the root, laid over the defaults); records each problem in
 * `problems` and returns the settings when there was none.
 */
export function checkSecurityConfig(
  merged: Record<string, unknown>,
  auth: AuthMode | undefined,
  problems: Problems,
): SecurityConfig | undefined {
  const before = problems.length;
  const uploaders = principalList('uploaders', merged.uploaders, problems);
  const apiKeys = keyList('apiKeys', merged.apiKeys, false, problems)?.map(
    ({ name, rateLimit, burstLimit }) => ({
      name,
      rateLimit,
      burstLimit,
    }),
  );
  const callerThrottles = keyList('callerThrottles', merged.callerThrottles, true, problems);
  if (auth === 'iam' && apiKeys && apiKeys.length > 0) {
    problems.push(
      'apiKeys: needs "auth": "api-key" (with IAM, use callerThrottles for per-caller throttles)',
    );
  }
  if (auth === 'api-key' && callerThrottles && callerThrottles.length > 0) {
    problems.push(
      'callerThrottles: needs "auth": "iam" (with API keys, give each caller its entry in apiKeys)',
    );
  }
  const encryption = merged.encryption;
  if (encryption !== 'aws-managed' && encryption !== 'customer-managed') {
    problems.push('encryption: must be one of "aws-managed", "customer-managed"');
  }
  const keyArn = merged.encryptionKeyArn;
  if (keyArn !== undefined) {
    if (typeof keyArn !== 'string' || !KMS_KEY_ARN.test(keyArn)) {
      problems.push('encryptionKeyArn: must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)');
    } else if (encryption !== 'customer-managed') {
      problems.push('encryptionKeyArn: needs "encryption": "customer-managed"');
    }
  }
  if (problems.length > before) return undefined;
  return {
    uploaders: uploaders!,
    apiKeys: apiKeys!,
    callerThrottles: callerThrottles!,
    encryption: encryption as EncryptionMode,
    ...(keyArn !== undefined && { encryptionKeyArn: keyArn as string }),
  };
}
