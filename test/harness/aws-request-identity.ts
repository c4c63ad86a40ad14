/**
 * Which AWS service and operation a signed SDK request is for, read the way AWS itself routes it: the service
 * from the SigV4 credential scope, the operation from `X-Amz-Target` (JSON protocols) or, for S3, from the
 * method, path and query of a path-style request.
 */
import type { IncomingHttpHeaders } from 'node:http';

export interface RequestIdentity {
  /** The signing name from the credential scope (`dynamodb`, `sqs`, `s3`, `secretsmanager`), or `unknown`. */
  service: string;
  /** The API operation (`PutItem`, `SendMessage`, `GetObject`, ...), or `Unknown`. */
  operation: string;
  /** Region from the credential scope; moto keeps separate state per region and account. */
  region: string;
  /** The access key id; moto derives the account from it. */
  accessKeyId: string;
}

/** `Credential=AKID/yyyymmdd/region/service/aws4_request`, in the header or (presigned URLs) the query. */
function credentialScope(headers: IncomingHttpHeaders, query: URLSearchParams): string[] | undefined {
  const auth = headers.authorization;
  const fromHeader = auth ? /Credential=([^,\s]+)/.exec(auth)?.[1] : undefined;
  const scope = fromHeader ?? query.get('X-Amz-Credential') ?? undefined;
  const parts = scope?.split('/');
  return parts && parts.length === 5 ? parts : undefined;
}

export function identify(method: string, url: string, headers: IncomingHttpHeaders): RequestIdentity {
  const parsed = new URL(url, 'http://proxy.invalid');
  const scope = credentialScope(headers, parsed.searchParams);
  const service = scope?.[3] ?? 'unknown';
  const target = headers['x-amz-target'];
  let operation = 'Unknown';
  if (typeof target === 'string' && target.includes('.'))
    operation = target.slice(target.lastIndexOf('.') + 1);
  else if (service === 's3') operation = s3Operation(method, parsed, headers);
  return { service, operation, region: scope?.[2] ?? 'us-east-1', accessKeyId: scope?.[0] ?? '' };
}

/** Bucket sub-resources as they appear in the query, and the name they give the operation. */
const BUCKET_SUBRESOURCES: Record<string, string> = {
  acl: 'Acl',
  cors: 'Cors',
  encryption: 'Encryption',
  lifecycle: 'LifecycleConfiguration',
  location: 'Location',
  logging: 'Logging',
  notification: 'NotificationConfiguration',
  ownershipControls: 'OwnershipControls',
  policy: 'Policy',
  publicAccessBlock: 'PublicAccessBlock',
  replication: 'Replication',
  tagging: 'Tagging',
  versioning: 'Versioning',
  website: 'Website',
  'object-lock': 'ObjectLockConfiguration',
};

/**
 * S3 (path-style): `/` is the service, `/bucket` the bucket, `/bucket/key...` an object. The SDK adds `x-id`
 * to operations that share a method and path with another, which names them outright.
 */
function s3Operation(method: string, url: URL, headers: IncomingHttpHeaders): string {
  const q = url.searchParams;
  const xId = q.get('x-id');
  if (xId) return xId;
  const path = url.pathname.replace(/^\/+/, '');
  if (path === '') return method === 'GET' ? 'ListBuckets' : 'Unknown';
  const slash = path.indexOf('/');
  if (slash < 0 || slash === path.length - 1) return s3BucketOperation(method, q);
  return s3ObjectOperation(method, q, headers['x-amz-copy-source'] !== undefined);
}

function s3BucketOperation(method: string, q: URLSearchParams): string {
  const sub = [...q.keys()].find((k) => k in BUCKET_SUBRESOURCES);
  const verb = method === 'PUT' ? 'Put' : method === 'DELETE' ? 'Delete' : 'Get';
  if (sub && method !== 'HEAD' && method !== 'POST') return `${verb}Bucket${BUCKET_SUBRESOURCES[sub]}`;
  switch (method) {
    case 'HEAD':
      return 'HeadBucket';
    case 'PUT':
      return 'CreateBucket';
    case 'DELETE':
      return 'DeleteBucket';
    case 'POST':
      return q.has('delete') ? 'DeleteObjects' : 'Unknown';
    default:
      if (q.get('list-type') === '2') return 'ListObjectsV2';
      if (q.has('uploads')) return 'ListMultipartUploads';
      if (q.has('versions')) return 'ListObjectVersions';
      return 'ListObjects';
  }
}

function s3ObjectOperation(method: string, q: URLSearchParams, copy: boolean): string {
  const upload = q.has('uploadId');
  switch (method) {
    case 'HEAD':
      return 'HeadObject';
    case 'GET':
      if (upload) return 'ListParts';
      return q.has('tagging') ? 'GetObjectTagging' : q.has('acl') ? 'GetObjectAcl' : 'GetObject';
    case 'PUT':
      if (upload && q.has('partNumber')) return copy ? 'UploadPartCopy' : 'UploadPart';
      if (q.has('tagging')) return 'PutObjectTagging';
      if (q.has('acl')) return 'PutObjectAcl';
      return copy ? 'CopyObject' : 'PutObject';
    case 'POST':
      if (q.has('uploads')) return 'CreateMultipartUpload';
      if (upload) return 'CompleteMultipartUpload';
      return q.has('restore') ? 'RestoreObject' : 'Unknown';
    case 'DELETE':
      if (upload) return 'AbortMultipartUpload';
      return q.has('tagging') ? 'DeleteObjectTagging' : 'DeleteObject';
    default:
      return 'Unknown';
  }
}
