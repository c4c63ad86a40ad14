/**
 * `{conversationId}` may be an alias on every `…/conversation/{conversationId}/…` route: this is the one place the
 * HTTP doorway resolves it (../core/aliases.ts resolveConversation), before the route's own `parse` validates the
 * path, so every route, synchronous or `Prefer: respond-async`, sees a plain id. An unknown alias is 404
 * (idError 9404) naming it, and nothing goes upstream or onto the queue.
 */
import { looksLikeAlias, resolveConversation, type AliasStore } from '../core/aliases';
import { ConfigurationError } from '../core/errors';
import type { HttpRequest } from './request';
import type { RouteSpec } from './routes';

/** Routes whose path names a conversation: they resolve aliases, so their function needs the alias store. */
export function takesConversationRef(route: RouteSpec): boolean {
  return route.path.includes('{conversationId}');
}

/**
 * The request with `path.conversationId` resolved when it is an alias (and the alias, which an async job
 * records); the request unchanged otherwise.
 */
export async function resolvePathConversation(
  request: HttpRequest,
  aliases: (() => Pick<AliasStore, 'get'>) | undefined,
): Promise<{ request: HttpRequest; alias?: string }> {
  const ref = request.path.conversationId;
  if (!looksLikeAlias(ref)) return { request };
  if (!aliases) throw new ConfigurationError('this route resolves aliases but has no alias store');
  const { conversationId, alias } = await resolveConversation(ref, aliases());
  return {
    request: { ...request, path: { ...request.path, conversationId: String(conversationId) } },
    alias,
  };
}
