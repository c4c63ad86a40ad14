/**
 * Synthesizes the gateway app as `cdk synth` does (cdk.json's context: feature flags and configuration), with
 * bundling skipped so template tests stay fast. cdk-nag runs on every synth: a finding fails it.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import type { CfnElement } from 'aws-cdk-lib';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import type { IConstruct } from 'constructs';
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

export type Json = Record<string, unknown>;

/**
 * The callers' API Gateway methods: every method but the operator console's (`console-…` operations, its page and
 * its Cognito-authorized /console/api copy of the operator routes; test/infra/operator-console.test.ts).
 */
export function callerMethods(template: Template): Resources[string][] {
  return Object.values(resourcesOf(template, 'AWS::ApiGateway::Method')).filter(
    (m) => !String((m.Properties ?? {}).OperationName ?? '').startsWith('console-'),
  );
}

/** A resource's properties. */
export const props = (r: { Properties?: Json }): Json => r.Properties ?? {};

/** The logical id of an L2 construct's CloudFormation resource. */
export function logicalIdOf(s: Synthesized, construct: IConstruct): string {
  return s.stack.getLogicalId(construct.node.defaultChild as CfnElement);
}

/** Every statement of every IAM policy of the template, with the role it is attached to. */
export function roleStatements(template: Template): { role: string; statement: Json }[] {
  const out: { role: string; statement: Json }[] = [];
  for (const policy of Object.values(resourcesOf(template, 'AWS::IAM::Policy'))) {
    const roles = ((props(policy).Roles ?? []) as { Ref: string }[]).map((r) => r.Ref);
    for (const statement of (props(policy).PolicyDocument as { Statement: Json[] }).Statement) {
      for (const role of roles) out.push({ role, statement });
    }
  }
  return out;
}

/** The statements granted to one function's role. */
export function statementsOf(s: Synthesized, fn: { role: IConstruct }): Json[] {
  const role = logicalIdOf(s, fn.role);
  return roleStatements(s.template)
    .filter((entry) => entry.role === role)
    .map((entry) => entry.statement);
}

/** The actions of a statement, as a list. */
export const actionsOf = (statement: Json): string[] => [statement.Action as string | string[]].flat();
