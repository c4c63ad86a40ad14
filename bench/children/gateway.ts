/**
 * The local gateway in a process of its own, pointed at a sandbox (BENCH_DANA_URL) with the demo API 1.0
 * credentials. Prints `READY <url>`; stops on SIGTERM. Its per-request log line is dropped: the load benchmark
 * measures the gateway, not a terminal.
 */
import { startGateway } from '../../local/gateway';
import { sandboxEnv } from '../lib/dana';

const gateway = await startGateway({
  port: 0,
  env: {
    ...sandboxEnv(process.env.BENCH_DANA_URL!),
    POWERTOOLS_LOG_LEVEL: 'INFO',
  },
  log: () => undefined,
});
console.error(`READY ${gateway.url}`);

process.once('SIGTERM', () => {
  void gateway.close().then(() => process.exit(0));
});
