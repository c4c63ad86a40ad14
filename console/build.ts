/**
 * Builds the console page with esbuild, in memory: `index.html` (a template the server fills with the API base and
 * the sign-in mode), `console.js` (one minified ES module) and `console.css`. Nothing is fetched at run time from
 * anywhere but the page's own origin. Used by the local gateway (built once, on the first request for
 * /console/), by the benchmarks (bundle size) and by the browser tests.
 *
 * The page bundles the API's own schedule validator (lambdas/core/schedules.ts) for its as-you-type checks. That
 * module's imports reach lambdas/core/aliases.ts, which uses node:crypto for list cursors only; the browser build
 * replaces node:crypto with a module that throws if ever called, and tree shaking drops it.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';

export { consolePage, CONSOLE_SECURITY_HEADERS } from './page';

const here = fileURLToPath(new URL('.', import.meta.url));

export interface ConsoleAsset {
  body: Buffer;
  contentType: string;
}

/** The built page by file name (`index.html`, `console.js`, `console.css`). */
export type ConsoleAssets = Map<string, ConsoleAsset>;

const noNodeCrypto: Plugin = {
  name: 'no-node-crypto',
  setup(b) {
    b.onResolve({ filter: /^node:crypto$/ }, () => ({ path: 'node:crypto', namespace: 'stub' }));
    b.onLoad({ filter: /.*/, namespace: 'stub' }, () => ({
      contents: 'export function createHash() { throw new Error("node:crypto is not in the browser"); }',
      loader: 'js',
    }));
  },
};

export async function buildConsole(options: { minify?: boolean } = {}): Promise<ConsoleAssets> {
  const minify = options.minify ?? true;
  const result = await build({
    entryPoints: { console: `${here}src/main.ts`, 'console-style': `${here}src/console.css` },
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: ['chrome110', 'firefox115', 'safari16'],
    minify,
    legalComments: 'none',
    outdir: '/console-out',
    plugins: [noNodeCrypto],
    logLevel: 'silent',
  });
  const assets: ConsoleAssets = new Map();
  for (const file of result.outputFiles) {
    const name = file.path.endsWith('.css') ? 'console.css' : 'console.js';
    const contentType = name.endsWith('.css') ? 'text/css; charset=utf-8' : 'text/javascript; charset=utf-8';
    assets.set(name, { body: Buffer.from(file.contents), contentType });
  }
  assets.set('index.html', {
    body: await readFile(`${here}index.html`),
    contentType: 'text/html; charset=utf-8',
  });
  return assets;
}
