/**
 * GET /console/ and its files in AWS: the operator console's page (docs/CONSOLE.md), from the files its bundling
 * put next to this handler (console/build-cli.ts). The page is public (it holds no data); every API call it makes
 * goes to /console/api/…, behind the Cognito authorizer. The page learns where the API is and how to sign in from
 * meta tags filled here (no inline script): the API base under the stage the request came in on, the user pool's
 * hosted sign-in domain and the app client id (CONSOLE_AUTH_DOMAIN, CONSOLE_CLIENT_ID).
 * Deliberately outside the HTTP doorway: it calls no API, reads no store and logs nothing.
 */
import { readFileSync } from 'node:fs';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { consolePage, consoleSecurityHeaders } from '../../console/page';

const FILES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'console.js': 'text/javascript; charset=utf-8',
  'console.css': 'text/css; charset=utf-8',
};
const bodies = new Map<string, Buffer>();
/** The bucket (presigned uploads, report links) and Cognito's sign-in domain: the CSP lets the page reach them. */
const headers = consoleSecurityHeaders(
  (process.env.CONSOLE_CONNECT_ORIGINS ?? '').split(' ').filter(Boolean),
);

function file(name: string): Buffer {
  let body = bodies.get(name);
  if (!body) {
    // Beside the handler in the bundle; CONSOLE_FILES_DIR only for tests of this handler from the source tree.
    const dir = process.env.CONSOLE_FILES_DIR;
    body = readFileSync(dir ? `${dir}/${name}` : new URL(`./console/${name}`, import.meta.url));
    bodies.set(name, body);
  }
  return body;
}

/** `/prod` on the execute-api domain, `` on a custom domain: what the request path has before the resource. */
function basePathOf(event: APIGatewayProxyEvent): string {
  const full = event.requestContext.path ?? event.path;
  const at = full.lastIndexOf('/console');
  return at > 0 ? full.slice(0, at) : '';
}

export async function handler(event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> {
  const name = event.pathParameters?.file ?? 'index.html';
  const contentType = FILES[name];
  if (!contentType) {
    return { statusCode: 404, headers: { 'Content-Type': 'text/plain', ...headers }, body: 'Not found' };
  }
  const body =
    name === 'index.html'
      ? consolePage(file(name), {
          apiBase: `${basePathOf(event)}/console/api`,
          auth: 'cognito',
          authDomain: process.env.CONSOLE_AUTH_DOMAIN ?? '',
          clientId: process.env.CONSOLE_CLIENT_ID ?? '',
        })
      : file(name);
  return {
    statusCode: 200,
    headers: { 'Content-Type': contentType, ...headers },
    // Text, not base64: a binary answer would need binaryMediaTypes on the whole API.
    body: body.toString('utf8'),
  };
}
