/**
 * ObjectStore over S3. Reads stream the object's body (never buffered whole); writes of a string are one
 * PutObject, writes of a stream go in 8 MiB parts (multipart upload once they outgrow one part), so a report of
 * any size is written in bounded memory. Server-side encryption is requested when configured.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type CompletedPart,
  type ServerSideEncryption,
} from '@aws-sdk/client-s3';
import type { ObjectStore } from '../core/jobs';

/** S3's smallest part, except the last. */
export const MIN_PART_BYTES = 5 * 1024 * 1024;
export const DEFAULT_PART_BYTES = 8 * 1024 * 1024;

export interface S3ObjectStoreOptions {
  bucket: string;
  /** `AES256` or `aws:kms`; absent: the bucket's default encryption applies. */
  serverSideEncryption?: ServerSideEncryption;
  /** With `aws:kms`: the key, when not the bucket's default one. */
  kmsKeyId?: string;
  partBytes?: number;
}

export class S3ObjectStore implements ObjectStore {
  private readonly partBytes: number;

  constructor(
    private readonly client: S3Client,
    private readonly options: S3ObjectStoreOptions,
  ) {
    this.partBytes = Math.max(MIN_PART_BYTES, options.partBytes ?? DEFAULT_PART_BYTES);
  }

  async read(key: string, options: { versionId?: string } = {}): Promise<AsyncIterable<Uint8Array>> {
    const answer = await this.client.send(
      new GetObjectCommand({ Bucket: this.options.bucket, Key: key, VersionId: options.versionId }),
    );
    // In Node the body is an http.IncomingMessage: a Readable, hence an async iterable of Buffers.
    const body: unknown = answer.Body;
    if (typeof body !== 'object' || body === null || !(Symbol.asyncIterator in body)) {
      throw new Error('S3 GetObject returned no readable body');
    }
    return body as AsyncIterable<Uint8Array>;
  }

  async write(key: string, body: string | AsyncIterable<string>, contentType: string): Promise<void> {
    if (typeof body === 'string') return this.put(key, Buffer.from(body, 'utf8'), contentType);
    let parts: Buffer[] = [];
    let bytes = 0;
    let upload: MultipartUpload | undefined;
    try {
      for await (const piece of body) {
        const buffer = Buffer.from(piece, 'utf8');
        parts.push(buffer);
        bytes += buffer.length;
        if (bytes >= this.partBytes) {
          upload ??= await MultipartUpload.start(this.client, this.target(key, contentType));
          await upload.uploadPart(Buffer.concat(parts, bytes));
          parts = [];
          bytes = 0;
        }
      }
      if (!upload) return await this.put(key, Buffer.concat(parts, bytes), contentType);
      if (bytes > 0) await upload.uploadPart(Buffer.concat(parts, bytes));
      await upload.complete();
    } catch (error) {
      await upload?.abort();
      throw error;
    }
  }

  private target(key: string, contentType: string) {
    return {
      Bucket: this.options.bucket,
      Key: key,
      ContentType: contentType,
      ServerSideEncryption: this.options.serverSideEncryption,
      SSEKMSKeyId: this.options.kmsKeyId,
    };
  }

  private async put(key: string, body: Buffer, contentType: string): Promise<void> {
    await this.client.send(new PutObjectCommand({ ...this.target(key, contentType), Body: body }));
  }
}

class MultipartUpload {
  private readonly parts: CompletedPart[] = [];

  private constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly key: string,
    private readonly uploadId: string,
  ) {}

  static async start(
    client: S3Client,
    target: ConstructorParameters<typeof CreateMultipartUploadCommand>[0],
  ): Promise<MultipartUpload> {
    const answer = await client.send(new CreateMultipartUploadCommand(target));
    if (!answer.UploadId) throw new Error('S3 CreateMultipartUpload returned no upload id');
    return new MultipartUpload(client, target.Bucket!, target.Key!, answer.UploadId);
  }

  async uploadPart(body: Buffer): Promise<void> {
    const PartNumber = this.parts.length + 1;
    const answer = await this.client.send(
      new UploadPartCommand({
        Bucket: this.bucket,
        Key: this.key,
        UploadId: this.uploadId,
        PartNumber,
        Body: body,
      }),
    );
    this.parts.push({ PartNumber, ETag: answer.ETag });
  }

  async complete(): Promise<void> {
    await this.client.send(
      new CompleteMultipartUploadCommand({
        Bucket: this.bucket,
        Key: this.key,
        UploadId: this.uploadId,
        MultipartUpload: { Parts: this.parts },
      }),
    );
  }

  /** Best effort: the bucket's lifecycle rule for incomplete uploads cleans up whatever this misses. */
  async abort(): Promise<void> {
    await this.client
      .send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: this.key, UploadId: this.uploadId }))
      .catch(() => undefined);
  }
}

/**
 * The bucket named by `BUCKET_NAME`, with `BUCKET_SSE` (`AES256` or `aws:kms`) and `BUCKET_KMS_KEY_ID` when set,
 * over a client the caller builds once per execution environment.
 */
export function s3ObjectStoreFromEnv(client: S3Client, env: NodeJS.ProcessEnv = process.env): S3ObjectStore {
  const bucket = env.BUCKET_NAME;
  if (!bucket) throw new Error('BUCKET_NAME is not set');
  const sse = env.BUCKET_SSE || undefined;
  if (sse !== undefined && sse !== 'AES256' && sse !== 'aws:kms' && sse !== 'aws:kms:dsse') {
    throw new Error('BUCKET_SSE must be AES256, aws:kms or aws:kms:dsse');
  }
  return new S3ObjectStore(client, {
    bucket,
    serverSideEncryption: sse,
    kmsKeyId: env.BUCKET_KMS_KEY_ID || undefined,
  });
}
