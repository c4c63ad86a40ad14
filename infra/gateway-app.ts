import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Tags, Validations, type AppProps } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { configFromContext, type GatewayConfig } from './config';
import { GatewayStack, PROJECT_ROOT } from './gateway-stack';

/** The `context` of cdk.json: tests synthesize with exactly what `cdk synth` sees (feature flags, configuration). */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as {
    context?: Record<string, unknown>;
  };
  return cdkJson.context ?? {};
}

export interface GatewayApp {
  app: App;
  stack: GatewayStack;
  config: GatewayConfig;
}

/**
 * The CDK app: one stack, `DanaGateway-<stage>`, env-agnostic (no account or region lookups), with cdk-nag's
 * AwsSolutions checks run on every synth. An unacknowledged finding fails the synth.
 */
export function buildGatewayApp(props: AppProps = {}): GatewayApp {
  const app = new App(props);
  const config = configFromContext((key) => app.node.tryGetContext(key));
  const stack = new GatewayStack(app, `DanaGateway-${config.stage}`, {
    config,
    description: `Gateway to DANAConnect's Conversation API (${config.stage})`,
  });
  Tags.of(app).add('app', 'dana-gateway');
  Tags.of(app).add('stage', config.stage);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  return { app, stack, config };
}
