/**
 * What the synthesized stack deploys, read from its template rather than from infra's constants (those move while
 * the stack is worked on; the template is what would be deployed): each of our functions' memory and timeout, the
 * worker's event source (batch size, maximum concurrency) and its configured rate.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { functionName, type TemplateResource } from '../bundle';

export interface Deployed {
  /** Function name (`process-chunk`) -> memory in MB and timeout in seconds. */
  functions: Record<string, { memoryMb: number; timeoutSeconds: number }>;
  worker: { batchSize: number; maxConcurrency: number; ratePerSecond: number };
}

type Resource = TemplateResource & {
  Properties?: TemplateResource['Properties'] & {
    MemorySize?: number;
    Timeout?: number;
    BatchSize?: number;
    FunctionName?: { Ref?: string };
    ScalingConfig?: { MaximumConcurrency?: number };
  };
};

export function deployedConfig(outDir: string): Deployed {
  const functions: Deployed['functions'] = {};
  const byId = new Map<string, string>();
  let worker: Deployed['worker'] | undefined;
  for (const file of readdirSync(outDir).filter((f) => f.endsWith('.template.json'))) {
    const resources = (
      JSON.parse(readFileSync(join(outDir, file), 'utf8')) as { Resources: Record<string, Resource> }
    ).Resources;
    for (const [id, r] of Object.entries(resources)) {
      const path = r.Metadata?.['aws:cdk:path'];
      if (r.Type !== 'AWS::Lambda::Function' || !path || !r.Metadata?.['aws:asset:path']) continue;
      const name = functionName(resources, r, path);
      byId.set(id, name);
      functions[name] = {
        memoryMb: r.Properties?.MemorySize ?? 128,
        timeoutSeconds: r.Properties?.Timeout ?? 3,
      };
    }
    for (const r of Object.values(resources)) {
      if (r.Type !== 'AWS::Lambda::EventSourceMapping') continue;
      const target = byId.get(r.Properties?.FunctionName?.Ref ?? '');
      if (target !== 'process-chunk') continue;
      const fn = Object.entries(resources).find(([id]) => byId.get(id) === 'process-chunk')![1];
      const rate = Number(fn.Properties?.Environment?.Variables?.DANA_RATE_LIMIT_PER_SECOND ?? 10);
      worker = {
        batchSize: r.Properties?.BatchSize ?? 10,
        maxConcurrency: r.Properties?.ScalingConfig?.MaximumConcurrency ?? 1000,
        ratePerSecond: rate,
      };
    }
  }
  if (!worker || !functions['process-chunk']) throw new Error('no process-chunk event source in the synth');
  return { functions, worker };
}
