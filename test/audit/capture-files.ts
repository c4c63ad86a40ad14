/**
 * How the capture folder's files are named, shared by ./capture-logs.ts (which writes them) and the audit (which
 * reads them): one file per test file and worker process, `<pid>.<test file, URI-encoded>.log`, so the audit can
 * say which test file printed a line, and tell a test file that printed nothing from one that did not run.
 */

export const LOG_SUFFIX = '.log';

/** The test file's path relative to the project root, with `/` separators (e.g. `test/unit/x.test.ts`). */
export function captureFileName(pid: number, testFile: string): string {
  return `${pid}.${encodeURIComponent(testFile)}${LOG_SUFFIX}`;
}

/** The test file a capture file is for, or undefined for a name ./capture-logs.ts did not make. */
export function testFileOfCapture(name: string): string | undefined {
  const match = /^\d+\.(.+)\.log$/.exec(name);
  return match ? decodeURIComponent(match[1]!) : undefined;
}
