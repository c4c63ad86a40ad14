/** The CDK entry point (cdk.json: `npx tsx infra/app.ts`). Configuration: see ./config.ts and docs/CONFIGURATION.md. */
import { buildGatewayApp } from './gateway-app';

buildGatewayApp().app.synth();
