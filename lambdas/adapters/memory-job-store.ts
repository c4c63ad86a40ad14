/**
 * The job store in memory: the embedded twin of DynamoJobStore for `npm start` and unit tests, with the same
 * semantics (claims with leases, completion once, replacement of dead-lettered outcomes, markDone once).
 * Every method mutates synchronously between awaits, so concurrent callers in one process never interleave.
 */
import {
  claimOfHeldChunk,
  countsDelta,
  type ChunkClaim,
  listPosition,
  type JobListPage,
  type JobListQuery,
  type JobState,
  type JobStore,
  type NewJob,
  type JobSummary,
  type RowOutcome,
} from '../core/jobs';
import { SHARED_OWNER } from '../core/job-access';

type ChunkState = 'claimed' | 'released' | 'done' | 'dead_lettered';

interface ChunkEntry {
  state: ChunkState;
  owner?: string;
  claimedUntil?: number;
  /** Present once counted in the job: final outcomes, or dead-lettered ones that a redriven claim may replace. */
  outcomes?: RowOutcome[];
}

interface JobEntry {
  summary: JobSummary;
  rejected: Map<number, RowOutcome>;
  report?: { owner: string; until: number };
}

export class MemoryJobStore implements JobStore {
  private readonly jobs = new Map<string, JobEntry>();
  /** Per job; kept apart from the job, as DynamoDB's chunk items are: a claim does not need the job item. */
  private readonly chunks = new Map<string, Map<string, ChunkEntry>>();

  constructor(private readonly now: () => number = Date.now) {}

  private entry(jobId: string): JobEntry {
    const entry = this.jobs.get(jobId);
    if (!entry) throw new Error(`job ${jobId} does not exist`);
    return entry;
  }

  private chunksOf(jobId: string): Map<string, ChunkEntry> {
    let chunks = this.chunks.get(jobId);
    if (!chunks) this.chunks.set(jobId, (chunks = new Map()));
    return chunks;
  }

  async createJob(job: NewJob): Promise<JobState | 'created'> {
    const existing = this.jobs.get(job.jobId);
    if (existing) return existing.summary.state;
    this.jobs.set(job.jobId, {
      summary: {
        ...job,
        operation: { ...job.operation },
        state: 'ingesting',
        total: 0,
        started: 0,
        rejected: 0,
        failed: 0,
        startedAt: new Date(this.now()).toISOString(),
        rev: 0,
      },
      rejected: new Map(),
    });
    return 'created';
  }

  async recordRejected(jobId: string, outcomes: RowOutcome[]): Promise<void> {
    const { rejected } = this.entry(jobId);
    for (const outcome of outcomes) rejected.set(outcome.row, { ...outcome });
  }

  async finishIngest(jobId: string, totals: { total: number; rejected: number }): Promise<JobSummary> {
    const { summary } = this.entry(jobId);
    if (summary.state === 'ingesting') {
      summary.total = totals.total;
      summary.rejected = totals.rejected;
      summary.state = 'running';
    }
    return { ...summary };
  }

  async claimChunk(jobId: string, chunkId: string, leaseMs: number, owner: string): Promise<ChunkClaim> {
    const chunks = this.chunksOf(jobId);
    const chunk = chunks.get(chunkId);
    const now = this.now();
    const free = !chunk || chunk.state === 'released' || chunk.state === 'dead_lettered';
    if (free || (chunk.state === 'claimed' && chunk.owner === owner)) {
      chunks.set(chunkId, {
        state: 'claimed',
        owner,
        claimedUntil: now + leaseMs,
        outcomes: chunk?.outcomes,
      });
      return { kind: 'claimed', redriven: chunk?.outcomes !== undefined };
    }
    // Neither free nor ours: held by another attempt, or finished.
    return claimOfHeldChunk(chunk.state as 'done' | 'claimed', chunk.claimedUntil ?? 0, now);
  }

  async completeChunk(
    jobId: string,
    chunkId: string,
    outcomes: RowOutcome[],
    options: { deadLettered?: boolean } = {},
  ): Promise<JobSummary> {
    const { summary } = this.entry(jobId);
    const chunks = this.chunksOf(jobId);
    const chunk = chunks.get(chunkId);
    if (chunk?.state === 'done' || chunk?.state === 'dead_lettered') return { ...summary };
    const delta = countsDelta(outcomes, chunk?.outcomes);
    summary.started += delta.started;
    summary.failed += delta.failed;
    summary.rev = (summary.rev ?? 0) + 1;
    chunks.set(chunkId, {
      state: options.deadLettered ? 'dead_lettered' : 'done',
      outcomes: outcomes.map((o) => ({ ...o })),
    });
    return { ...summary };
  }

  async releaseChunk(jobId: string, chunkId: string, owner: string): Promise<void> {
    const chunk = this.chunksOf(jobId).get(chunkId);
    if (chunk?.state === 'claimed' && chunk.owner === owner) {
      chunk.state = 'released';
      delete chunk.claimedUntil;
      delete chunk.owner;
    }
  }

  async takeReportLease(jobId: string, owner: string, leaseMs: number): Promise<JobSummary | undefined> {
    const entry = this.entry(jobId);
    const now = this.now();
    const held = entry.report && entry.report.until >= now && entry.report.owner !== owner;
    if (entry.summary.state !== 'done' || held) return undefined;
    entry.report = { owner, until: now + leaseMs };
    return this.getJob(jobId);
  }

  async releaseReportLease(jobId: string, owner: string, reportedRev?: number): Promise<void> {
    const entry = this.entry(jobId);
    if (entry.report?.owner !== owner) return;
    entry.report = undefined;
    if (reportedRev !== undefined) entry.summary.reportedRev = reportedRev;
  }

  async markEventPublished(jobId: string): Promise<void> {
    this.entry(jobId).summary.eventPublished = true;
  }

  async markDone(jobId: string): Promise<boolean> {
    const { summary } = this.entry(jobId);
    const complete = summary.started + summary.rejected + summary.failed === summary.total;
    if (summary.state !== 'running' || !complete) return false;
    summary.state = 'done';
    summary.finishedAt = new Date(this.now()).toISOString();
    return true;
  }

  async getJob(jobId: string): Promise<JobSummary | undefined> {
    const entry = this.jobs.get(jobId);
    return entry && { ...entry.summary, operation: { ...entry.summary.operation } };
  }

  async listJobs(query: JobListQuery): Promise<JobListPage> {
    const owners = new Set(query.owners);
    const listed = [...this.jobs.values()]
      .map(({ summary }) => summary)
      .filter((job) => owners.has(job.owner ?? SHARED_OWNER))
      .filter((job) => query.before === undefined || listPosition(job) < query.before)
      .sort((a, b) => (listPosition(a) < listPosition(b) ? 1 : -1));
    const page = listed.filter((job) => query.state === undefined || job.state === query.state);
    const jobs = page.slice(0, query.limit);
    const more = page.length > query.limit;
    return {
      jobs: jobs.map((job) => ({ ...job, operation: { ...job.operation } })),
      ...(more && { lastPosition: listPosition(jobs[jobs.length - 1]!) }),
    };
  }

  async *outcomes(jobId: string): AsyncIterable<RowOutcome> {
    const byRow = new Map(this.entry(jobId).rejected);
    for (const chunk of this.chunksOf(jobId).values())
      for (const o of chunk.outcomes ?? []) byRow.set(o.row, o);
    for (const row of [...byRow.keys()].sort((a, b) => a - b)) yield { ...byRow.get(row)! };
  }
}
