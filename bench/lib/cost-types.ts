/** What the cost benchmark (../cost.ts) hands its child (../children/cost.ts) and gets back. */
import type { MeterEntry } from './aws-meter';

export type CostPath = 'upload' | 'async';

export interface CostConfig {
  path: CostPath;
  /** DANA_RATE_LIMIT_PER_SECOND. */
  rate: number;
  /** Contacts to start (rows of the upload, or 10-record async requests × 10). */
  rows: number;
  /** The AWS endpoint (a proxy in front of moto_server) and the sandbox. */
  awsUrl: string;
  danaUrl: string;
  /** From the synthesized template. */
  workerBatchSize: number;
  workerConcurrency: number;
  workerTimeoutSeconds: number;
  pacingMaxWaitMs: number;
}

export interface FunctionUse {
  invocations: number;
  /** Sum of each invocation's duration rounded up to the millisecond, as Lambda bills it. */
  billedMs: number;
}

export interface CostRun {
  config: CostConfig;
  started: number;
  failed: number;
  rejected: number;
  /** Wall time of the ingress (upload ingest, or the async requests) and of draining the queue. */
  ingressMs: number;
  workerMs: number;
  functions: Record<string, FunctionUse>;
  /**
   * The worker's pacing time: per invocation the longest time one of its chunks spent in the limiter (they
   * acquire side by side, so the invocation lives that much longer for pacing), summed over invocations; and
   * the same for the limiter's sleep alone (the rest is its DynamoDB requests and lost races).
   */
  pacing: { waitMs: number; sleptMs: number };
  meter: MeterEntry[];
  /** Bytes the code wrote to stdout/stderr (CloudWatch Logs in Lambda), by label. */
  logBytes: Record<string, number>;
  /** HTTP 202s of the async requests, or 0. */
  accepted: number;
  /** Set when this run was taken from an earlier benchmark's output (BENCH_COST_REUSE): when it was written. */
  reusedFrom?: string;
}
