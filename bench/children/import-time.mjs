// Cold init of one bundle: a fresh Node process times the dynamic import of the bundle file named by argv[2]
// (module evaluation included: clients, loggers, everything the function builds at load) and prints it as JSON,
// with the CPU time it took (less sensitive than wall time to other load on a shared machine).
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';

const cpuBefore = process.cpuUsage();
const began = performance.now();
const module = await import(pathToFileURL(process.argv[2]).href);
const importMs = performance.now() - began;
const cpu = process.cpuUsage(cpuBefore);
if (typeof module.handler !== 'function') throw new Error('the bundle exports no handler');
process.stdout.write(JSON.stringify({ importMs, importCpuMs: (cpu.user + cpu.system) / 1000 }));
