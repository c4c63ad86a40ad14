/**
 * POST /uploads `{"conversation": "1001" | "newsletter", "fileName": "march.csv", "contentLength": 12345}`: 201
 * `{key, upload: {url, fields}, expiresAt}`, a presigned form that uploads that one file (at most contentLength
 * bytes, itself at most `batch.maxUploadBytes`) under a fresh key, for 15 minutes (../core/uploads.ts). The upload
 * then runs as any other (S3 event → ingest). 400 for a bad body or file name, 404 for an unknown alias, 413 for
 * a file above the limit. Needs BUCKET_NAME (signing) and JOBS_TABLE_NAME (aliases); no DANAConnect client.
 */
import { aliasStoreFromEnv } from '../adapters/alias-deps';
import { lazySigner, maxUploadBytesFromEnv, uploadSignerFromEnv } from '../adapters/upload-signer';
import { createUpload, parseUploadRequest } from '../core/uploads';
import { httpHandler } from '../http/doorway';

const aliases = aliasStoreFromEnv(process.env, { cached: true });
const signer = lazySigner(uploadSignerFromEnv());

export const handler = httpHandler('create-upload', {
  parse: ({ body }) => parseUploadRequest(body, maxUploadBytesFromEnv()),
  respond: async (request) => ({
    status: 201,
    body: await createUpload({ aliases: aliases(), signer }, request),
  }),
});
