/**
 * The local gateway under load: 20 s of GET contact-data requests from a second process (autocannon, loopback,
 * a bounded number of connections) through the local gateway (its own process) to the sandbox (a third), against
 * the same load sent to the sandbox directly. A short warm-up precedes each measured run.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DEMO_USER } from '../local/sandbox/server';
import { sandboxClient } from './lib/dana';
import { baseEnv, PROJECT_ROOT, startServerChild } from './lib/proc';
import { ratioOf, type BenchOutcome } from './lib/result';

const run = promisify(execFile);
const child = (name: string) => fileURLToPath(new URL(`children/${name}`, import.meta.url));

export const LOAD_SECONDS = 20;
export const LOAD_CONNECTIONS = 10;
const WARMUP_SECONDS = 3;

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  '2xx': number;
}

async function autocannon(url: string, seconds: number, headers: string[] = []): Promise<AutocannonResult> {
  const args = ['autocannon', '--json', '-c', String(LOAD_CONNECTIONS), '-d', String(seconds)];
  for (const header of headers) args.push('-H', header);
  const { stdout } = await run('npx', [...args, url], {
    cwd: PROJECT_ROOT,
    env: baseEnv(),
    timeout: (seconds + 60) * 1000,
    maxBuffer: 16 * 1024 * 1024,
  });
  return JSON.parse(stdout) as AutocannonResult;
}

const summary = (r: AutocannonResult) => ({
  requestsPerSecond: r.requests.average,
  total: r.requests.total,
  ok: r['2xx'],
  errors: r.errors,
  timeouts: r.timeouts,
  non2xx: r.non2xx,
  latencyP50Ms: r.latency.p50,
  latencyP99Ms: r.latency.p99,
});

export async function loadBenchmark(): Promise<BenchOutcome> {
  const sandbox = await startServerChild('load-sandbox', child('sandbox.ts'));
  try {
    const gateway = await startServerChild('load-gateway', child('gateway.ts'), {
      BENCH_DANA_URL: sandbox.url,
    });
    try {
      // A record to read (the sandbox gives it the link code lc-<recordId>).
      const created = await sandboxClient(sandbox.url).startData(1001, {
        NAME: 'Bench',
        EMAIL: 'bench@example.com',
      });
      const idResult = (created.body as { wsResult?: { idResult: number } }).wsResult?.idResult;
      if (idResult === undefined)
        throw new Error(`could not create the record to read (status ${created.status})`);
      const path = `/api/1.0/rest/conversation/data/lc-${idResult}?fields=NAME,EMAIL`;
      const basic = Buffer.from(
        `${DEMO_USER.username}@${DEMO_USER.companyCode}:${DEMO_USER.password}`,
      ).toString('base64');
      const direct = [`Authorization=Basic ${basic}`];

      await autocannon(`${gateway.url}${path}`, WARMUP_SECONDS);
      const viaGateway = summary(await autocannon(`${gateway.url}${path}`, LOAD_SECONDS));
      await autocannon(`${sandbox.url}${path}`, WARMUP_SECONDS, direct);
      const toSandbox = summary(await autocannon(`${sandbox.url}${path}`, LOAD_SECONDS, direct));

      const failures = (s: typeof viaGateway) => s.errors + s.timeouts + s.non2xx;
      return {
        rows: [
          {
            what: `local gateway under load (req/s; errors)`,
            ours: `${viaGateway.requestsPerSecond}/s; ${failures(viaGateway)} err`,
            floor: `${toSandbox.requestsPerSecond}/s; ${failures(toSandbox)} err`,
            ratio: ratioOf(viaGateway.requestsPerSecond, toSandbox.requestsPerSecond),
            goal: 'no errors; report ratio',
            met: failures(viaGateway) === 0 && viaGateway.total > 0,
          },
        ],
        runs: `${LOAD_SECONDS} s of autocannon (${LOAD_CONNECTIONS} connections, one process) per target after a ${WARMUP_SECONDS} s warm-up; gateway, sandbox and load generator each in its own process`,
        details: { gateway: viaGateway, sandboxDirect: toSandbox },
      };
    } finally {
      await gateway.stop();
    }
  } finally {
    await sandbox.stop();
  }
}
