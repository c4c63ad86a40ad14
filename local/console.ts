/**
 * The operator console on the local gateway: GET /console/ (the page) and its two files, built from console/ on
 * the first request and kept. The page calls the same local API at the same origin, so the loopback guard
 * (./loopback-guard.ts) applies to it as to everything else. There is no sign-in on loopback; with LOCAL_API_KEY
 * set the page asks for the key (the files themselves are public: they hold no data).
 */
import type { APIGatewayProxyResult } from 'aws-lambda';
import { buildConsole, type ConsoleAssets } from '../console/build';
import { CONSOLE_SECURITY_HEADERS, consolePage } from '../console/page';

export const CONSOLE_PATH = '/console';

let built: Promise<ConsoleAssets> | undefined;

/** The console's answer for this request, or undefined when the path is not the console's. */
export async function consoleAnswer(
  method: string,
  rawPath: string,
  apiKeyRequired: boolean,
): Promise<APIGatewayProxyResult | undefined> {
  if (rawPath !== CONSOLE_PATH && !rawPath.startsWith(`${CONSOLE_PATH}/`)) return undefined;
  if (rawPath === CONSOLE_PATH)
    return { statusCode: 308, headers: { Location: `${CONSOLE_PATH}/` }, body: '' };
  if (method !== 'GET' && method !== 'HEAD') {
    return { statusCode: 405, headers: { Allow: 'GET, HEAD', ...CONSOLE_SECURITY_HEADERS }, body: '' };
  }
  built ??= buildConsole();
  const assets = await built;
  const name = rawPath.slice(CONSOLE_PATH.length + 1) || 'index.html';
  const asset = assets.get(name);
  if (!asset) {
    return {
      statusCode: 404,
      headers: { 'Content-Type': 'text/plain', ...CONSOLE_SECURITY_HEADERS },
      body: 'Not found',
    };
  }
  const body =
    name === 'index.html'
      ? consolePage(asset.body, { apiBase: '', auth: apiKeyRequired ? 'api-key' : 'none' })
      : asset.body;
  return {
    statusCode: 200,
    headers: { 'Content-Type': asset.contentType, ...CONSOLE_SECURITY_HEADERS },
    body: method === 'HEAD' ? '' : body.toString('base64'),
    isBase64Encoded: true,
  };
}
