/**
 * A sandbox DANAConnect in a process of its own, for benchmarks that must not share an event loop with it.
 * Options come as JSON in BENCH_SANDBOX (SandboxOptions plus `faults`); prints `READY <url>` on stderr; stops on SIGTERM.
 */
import { startSandbox, type Faults, type SandboxOptions } from '../../local/sandbox/server';

const options = JSON.parse(process.env.BENCH_SANDBOX ?? '{}') as SandboxOptions & { faults?: Faults };
const sandbox = await startSandbox({ ...options, port: 0 });
if (options.faults) sandbox.setFaults(options.faults);
console.error(`READY ${sandbox.url}`);

process.once('SIGTERM', () => {
  void sandbox.close().then(() => process.exit(0));
});
