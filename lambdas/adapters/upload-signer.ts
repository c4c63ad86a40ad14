/**
 * The UploadSigner port (../core/uploads.ts) over S3: presigned POST forms (`@aws-sdk/s3-presigned-post`) and
 * presigned GET links (`@aws-sdk/s3-request-presigner`), signed with the function's own role credentials, so what
 * a form or link may do is also bounded by that role (PutObject on `uploads/*`, GetObject on `reports/*`).
 *
 * A form's policy binds: the bucket, the exact key, `content-length-range` 1..maxBytes, the server-side
 * encryption when BUCKET_SSE asks for one, and its expiry. S3 refuses any upload outside them.
 *
 * The local gateway uses the same class, with an S3 client pointed at its own form endpoint
 * (local/upload-endpoint.ts), installed for the process with useLocalUploadSigner.
 */
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createPresignedPost } from '@aws-sdk/s3-presigned-post';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { ConfigurationError } from '../core/errors';
import type { PresignedForm, UploadSigner } from '../core/uploads';
import { DEFAULT_UPLOAD_LIMITS } from '../core/upload/limits';
import { awsClientConfig } from './aws-clients';

export interface S3UploadSignerOptions {
  bucket: string;
  /** BUCKET_SSE: the form then sets (and its policy requires) `x-amz-server-side-encryption`. */
  serverSideEncryption?: string;
}

export class S3UploadSigner implements UploadSigner {
  constructor(
    private readonly client: S3Client,
    private readonly options: S3UploadSignerOptions,
  ) {}

  async presignPost(key: string, maxBytes: number, expiresInSeconds: number): Promise<PresignedForm> {
    const sse = this.options.serverSideEncryption;
    const fields: Record<string, string> = sse ? { 'x-amz-server-side-encryption': sse } : {};
    // `Fields` become exact-match conditions; the bucket and the key are added as conditions by the library.
    const { url, fields: signed } = await createPresignedPost(this.client as never, {
      Bucket: this.options.bucket,
      Key: key,
      Conditions: [['content-length-range', 1, maxBytes]],
      Fields: fields,
      Expires: expiresInSeconds,
    });
    return { url, fields: signed };
  }

  presignGet(key: string, expiresInSeconds: number): Promise<string> {
    const command = new GetObjectCommand({ Bucket: this.options.bucket, Key: key });
    return getSignedUrl(this.client as never, command as never, { expiresIn: expiresInSeconds });
  }
}

const LOCAL_KEY = Symbol.for('dana-gateway.local-upload-signer');
type Holder = { [LOCAL_KEY]?: UploadSigner };
const holder = globalThis as Holder;

/** Installs the local gateway's signer for this process; returns what puts back the previous one. */
export function useLocalUploadSigner(signer: UploadSigner): () => void {
  const previous = holder[LOCAL_KEY];
  holder[LOCAL_KEY] = signer;
  return () => {
    if (previous === undefined) delete holder[LOCAL_KEY];
    else holder[LOCAL_KEY] = previous;
  };
}

/** The installed twin, else S3UploadSigner on BUCKET_NAME; built on first use. */
export function uploadSignerFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  client?: S3Client,
): () => UploadSigner {
  let built: UploadSigner | undefined;
  return () => {
    const twin = holder[LOCAL_KEY];
    if (twin) return twin;
    const bucket = env.BUCKET_NAME;
    if (!bucket) throw new ConfigurationError('BUCKET_NAME is not set');
    return (built ??= new S3UploadSigner(client ?? new S3Client(awsClientConfig('s3')), {
      bucket,
      ...(env.BUCKET_SSE ? { serverSideEncryption: env.BUCKET_SSE } : {}),
    }));
  };
}

/** A signer that builds the real one only when it first signs (a refused request needs no bucket). */
export function lazySigner(get: () => UploadSigner): UploadSigner {
  return {
    presignPost: (key, maxBytes, seconds) => get().presignPost(key, maxBytes, seconds),
    presignGet: (key, seconds) => get().presignGet(key, seconds),
  };
}

/** UPLOAD_MAX_BYTES (the stack sets it from `batch.maxUploadBytes`, as for the ingest); default 2 GiB. */
export function maxUploadBytesFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.UPLOAD_MAX_BYTES;
  if (raw === undefined || raw === '') return DEFAULT_UPLOAD_LIMITS.maxBytes;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 1)
    throw new ConfigurationError('UPLOAD_MAX_BYTES is not a positive integer');
  return value;
}
