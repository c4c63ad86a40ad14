/**
 * The local gateway's stand-in for S3's browser-form uploads and presigned GETs, so a client of `POST /uploads` and
 * `GET /jobs/{jobId}/report` works unchanged against `npm start`.
 *
 * The forms and links are made by the SAME code as in AWS (lambdas/adapters/upload-signer.ts, with
 * `@aws-sdk/s3-presigned-post` and `@aws-sdk/s3-request-presigner`), through an S3 client whose endpoint is this
 * gateway (`<gateway>/_local/s3/local`) and whose credentials are a random secret of this gateway run. This endpoint
 * then checks what S3 checks, with S3's status codes:
 * - POST (multipart/form-data, the file last): the policy's SigV4 signature, its expiry, every condition (the
 *   bucket, the exact key, `content-length-range` against the file's size), and that every field is covered by a
 *   condition; then it writes the file into the bucket folder (LOCAL_BUCKET_DIR), where the local pipeline takes it
 *   as it takes any dropped file. 204 as S3 answers by default.
 * - GET: the query-string SigV4 signature (recomputed over method, path, query and host) and its expiry; then the
 *   object's bytes.
 * Forms are read into memory, so locally a file may be at most LOCAL_FORM_MAX_BYTES (S3 itself takes 5 GB).
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { dirname } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { FolderObjectStore } from '../lambdas/adapters/folder-object-store';
import { S3UploadSigner } from '../lambdas/adapters/upload-signer';
import type { UploadSigner } from '../lambdas/core/uploads';

export const LOCAL_S3_PATH = '/_local/s3';
export const LOCAL_BUCKET_NAME = 'local';
export const LOCAL_FORM_MAX_BYTES = 256 * 1024 * 1024;
const ACCESS_KEY_ID = 'LOCALGATEWAYKEY';
const REGION = 'us-east-1';

type Fields = Map<string, string>;

export interface LocalBucketEndpoint {
  /** Whether the request is for this endpoint (its path). */
  handles(rawPath: string): boolean;
  answer(req: IncomingMessage, rawPath: string, rawQuery: string): Promise<APIGatewayProxyResult>;
  /** The signer the handlers use, once the gateway knows its URL. */
  signer(gatewayUrl: string): UploadSigner;
}

class S3Refusal extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const xmlError = (status: number, code: string, message: string): APIGatewayProxyResult => ({
  statusCode: status,
  headers: { 'Content-Type': 'application/xml' },
  body: `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`,
});

const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data, 'utf8').digest();

function signingKey(secret: string, date: string, region: string): Buffer {
  return hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), 's3'), 'aws4_request');
}

function sameHex(given: string | undefined, expected: Buffer): boolean {
  if (given === undefined || !/^[0-9a-f]{64}$/.test(given)) return false;
  return timingSafeEqual(Buffer.from(given, 'hex'), expected);
}

/** `KEY/20261201/us-east-1/s3/aws4_request` of this gateway, or a refusal. */
function checkCredential(credential: string | undefined): { date: string; region: string } {
  const match = /^([^/]+)\/(\d{8})\/([a-z0-9-]+)\/s3\/aws4_request$/.exec(credential ?? '');
  if (!match || match[1] !== ACCESS_KEY_ID) {
    throw new S3Refusal(
      403,
      'InvalidAccessKeyId',
      'The AWS Access Key Id you provided does not exist in our records.',
    );
  }
  return { date: match[2]!, region: match[3]! };
}

export function localBucketEndpoint(bucketDir: string, now: () => number = Date.now): LocalBucketEndpoint {
  const secret = randomBytes(24).toString('base64url');
  const folder = new FolderObjectStore(bucketDir);
  const bucketPath = `${LOCAL_S3_PATH}/${LOCAL_BUCKET_NAME}`;
  return {
    handles: (rawPath) => rawPath === bucketPath || rawPath.startsWith(`${bucketPath}/`),
    async answer(req, rawPath, rawQuery) {
      try {
        if (req.method === 'POST' && rawPath === bucketPath) {
          return await formUpload(req, { secret, folder, now });
        }
        if (req.method === 'GET' && rawPath.startsWith(`${bucketPath}/`)) {
          return await presignedGet(req, rawPath, rawQuery, bucketPath, { secret, folder, now });
        }
        req.resume();
        return xmlError(
          405,
          'MethodNotAllowed',
          'The specified method is not allowed against this resource.',
        );
      } catch (error) {
        req.resume();
        if (error instanceof S3Refusal) return xmlError(error.status, error.code, error.message);
        throw error;
      }
    },
    signer: (gatewayUrl) =>
      new S3UploadSigner(
        new S3Client({
          region: REGION,
          endpoint: `${gatewayUrl}${LOCAL_S3_PATH}`,
          forcePathStyle: true,
          credentials: { accessKeyId: ACCESS_KEY_ID, secretAccessKey: secret },
        }),
        { bucket: LOCAL_BUCKET_NAME },
      ),
  };
}

interface EndpointState {
  secret: string;
  folder: FolderObjectStore;
  now: () => number;
}

async function readCapped(req: IncomingMessage, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) {
      throw new S3Refusal(400, 'EntityTooLarge', `The local gateway takes forms of at most ${max} bytes.`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** The form's fields (names lower-cased, as S3 compares them) and the file, which must come last. */
function parseForm(body: Buffer, contentType: string | undefined): { fields: Fields; file: Buffer } {
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType ?? '');
  if (!/^multipart\/form-data/i.test(contentType ?? '') || !boundary) {
    throw new S3Refusal(
      412,
      'PreconditionFailed',
      'Bucket POST must be of the enclosure-type multipart/form-data',
    );
  }
  const delimiter = Buffer.from(`--${boundary[1] ?? boundary[2]}`);
  const fields: Fields = new Map();
  let file: Buffer | undefined;
  let at = body.indexOf(delimiter);
  while (at >= 0) {
    const start = at + delimiter.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const next = body.indexOf(delimiter, start);
    if (next < 0) break;
    const part = body.subarray(start + 2, next - 2); // after CRLF, before CRLF
    const split = part.indexOf('\r\n\r\n');
    const headers = part.subarray(0, split).toString('utf8');
    const name = /name="([^"]*)"/i.exec(headers)?.[1]?.toLowerCase();
    if (split < 0 || name === undefined)
      throw new S3Refusal(
        400,
        'MalformedPOSTRequest',
        'The body of your POST request is not well-formed multipart/form-data.',
      );
    if (file !== undefined) break; // S3 ignores whatever follows the file
    if (name === 'file') file = part.subarray(split + 4);
    else fields.set(name, part.subarray(split + 4).toString('utf8'));
    at = next;
  }
  if (file === undefined)
    throw new S3Refusal(400, 'InvalidArgument', 'POST requires exactly one file upload per request.');
  return { fields, file };
}

const denied = (why: string) => new S3Refusal(403, 'AccessDenied', `Invalid according to Policy: ${why}`);

/** Every condition holds, and every field (but the signature's own) is covered by one. */
function checkPolicy(
  policy: { expiration?: string; conditions?: unknown[] },
  fields: Fields,
  size: number,
  now: number,
) {
  const expiration = Date.parse(policy.expiration ?? '');
  if (!(expiration > now)) throw denied('Policy expired.');
  const covered = new Set(['policy', 'x-amz-signature', 'file']);
  for (const condition of policy.conditions ?? []) {
    if (Array.isArray(condition) && condition[0] === 'content-length-range') {
      const [, min, max] = condition as [string, number, number];
      if (size < min)
        throw new S3Refusal(
          400,
          'EntityTooSmall',
          'Your proposed upload is smaller than the minimum allowed size',
        );
      if (size > max)
        throw new S3Refusal(400, 'EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size');
      continue;
    }
    const [op, rawName, value] = Array.isArray(condition)
      ? (condition as [string, string, string])
      : ['eq', `$${Object.keys(condition as object)[0]}`, Object.values(condition as object)[0] as string];
    const name = rawName.replace(/^\$/, '').toLowerCase();
    covered.add(name);
    const given = fields.get(name);
    const holds = op === 'eq' ? given === value : op === 'starts-with' && given?.startsWith(value) === true;
    if (!holds) throw denied(`Policy Condition failed: ["${op}", "$${name}", ...]`);
  }
  for (const name of fields.keys()) {
    if (!covered.has(name) && !name.startsWith('x-ignore-')) throw denied(`Extra input fields: ${name}`);
  }
}

async function formUpload(req: IncomingMessage, state: EndpointState): Promise<APIGatewayProxyResult> {
  const { fields, file } = parseForm(
    await readCapped(req, LOCAL_FORM_MAX_BYTES),
    req.headers['content-type'],
  );
  const policyText = fields.get('policy');
  if (policyText === undefined)
    throw new S3Refusal(403, 'AccessDenied', 'Bucket POST must contain a field named Policy.');
  const { date, region } = checkCredential(fields.get('x-amz-credential'));
  if (!sameHex(fields.get('x-amz-signature'), hmac(signingKey(state.secret, date, region), policyText))) {
    throw new S3Refusal(
      403,
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided.',
    );
  }
  let policy: { expiration?: string; conditions?: unknown[] };
  try {
    policy = JSON.parse(Buffer.from(policyText, 'base64').toString('utf8')) as typeof policy;
  } catch {
    throw new S3Refusal(400, 'InvalidPolicyDocument', 'Invalid Policy: Invalid JSON.');
  }
  fields.set('bucket', fields.get('bucket') ?? LOCAL_BUCKET_NAME);
  checkPolicy(policy, fields, file.length, state.now());
  const key = fields.get('key')!;
  const path = state.folder.pathOf(key);
  await mkdir(dirname(path), { recursive: true });
  // Written beside its place and renamed, so the pipeline (which skips *.tmp) never sees half a file.
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(temporary, file);
  await rename(temporary, path);
  return {
    statusCode: 204,
    headers: { ETag: `"${createHash('md5').update(file).digest('hex')}"` },
    body: '',
  };
}

/** Query parameters as sent (still percent-encoded), by name. */
function rawParams(rawQuery: string): Map<string, string> {
  const params = new Map<string, string>();
  for (const pair of rawQuery.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    params.set(eq < 0 ? pair : pair.slice(0, eq), eq < 0 ? '' : pair.slice(eq + 1));
  }
  return params;
}

/**
 * Checks a presigned GET the way S3 does (SigV4 query signing, host only, unsigned payload, not expired); throws
 * the S3 refusal otherwise.
 */
function checkPresignedGet(
  req: IncomingMessage,
  rawPath: string,
  rawQuery: string,
  state: EndpointState,
): void {
  const params = rawParams(rawQuery);
  const value = (name: string) => decodeURIComponent(params.get(name) ?? '');
  const { date, region } = checkCredential(value('X-Amz-Credential'));
  const amzDate = value('X-Amz-Date');
  const signedAt = Date.parse(
    amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'),
  );
  if (value('X-Amz-SignedHeaders') !== 'host' || !(signedAt > 0))
    throw new S3Refusal(403, 'AccessDenied', 'Request has invalid signing parameters');
  const query = [...params.entries()]
    .filter(([name]) => name !== 'X-Amz-Signature')
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, v]) => `${name}=${v}`)
    .join('&');
  const canonical = [
    'GET',
    rawPath,
    query,
    `host:${req.headers.host ?? ''}\n`,
    'host',
    'UNSIGNED-PAYLOAD',
  ].join('\n');
  const scope = `${date}/${region}/s3/aws4_request`;
  const toSign = [
    'AWS4-HMAC-SHA256',
    amzDate,
    scope,
    createHash('sha256').update(canonical).digest('hex'),
  ].join('\n');
  if (!sameHex(value('X-Amz-Signature'), hmac(signingKey(state.secret, date, region), toSign))) {
    throw new S3Refusal(
      403,
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided.',
    );
  }
  if (signedAt + Number(value('X-Amz-Expires')) * 1000 < state.now()) {
    throw new S3Refusal(403, 'AccessDenied', 'Request has expired');
  }
}

/** A presigned GET of a report: checked as S3 checks it, then the file from the local bucket. */
async function presignedGet(
  req: IncomingMessage,
  rawPath: string,
  rawQuery: string,
  bucketPath: string,
  state: EndpointState,
): Promise<APIGatewayProxyResult> {
  req.resume();
  checkPresignedGet(req, rawPath, rawQuery, state);
  const key = rawPath
    .slice(bucketPath.length + 1)
    .split('/')
    .map(decodeURIComponent)
    .join('/');
  let bytes: Buffer;
  try {
    bytes = await readFile(state.folder.pathOf(key));
  } catch {
    throw new S3Refusal(404, 'NoSuchKey', 'The specified key does not exist.');
  }
  return {
    statusCode: 200,
    headers: {
      'Content-Type': key.endsWith('.csv') ? 'text/csv; charset=utf-8' : 'application/octet-stream',
    },
    body: bytes.toString('base64'),
    isBase64Encoded: true,
  };
}
