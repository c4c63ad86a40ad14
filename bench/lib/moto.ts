/** A moto_server for a benchmark that needs DynamoDB: the tests' launcher, tracked so a bench exit stops it. */
import { startMotoServer } from '../../test/moto-server';
import { track } from './proc';

export async function startMoto(): Promise<{ url: string; stop(): Promise<void> }> {
  const moto = await startMotoServer();
  track(moto.child);
  return { url: moto.url, stop: moto.stop };
}
