/** The API's shapes the page reads (issues 11 and 12; lambdas/core/api-jobs.ts, aliases.ts, schedules.ts). */
export type JobState = 'ingesting' | 'running' | 'done';

export interface JobListItem {
  jobId: string;
  source: { kind: 'upload'; key: string } | { kind: 'api'; route: string };
  conversationId?: number;
  alias?: string;
  state: JobState;
  total: number;
  started: number;
  rejected: number;
  failed: number;
  createdAt: string;
  finishedAt?: string;
}

export interface JobList {
  jobs: JobListItem[];
  nextCursor?: string;
}

export interface RowOutcome {
  row: number;
  status: string;
  idResult?: number;
  error?: string;
}

export interface JobView {
  jobId: string;
  state: JobState;
  total: number;
  started: number;
  rejected: number;
  failed: number;
  startedAt: string;
  finishedAt?: string;
  outcomes: RowOutcome[];
  truncated: boolean;
  nextRow?: number;
}

export interface AliasChange {
  conversationId: number;
  from: string;
  to: string | null;
}

export interface Alias {
  name: string;
  conversationId: number;
  updatedAt: string;
  history: AliasChange[];
}

export interface AliasList {
  aliases: Alias[];
  cursor?: string;
  nextCursor?: string;
}

export interface ScheduleRun {
  utc: string;
  local: string;
}

export interface Schedule {
  name: string;
  conversation: number | string;
  cron?: string;
  at?: string;
  timezone: string;
  flexibleWindowMinutes: number;
  enabled: boolean;
  description: string;
  nextRuns?: ScheduleRun[];
}

export interface ScheduleList {
  schedules: Schedule[];
  cursor?: string;
  nextCursor?: string;
}

export interface UploadTicket {
  key: string;
  upload: { url: string; fields: Record<string, string> };
  expiresAt: string;
}
