import { Metadata } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InferenceTestClient } from '../server/grpc/grpc-client.test-support.js';
import { createGrpcServer, type GrpcServer } from '../server/grpc/grpc-server.js';
import type { ModelInferRequestMessage } from '../server/grpc/messages.js';
import { fixtureBytes, openTestPlatform } from '../testing/fixtures.js';
import { ROWS, type TestPlatform } from './deploy.test-support.js';

const request = (name: string, row: readonly number[]): ModelInferRequestMessage => ({
  model_name: name,
  inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], contents: { fp32_contents: [...row] } }],
});

const user = (id: string): Metadata => {
  const metadata = new Metadata();
  metadata.set('x-user-id', id);
  return metadata;
};

describe('deployments over gRPC', () => {
  let platform: TestPlatform;
  let server: GrpcServer;
  let client: InferenceTestClient;

  beforeAll(async () => {
    platform = await openTestPlatform();
    await platform.registry.push({ name: 'cancer', bytes: fixtureBytes('breast_cancer.onnx') });
    await platform.registry.push({ name: 'cancer', bytes: fixtureBytes('breast_cancer_retrained.onnx') });
    await platform.deployments.service.deploy('cancer-live', {
      model: 'cancer',
      routes: ['1.0.0=50', '1.1.0=50'],
      sticky: 'header:x-user-id',
    });
    server = createGrpcServer({ serving: platform.serving });
    client = new InferenceTestClient(`127.0.0.1:${await server.listen('127.0.0.1', 0)}`);
  });
  afterAll(async () => {
    client.close();
    await server.close(1000);
    await platform.dispose();
  });

  it('routes model_name = deployment by weight, keeping a user (gRPC metadata) on one version', async () => {
    const seen = new Map<string, string>();
    const versions = new Set<string>();
    for (let i = 0; i < 60; i++) {
      const id = `user-${i % 20}`;
      const response = await client.call('ModelInfer', request('cancer-live', ROWS[i % ROWS.length]!), user(id));
      expect(response.model_name).toBe('cancer-live');
      versions.add(response.model_version);
      if (seen.has(id)) expect(response.model_version).toBe(seen.get(id));
      seen.set(id, response.model_version);
    }
    expect([...versions].sort()).toEqual(['1.0.0', '1.1.0']);
    // The model itself is still callable by its own name.
    expect((await client.call('ModelInfer', request('cancer', ROWS[0]!))).model_version).toBe('1.1.0');
  });
});
