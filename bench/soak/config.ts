/**
 * The soak's knobs and its fault rates, in one place (docs/SOAK.md quotes them). Time constants are the
 * production ones scaled down so that a crashed worker's chunks come back within seconds: the worker's fake
 * timeout, the queue's visibility timeout, the claim lease margin, the call window and the redelivery delays.
 */
import type { FaultConfig, ServiceFaults } from '../../test/harness/aws-fault-proxy';
import type { MixProbabilities } from '../../local/sandbox/server';

export interface SoakOptions {
  /** Rows in all (uploads and API requests). */
  rows: number;
  seed: number;
  /** DANA_RATE_LIMIT_PER_SECOND, and the sandbox's own limit (it answers 429 above it). */
  rate: number;
  processes: number;
  loopsPerProcess: number;
  /** Records per invocation (the event source's batch size). */
  batchSize: number;
  /** Rows per wave: each wave is drained, checked and expired from the table before the next (see run.ts). */
  waveRows: number;
  /** Share of rows sent through the async API (the rest are uploads). */
  apiShare: number;
  functionTimeoutMs: number;
  visibilitySeconds: number;
  leaseMarginMs: number;
  callWindowMs: number;
  maxReceiveCount: number;
  danaTimeoutMs: number;
  /** Mean time between kill requests while a wave is being fed; 0: no kills. */
  killEveryMs: number;
  sandboxLatencyMs: number;
  /** The sandbox resets keep-alive connections idle longer than this (a load balancer's idle timeout). */
  sandboxIdleResetMs: number;
  /** Visible messages above which the feeder waits (moto scans the whole queue on every receive). */
  backlogLimit: number;
  /** Uploads and requests submitted at once. */
  feedConcurrency: number;
  /** The soak gives up (and fails) after this long. */
  timeLimitMs: number;
}

export const DEFAULT_OPTIONS: SoakOptions = {
  rows: 100_000,
  seed: 20_251_125,
  rate: 100,
  processes: 4,
  loopsPerProcess: 5,
  batchSize: 1,
  waveRows: 5_000,
  apiShare: 0.15,
  functionTimeoutMs: 40_000,
  visibilitySeconds: 45,
  leaseMarginMs: 3_000,
  callWindowMs: 25_000,
  maxReceiveCount: 5,
  danaTimeoutMs: 3_000,
  killEveryMs: 20_000,
  sandboxLatencyMs: 150,
  sandboxIdleResetMs: 5_000,
  backlogLimit: 20,
  feedConcurrency: 3,
  timeLimitMs: 4 * 60 * 60_000,
};

/** The worker's redelivery delays: 2 s, 4 s, 8 s (jittered) instead of 10 s … 15 min. */
export const SOAK_REDELIVERY = { baseDelayMs: 2_000, maxDelayMs: 8_000 };

/** Per request of each AWS service: at most one fault, drawn from the proxy's seeded generator. */
export const AWS_FAULTS: ServiceFaults = {
  throttle: 0.02,
  internalError: 0.01,
  internalErrorAfter: 0.01,
  reset: 0.005,
  resetAfter: 0.005,
  hang: 0.002,
  hangAfter: 0.002,
};

export function awsFaults(seed: number): FaultConfig {
  return { seed, dynamodb: AWS_FAULTS, sqs: AWS_FAULTS, s3: AWS_FAULTS, transactionHoldMs: [5, 20] };
}

/** Per DANAConnect call (partialBatch: per batch call). */
export const DANA_MIX: MixProbabilities = {
  status429: 0.02,
  status503: 0.02,
  status500AfterActing: 0.01,
  status502AfterActing: 0.01,
  status504AfterActing: 0.01,
  partialBatch: 0.02,
  dropAfterActing: 0.01,
  dropBeforeActing: 0.01,
};
