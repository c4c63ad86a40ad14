/**
 * The alias store from the environment, in its own module so that only the functions that use aliases bundle it.
 *
 * | use                 | AWS                                            | local run (`useLocalJobDeps({ aliases })`) |
 * |---------------------|------------------------------------------------|--------------------------------------------|
 * | resolve (doorway, ingest, schedules) | DynamoAliasStore, cached ALIAS_CACHE_TTL_MS (15 s) | MemoryAliasStore, uncached |
 * | manage (/aliases)   | DynamoAliasStore, uncached                     | MemoryAliasStore                           |
 *
 * The cache keeps resolution off DynamoDB on every request; a PUT is seen by every function within 15 s (reads
 * behind the cache are strongly consistent). The local twin is in-process memory, so it needs no cache and a
 * change is seen at once.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { cachedAliasStore, type AliasStore } from '../core/aliases';
import { ConfigurationError } from '../core/errors';
import { awsClientConfig } from './aws-clients';
import { DynamoAliasStore } from './dynamo-alias-store';
import { installedLocalJobDeps } from './job-deps';

export interface AliasStoreOptions {
  /** Serve `get` from memory for ALIAS_CACHE_TTL_MS (resolution); false for the alias API itself. */
  cached?: boolean;
  client?: DynamoDBClient;
}

/** The installed twin, else DynamoAliasStore on JOBS_TABLE_NAME, built on first use. */
export function aliasStoreFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  options: AliasStoreOptions = {},
): () => AliasStore {
  let built: AliasStore | undefined;
  return () => {
    const twin = installedLocalJobDeps()?.aliases;
    if (twin) return twin;
    if (built) return built;
    const tableName = env.JOBS_TABLE_NAME;
    if (!tableName) throw new ConfigurationError('JOBS_TABLE_NAME is not set');
    const store = new DynamoAliasStore({
      client: options.client ?? new DynamoDBClient(awsClientConfig('dynamodb')),
      tableName,
    });
    return (built = options.cached ? cachedAliasStore(store) : store);
  };
}
