/** The vendor's rate limit (`SandboxOptions.rateLimitPerSecond`): a sliding one-second window of API calls. */
export class RateLimiter {
  private recent: number[] = [];

  /** `limit` calls per sliding second; undefined = unlimited. */
  constructor(private readonly limit: number | undefined) {}

  /** Whether this call is over the limit; a call under it is counted. */
  throttled(now = Date.now()): boolean {
    if (this.limit === undefined) return false;
    this.recent = this.recent.filter((t) => now - t < 1000);
    if (this.recent.length >= this.limit) return true;
    this.recent.push(now);
    return false;
  }

  reset(): void {
    this.recent = [];
  }
}
