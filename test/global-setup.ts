/**
 * One real, ephemeral Temporal server for the whole test run, started from the provisioned
 * CLI binary (never a download). Tests read its address with `inject('temporalAddress')`.
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { requireTemporalCli } from '../engine/temporal-bin.js';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    temporalCli: string;
  }
}

let env: TestWorkflowEnvironment | undefined;

export async function setup(project: TestProject): Promise<void> {
  const path = requireTemporalCli();
  env = await TestWorkflowEnvironment.createLocal({
    server: { executable: { type: 'existing-path', path }, ip: '127.0.0.1' },
  });
  project.provide('temporalAddress', env.address);
  project.provide('temporalCli', path);
}

export async function teardown(): Promise<void> {
  await env?.teardown();
}
