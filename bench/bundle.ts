/**
 * Bundle size: every function's minified bundle from a REAL synth (`cdk synth` of the project's app, the assets
 * in cdk.out) against ITS floor: a bundle of just the AWS SDK clients that function uses (those whose package has
 * bytes in its esbuild metafile), one command each, built by the same house construct (./floor/app.ts). The
 * single-client floor (one GetSecretValue) stays beside it, for information. The contributors come from esbuild's
 * metafile, which the construct keeps next to each bundle (index.meta.json).
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { clientsIn, floorName, type SdkClient } from './floor/clients';
import { baseEnv, OUT_DIR, PROJECT_ROOT } from './lib/proc';
import { ratioOf, type BenchOutcome, type BenchRow } from './lib/result';

const run = promisify(execFile);

export const BUNDLE_GOAL = 1.1;

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
  /** The AWS SDK clients the bundle holds (from its metafile). */
  clients: SdkClient[];
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
  return { name, file, bytes: statSync(file).size, packages, nodeOptions, clients: clientsIn(packages) };
}

export interface TemplateResource {
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
export function functionName(
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

async function synth(outDir: string, app?: string, env: Record<string, string> = {}): Promise<void> {
  rmSync(outDir, { recursive: true, force: true });
  const args = ['cdk', 'synth', '--no-notices', '--quiet', '-o', outDir, ...(app ? ['--app', app] : [])];
  await run('npx', args, {
    cwd: PROJECT_ROOT,
    env: baseEnv(env),
    maxBuffer: 64 * 1024 * 1024,
    timeout: 180_000,
  });
}

export interface Bundles {
  functions: BuiltBundle[];
  /** The single-client floor: one GetSecretValue (information only). */
  floor: BuiltBundle;
  /** Each function's own floor, by function name: one command with each SDK client that function uses. */
  floorOf: Map<string, BuiltBundle>;
  /** The synthesized app (bench/out/cdk.out.app), for benchmarks that read its templates. */
  appOut: string;
}

let built: Promise<Bundles> | undefined;
let appSynth: Promise<string> | undefined;

/** `cdk synth` of the project's app into bench/out/cdk.out.app, once per run; returns that folder. */
export function synthApp(): Promise<string> {
  appSynth ??= (async () => {
    const appOut = join(OUT_DIR, 'cdk.out.app');
    await synth(appOut);
    return appOut;
  })();
  return appSynth;
}

/** Synthesizes the app, then the floors its functions need, once per run (cold init and cost reuse them). */
export function buildBundles(): Promise<Bundles> {
  built ??= (async () => {
    const appOut = await synthApp();
    const floorOut = join(OUT_DIR, 'cdk.out.floor');
    const functions = bundlesOf(appOut);
    if (functions.length === 0) throw new Error('the synth produced no function bundles');
    const sets = [...new Set(functions.filter((f) => f.clients.length > 0).map((f) => floorName(f.clients)))];
    await synth(floorOut, 'npx tsx bench/floor/app.ts', { BENCH_FLOOR_SETS: sets.join(',') });
    const floors = new Map(bundlesOf(floorOut).map((b) => [b.name, b]));
    const floor = floors.get('floor');
    if (!floor) throw new Error('the floor synth produced no single-client floor');
    const floorOf = new Map<string, BuiltBundle>();
    for (const fn of functions) {
      const own = fn.clients.length > 0 ? floors.get(floorName(fn.clients)) : floor;
      if (!own) throw new Error(`no floor bundle for ${fn.name} (${fn.clients.join(', ')})`);
      floorOf.set(fn.name, own);
    }
    return { functions, floor, floorOf, appOut };
  })();
  return built;
}

export const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

function top(packages: Record<string, number>, count: number): [string, number][] {
  return Object.entries(packages)
    .sort((a, b) => b[1] - a[1])
    .slice(0, count);
}

/** What a bundle has that its floor has not (or more of): where the bytes above the floor come from. */
function aboveFloor(fn: BuiltBundle, floor: BuiltBundle): [string, number][] {
  return Object.entries(fn.packages)
    .map(([pkg, bytes]) => [pkg, bytes - (floor.packages[pkg] ?? 0)] as [string, number])
    .filter(([, extra]) => extra > 0)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 8);
}

function bundleRows({ functions, floor, floorOf }: Bundles): BenchRow[] {
  return functions.flatMap((fn) => {
    const own = floorOf.get(fn.name)!;
    const ratio = ratioOf(fn.bytes, own.bytes);
    return [
      {
        what: `bundle ${fn.name} vs its floor (${fn.clients.join('+')})`,
        ours: kb(fn.bytes),
        floor: kb(own.bytes),
        ratio,
        goal: `≤ ${BUNDLE_GOAL}×`,
        met: ratio <= BUNDLE_GOAL,
      },
      {
        what: `bundle ${fn.name} vs the single-client floor`,
        ours: kb(fn.bytes),
        floor: kb(floor.bytes),
        ratio: ratioOf(fn.bytes, floor.bytes),
        goal: '(information)',
      },
    ];
  });
}

export async function bundleBenchmark(): Promise<BenchOutcome> {
  const bundles = await buildBundles();
  const { functions, floor, floorOf } = bundles;
  const floors = [floor, ...new Set(floorOf.values())].filter((b, i, all) => all.indexOf(b) === i);
  const details = {
    floors: floors.map((b) => ({
      name: b.name,
      bytes: b.bytes,
      clients: b.clients,
      top5: top(b.packages, 5),
    })),
    functions: functions.map((fn) => ({
      name: fn.name,
      file: relative(PROJECT_ROOT, fn.file),
      bytes: fn.bytes,
      clients: fn.clients,
      floor: floorOf.get(fn.name)!.name,
      top5: top(fn.packages, 5),
      aboveFloor: aboveFloor(fn, floorOf.get(fn.name)!),
    })),
  };
  const fmt = (entries: [string, number][]) =>
    entries.map(([pkg, bytes]) => `${pkg} ${kb(bytes)}`).join(', ');
  const markdown = [
    "Above each function's own floor (esbuild metafile, bytes in the minified output, top 5 packages):",
    '',
    ...details.functions.map((fn) => `- ${fn.name} (vs ${fn.floor}): ${fmt(fn.aboveFloor.slice(0, 5))}`),
  ].join('\n');
  return { rows: bundleRows(bundles), runs: '1 synth (sizes are deterministic)', details, markdown };
}
