/** The shape every benchmark reports in: table rows (figure, floor, ratio, goal) plus free-form details. */

export interface BenchRow {
  /** What was measured, e.g. `bundle start-data (bytes)`. */
  what: string;
  ours: number | string;
  floor: number | string;
  /** ours / floor, or undefined when the row has no ratio. */
  ratio?: number;
  /** Human-readable goal, e.g. `≤ 1.15×`. */
  goal: string;
  /** undefined: informational row, no goal to meet. */
  met?: boolean;
}

export interface BenchOutcome {
  rows: BenchRow[];
  /** How many runs / samples / seconds the figures come from. */
  runs: string;
  details?: unknown;
  /** Extra findings worth reading next to the table (markdown), e.g. a bundle's largest contributors. */
  markdown?: string;
  /** Parts of the benchmark that could not be measured, and why. */
  notMeasured?: string[];
}

export interface Benchmark {
  /** The name used by `--only`. */
  name: string;
  title: string;
  run(): Promise<BenchOutcome>;
}

export const ratioOf = (ours: number, floor: number): number => Number((ours / floor).toFixed(3));
