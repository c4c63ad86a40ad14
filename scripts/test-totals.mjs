// Prints the CI totals line `N passed, N failed` from vitest's JSON report. A step that failed outside the
// tests (install, lint, type-check, synth) counts as one failure each, so a broken build never reads as green.
import { existsSync, readFileSync } from 'node:fs';

const [reportPath, failedSteps = '0'] = process.argv.slice(2);
let passed = 0;
let failed = Number(failedSteps);
if (reportPath && existsSync(reportPath)) {
  const report = JSON.parse(readFileSync(reportPath, 'utf8'));
  passed = report.numPassedTests ?? 0;
  failed += report.numFailedTests ?? 0;
  // A test file that failed to load has no failed test in it, but it is a failure.
  for (const file of report.testResults ?? []) {
    if (file.status === 'failed' && (file.assertionResults ?? []).length === 0) failed += 1;
  }
} else {
  failed += 1;
}
console.log(`${passed} passed, ${failed} failed`);
