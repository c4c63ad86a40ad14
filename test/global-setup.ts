import 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { PythonToolError } from '../scripts/python-tool';
import { startAwsFaultProxy } from './harness/aws-fault-proxy';
import { startMotoServer } from './moto-server';

declare module 'vitest' {
  export interface ProvidedContext {
    motoEndpoint: string;
    /**
     * moto behind the fault proxy with no random faults: AWS's own semantics that moto lacks (DynamoDB transaction
     * conflicts, atomic conditional writes). Tests that inject faults start a proxy of their own.
     */
    awsEndpoint: string;
    /** Where every test worker's stdout/stderr is captured for the log audit (test/audit). */
    logCaptureDir: string;
  }
}

/**
 * Starts one moto_server on 127.0.0.1 for the whole run (unless MOTO_ENDPOINT points at one already) and stops it
 * afterwards; tests reach it with `inject('motoEndpoint')`. moto_server comes from the PATH or `.venv/`, and the
 * first run on a machine without it installs it into `.venv/` (scripts/python-tool.ts); when that cannot work the
 * run stops before any test with one line saying what is missing and how to fix it.
 * Also makes the folder where test workers' output is captured for the log audit (`inject('logCaptureDir')`).
 */
export default async function setup(project: TestProject) {
  // moto first: if it cannot start, the run stops here and there is no capture folder to leave behind.
  const moto = process.env.MOTO_ENDPOINT ? undefined : await startMoto();
  const motoEndpoint = process.env.MOTO_ENDPOINT ?? moto!.url;
  project.provide('motoEndpoint', motoEndpoint);
  const proxy = await startAwsFaultProxy({ target: motoEndpoint });
  project.provide('awsEndpoint', proxy.url);
  const logCaptureDir = mkdtempSync(join(tmpdir(), 'dana-gateway-logs-'));
  project.provide('logCaptureDir', logCaptureDir);
  return async () => {
    rmSync(logCaptureDir, { recursive: true, force: true });
    await proxy.close();
    await moto?.stop();
  };
}

async function startMoto() {
  try {
    return await startMotoServer();
  } catch (error) {
    if (!(error instanceof PythonToolError)) throw error;
    // Thrown, it would come under vitest's "No test files found" and "Unhandled Error" banners; the user needs only
    // the line. Nothing has started yet, and a run without its report counts as failed in CI (test-totals.mjs).
    await new Promise((written) => process.stderr.write(`\n${error.message}\n`, written));
    process.exit(1);
  }
}
