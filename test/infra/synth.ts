/**
 * Synthesizes the gateway app as `cdk synth` does (cdk.json's context: feature flags and configuration), with
 * bundling skipped so template tests stay fast. cdk-nag runs on every synth: a finding fails it.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import { afterAll } from 'vitest';
import { buildGatewayApp, cdkJsonContext, type GatewayApp } from '../../infra/gateway-app';

const outdirs: string[] = [];
afterAll(() => {
  for (const dir of outdirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** cdk.json's `gateway` configuration. */
export function cdkJsonGateway(): Record<string, unknown> {
  return cdkJsonContext().gateway as Record<string, unknown>;
}

export interface Synthesized extends GatewayApp {
  assembly: CloudAssembly;
  template: Template;
}

/**
 * The app with cdk.json's configuration, `gateway` keys replaced by `overrides`. `prepare` may add to the stack
 * before synthesis.
 */
export function synthGateway(
  overrides: Record<string, unknown> = {},
  prepare: (built: GatewayApp) => void = () => undefined,
): Synthesized {
  const outdir = mkdtempSync(join(tmpdir(), 'gateway-infra-test-'));
  outdirs.push(outdir);
  const built = buildGatewayApp({
    outdir,
    context: {
      ...cdkJsonContext(),
      gateway: { ...cdkJsonGateway(), ...overrides },
      'aws:cdk:bundling-stacks': [],
    },
  });
  prepare(built);
  const assembly = built.app.synth();
  return { ...built, assembly, template: Template.fromStack(built.stack) };
}

/** Every violation in the synth's validation report (cdk-nag's findings not acknowledged). */
export function reportedViolations(assembly: CloudAssembly): { ruleName: string; paths: string[] }[] {
  const report = JSON.parse(readFileSync(join(assembly.directory, 'validation-report.json'), 'utf8')) as {
    pluginReports: {
      violations?: { ruleName: string; violatingResources?: { constructPath?: string }[] }[];
    }[];
  };
  return report.pluginReports.flatMap((plugin) =>
    (plugin.violations ?? []).map((v) => ({
      ruleName: v.ruleName,
      paths: (v.violatingResources ?? []).map((r) => r.constructPath ?? ''),
    })),
  );
}

type Resources = Record<string, { Type: string; Properties?: Record<string, unknown>; [k: string]: unknown }>;

/** Resources of one type, by logical id. */
export function resourcesOf(template: Template, type: string): Resources {
  return template.findResources(type) as Resources;
}
