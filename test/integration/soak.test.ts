/**
 * The soak in small (`npm run soak` in full, docs/SOAK.md): the same code, bench/soak/run.ts, with a thousand
 * rows. Uploads and async API requests go through the real ingest and submitApiJob, the real process-chunk
 * handler runs in worker processes fed by an SQS event source loop on moto, all of it behind the fault-injecting
 * AWS proxy and against the sandbox's fault mix, and worker processes are killed mid-call. Every criterion must
 * hold: every row accounted once, nothing started twice unless reported unknown, unknown only where the call
 * was ambiguous or its worker was killed, never for a row DANAConnect did not receive.
 *
 * moto is the global setup's; the soak starts (and stops, also when this test is cut short) its own proxy,
 * sandbox and worker processes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { DEFAULT_OPTIONS } from '../../bench/soak/config';
import { formatResult, type SoakResult } from '../../bench/soak/result';
import { runSoak } from '../../bench/soak/run';

const motoUrl = inject('motoEndpoint');
const logDir = mkdtempSync(join(tmpdir(), 'dana-soak-'));
const stop = new AbortController();
let running: Promise<SoakResult> | undefined;

afterAll(async () => {
  // A run cut short by the test's timeout stops here: worker processes, proxy and sandbox.
  stop.abort();
  await running?.catch(() => undefined);
  rmSync(logDir, { recursive: true, force: true });
});

describe('soak (small): never twice, never lost, under AWS and DANAConnect faults and killed workers', () => {
  it('holds every criterion of npm run soak', async () => {
    running = runSoak(
      {
        ...DEFAULT_OPTIONS,
        rows: 1_000,
        waveRows: 1_000,
        seed: 7,
        // Often enough that a few kills land while the rows are fed.
        killEveryMs: 2_000,
        // A guard against a stuck pipeline, not a timing assertion.
        timeLimitMs: 240_000,
      },
      { motoUrl, logDir, log: () => undefined, signal: stop.signal },
    );
    const result = await running;
    const report = formatResult(result);
    console.log(report);
    for (const criterion of result.criteria) {
      expect(criterion.ok, `${criterion.name}: ${criterion.value}\n\n${report}`).toBe(true);
    }
    // The faults really happened: worker kills mid-call, AWS faults, DANAConnect's ambiguous answers.
    expect(result.kills.done, report).toBeGreaterThan(0);
    expect(Object.keys(result.proxy.actedThenFailed).length, report).toBeGreaterThan(0);
    expect(result.sandboxFaults.ambiguousCalls, report).toBeGreaterThan(0);
  }, 300_000);
});
