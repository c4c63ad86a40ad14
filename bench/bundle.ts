/**
 * Bundle size: every function's minified bundle from a REAL synth (`cdk synth` of the project's app, the
 * assets in cdk.out) against the floor, a bundle of just the Secrets Manager client sending one GetSecretValue
 * built by the same house construct (./floor/app.ts). The contributors come from esbuild's metafile, which the
 * construct keeps next to each bundle (index.meta.json).
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { ROUTES } from '../lambdas/http/routes';
import { baseEnv, OUT_DIR, PROJECT_ROOT } from './lib/proc';
import { ratioOf, type BenchOutcome } from './lib/result';

const run = promisify(execFile);

export const BUNDLE_GOAL = 1.15;

export interface BuiltBundle {
  /** `start-data`, or `floor`. */
  name: string;
  /** The bundle file (index.mjs) inside its cdk.out asset folder. */
  file: string;
  bytes: number;
  /** Bytes in the bundle per package (`@aws-sdk/client-secrets-manager`) or `(our code)`. */
  packages: Record<string, number>;
  /** The function's NODE_OPTIONS in the template (the construct sets `--enable-source-maps`). */
  nodeOptions: string;
}

interface Metafile {
  outputs: Record<string, { bytes: number; inputs: Record<string, { bytesInOutput: number }> }>;
}

/** `node_modules/@smithy/core/dist/x.js` -> `@smithy/core`; our own files -> `(our code)`. */
export function packageOf(inputPath: string): string {
  const at = inputPath.lastIndexOf('node_modules/');
  if (at < 0) return '(our code)';
  const parts = inputPath.slice(at + 'node_modules/'.length).split('/');
  return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
}

function readBundle(name: string, assetDir: string, nodeOptions: string): BuiltBundle {
  const file = join(assetDir, 'index.mjs');
  const meta = JSON.parse(readFileSync(join(assetDir, 'index.meta.json'), 'utf8')) as Metafile;
  const output = Object.entries(meta.outputs).find(([path]) => path.endsWith('index.mjs'));
  if (!output) throw new Error(`no index.mjs in the metafile of ${name}`);
  const packages: Record<string, number> = {};
  for (const [input, { bytesInOutput }] of Object.entries(output[1].inputs)) {
    const pkg = packageOf(input);
    packages[pkg] = (packages[pkg] ?? 0) + bytesInOutput;
  }
  return { name, file, bytes: statSync(file).size, packages, nodeOptions };
}

interface TemplateResource {
  Type: string;
  Metadata?: Record<string, string>;
  Properties?: {
    Environment?: { Variables?: Record<string, unknown> };
    Role?: { 'Fn::GetAtt'?: [string, string] };
    Description?: string;
  };
}

/** `StartDataByProject` -> `start-data-by-project`. */
const kebab = (id: string) => id.replace(/[A-Z]/g, (c, i: number) => (i === 0 ? '' : '-') + c.toLowerCase());

/**
 * The function's name as the house construct knows it (`lambdas/<name>`): its role says "Runs the <name>
 * function". Otherwise the construct path, e.g. `DanaGateway-prod/Batch/Ingest/Function/Resource` -> `batch-ingest`.
 */
function functionName(
  resources: Record<string, TemplateResource>,
  fn: TemplateResource,
  cdkPath: string,
): string {
  const roleId = fn.Properties?.Role?.['Fn::GetAtt']?.[0];
  const described = roleId
    ? /^Runs the (\S+) function$/.exec(resources[roleId]?.Properties?.Description ?? '')
    : null;
  if (described) return described[1]!.replace(/^.*\//, '');
  return cdkPath.split('/').slice(1, -2).map(kebab).join('-');
}

/** Each Lambda function of a synthesized stack and its bundle, from the template's asset metadata. */
function bundlesOf(outDir: string): BuiltBundle[] {
  const manifest = JSON.parse(readFileSync(join(outDir, 'manifest.json'), 'utf8')) as {
    artifacts: Record<string, { type: string }>;
  };
  const templates = Object.entries(manifest.artifacts)
    .filter(([, a]) => a.type === 'aws:cloudformation:stack')
    .map(([id]) => join(outDir, `${id}.template.json`));
  const bundles: BuiltBundle[] = [];
  for (const template of templates) {
    const resources = (
      JSON.parse(readFileSync(template, 'utf8')) as { Resources: Record<string, TemplateResource> }
    ).Resources;
    for (const resource of Object.values(resources)) {
      const asset = resource.Metadata?.['aws:asset:path'];
      const path = resource.Metadata?.['aws:cdk:path'];
      if (resource.Type !== 'AWS::Lambda::Function' || !asset || !path) continue;
      const dir = join(outDir, asset);
      if (!existsSync(join(dir, 'index.meta.json'))) continue; // not one of ours (e.g. a CDK provider)
      const nodeOptions = resource.Properties?.Environment?.Variables?.NODE_OPTIONS;
      bundles.push(
        readBundle(
          functionName(resources, resource, path),
          dir,
          typeof nodeOptions === 'string' ? nodeOptions : '',
        ),
      );
    }
  }
  return bundles;
}

async function synth(outDir: string, app?: string): Promise<void> {
  rmSync(outDir, { recursive: true, force: true });
  const args = ['cdk', 'synth', '--no-notices', '--quiet', '-o', outDir, ...(app ? ['--app', app] : [])];
  await run('npx', args, {
    cwd: PROJECT_ROOT,
    env: baseEnv(),
    maxBuffer: 64 * 1024 * 1024,
    timeout: 180_000,
  });
}

export interface Bundles {
  functions: BuiltBundle[];
  floor: BuiltBundle;
  /** Informational floor for the batch functions: the four SDK clients they need (bench/floor-batch). */
  batchFloor: BuiltBundle | undefined;
}

/** Functions that are not HTTP doorways: compared, for information, with the batch floor too. */
export const BATCH_FUNCTIONS = new Set(['ingest-upload', 'process-chunk']);

let built: Promise<Bundles> | undefined;

/** Synthesizes the app and the floor once per run (the cold-init benchmark reuses the bundles). */
export function buildBundles(): Promise<Bundles> {
  built ??= (async () => {
    const appOut = join(OUT_DIR, 'cdk.out.app');
    const floorOut = join(OUT_DIR, 'cdk.out.floor');
    await synth(appOut);
    await synth(floorOut, 'npx tsx bench/floor/app.ts');
    const functions = bundlesOf(appOut);
    const floors = bundlesOf(floorOut);
    const floor = floors.find((b) => b.name === 'floor');
    const batchFloor = floors.find((b) => b.name === 'floor-batch');
    if (!floor || functions.length === 0) throw new Error('the synth produced no function bundles');
    return { functions, floor, batchFloor };
  })();
  return built;
}

const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

function top(packages: Record<string, number>, count: number): [string, number][] {
  return Object.entries(packages)
    .sort((a, b) => b[1] - a[1])
    .slice(0, count);
}

export async function bundleBenchmark(): Promise<BenchOutcome> {
  const { functions, floor, batchFloor } = await buildBundles();
  const httpNames = new Set<string>(ROUTES.map((r) => r.name));
  const rows = functions.map((fn) => {
    const ratio = ratioOf(fn.bytes, floor.bytes);
    const isHttp = httpNames.has(fn.name);
    return {
      what: `bundle ${fn.name}`,
      ours: kb(fn.bytes),
      floor: kb(floor.bytes),
      ratio,
      goal: isHttp ? `≤ ${BUNDLE_GOAL}×` : '(not HTTP: no goal)',
      ...(isHttp ? { met: ratio <= BUNDLE_GOAL } : {}),
    };
  });
  if (batchFloor) {
    for (const fn of functions.filter((f) => BATCH_FUNCTIONS.has(f.name))) {
      rows.push({
        what: `bundle ${fn.name} vs the batch floor (4 SDK clients)`,
        ours: kb(fn.bytes),
        floor: kb(batchFloor.bytes),
        ratio: ratioOf(fn.bytes, batchFloor.bytes),
        goal: '(information)',
      });
    }
  }
  const details = {
    floor: { file: relative(PROJECT_ROOT, floor.file), bytes: floor.bytes, top5: top(floor.packages, 5) },
    batchFloor: batchFloor && { bytes: batchFloor.bytes, top5: top(batchFloor.packages, 5) },
    functions: functions.map((fn) => ({
      name: fn.name,
      file: relative(PROJECT_ROOT, fn.file),
      bytes: fn.bytes,
      top5: top(fn.packages, 5),
      // What this bundle has that the floor has not (or more of): where the bytes above the floor come from.
      aboveFloor: Object.entries(fn.packages)
        .map(([pkg, bytes]) => [pkg, bytes - (floor.packages[pkg] ?? 0)] as [string, number])
        .filter(([, extra]) => extra > 0)
        .sort((a, b) => b[1] - a[1])
        .slice(0, 8),
    })),
  };
  const fmt = (entries: [string, number][]) =>
    entries.map(([pkg, bytes]) => `${pkg} ${kb(bytes)}`).join(', ');
  const markdown = [
    'Largest contributors (esbuild metafile, bytes in the minified output, top 5 packages):',
    '',
    `- floor: ${fmt(details.floor.top5)}`,
    ...details.functions.map(
      (fn) => `- ${fn.name}: ${fmt(fn.top5)}; above the floor: ${fmt(fn.aboveFloor.slice(0, 5))}`,
    ),
  ].join('\n');
  return { rows, runs: '1 synth (sizes are deterministic)', details, markdown };
}
