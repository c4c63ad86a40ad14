/**
 * `npm run sandbox`: a local DANAConnect on 127.0.0.1 (port SANDBOX_PORT, default 4010) until SIGINT/SIGTERM.
 */
import { DEMO_CLIENT, DEMO_USER, startSandbox } from './server';

const port = Number(process.env.SANDBOX_PORT ?? 4010);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`SANDBOX_PORT must be a port number, not ${JSON.stringify(process.env.SANDBOX_PORT)}`);
  process.exit(1);
}

const sandbox = await startSandbox({ port });
console.log(`DANAConnect sandbox listening on ${sandbox.url}
  API 1.0: ${sandbox.url}/api/1.0/rest   HTTP Basic ${DEMO_USER.username}@${DEMO_USER.companyCode}:${DEMO_USER.password}
  API 2.0: ${sandbox.url}/api/2.0/rest   token from ${sandbox.tokenUrl}, client ${DEMO_CLIENT.clientId} / ${DEMO_CLIENT.clientSecret}
  Conversations 1001, 1002, 1003; project 77 starts 1001. New records get link codes lc-<recordId>.
  Control: ${sandbox.url}/__sandbox/{faults,fault-stats,received,started,duplicates,start-counts,records,reset,link-codes,rotate}`);

let stopping = false;
async function stop(signal: string) {
  if (stopping) return;
  stopping = true;
  console.log(`${signal}: stopping the sandbox`);
  await sandbox.close();
  process.exit(0);
}
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));
