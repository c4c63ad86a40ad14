import 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startMotoServer } from './moto-server';

declare module 'vitest' {
  export interface ProvidedContext {
    motoEndpoint: string;
    /** Where every test worker's stdout/stderr is captured for the log audit (test/audit). */
    logCaptureDir: string;
  }
}

/**
 * Starts one moto_server on 127.0.0.1 for the whole run (unless MOTO_ENDPOINT points at one already)
 * and stops it afterwards. Tests reach it with `inject('motoEndpoint')`.
 * Also makes the folder where test workers' output is captured for the log audit (`inject('logCaptureDir')`).
 */
export default async function setup(project: TestProject) {
  const logCaptureDir = mkdtempSync(join(tmpdir(), 'dana-gateway-logs-'));
  project.provide('logCaptureDir', logCaptureDir);
  const moto = process.env.MOTO_ENDPOINT ? undefined : await startMotoServer();
  project.provide('motoEndpoint', process.env.MOTO_ENDPOINT ?? moto!.url);
  return async () => {
    rmSync(logCaptureDir, { recursive: true, force: true });
    await moto?.stop();
  };
}
