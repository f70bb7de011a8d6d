import type { ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureBytes, openTestPlatform } from '../../testing/fixtures.js';
import { InferenceTestClient } from './grpc-client.test-support.js';
import { createGrpcServer, type GrpcServer } from './grpc-server.js';
import { peerAddress } from './repository-handlers.js';

describe('audit trail of gRPC RepositoryModelLoad / RepositoryModelUnload', () => {
  let platform: Awaited<ReturnType<typeof openTestPlatform>>;
  let server: GrpcServer;
  let client: InferenceTestClient;

  beforeAll(async () => {
    platform = await openTestPlatform();
    await platform.registry.push({ name: 'cancer', bytes: fixtureBytes('breast_cancer.onnx') });
    server = createGrpcServer({
      serving: platform.serving,
      repository: { registry: platform.registry, audit: platform.audit },
    });
    client = new InferenceTestClient(`127.0.0.1:${await server.listen('127.0.0.1', 0)}`);
  });
  afterAll(async () => {
    client.close();
    await server.close(1000);
    await platform.dispose();
  });

  const events = async () => {
    await platform.audit.flush();
    return (await platform.audit.list({})).events.map(({ actor, address, action, target, outcome }) => ({
      actor,
      address,
      action,
      target,
      outcome,
    }));
  };

  it('records loads and unloads with the peer address, the version, and a failure with its code', async () => {
    expect(await client.call('RepositoryModelLoad', { model_name: 'cancer' })).toEqual({});
    expect(await client.call('RepositoryModelUnload', { model_name: 'cancer' })).toEqual({});
    const failed = await client.call('RepositoryModelLoad', { model_name: 'ghost' }).catch((e: ServiceError) => e);
    expect((failed as ServiceError).code).toBe(5);
    // An invalid request (no model name) is refused before anything is attempted: nothing to record.
    await client.call('RepositoryModelLoad', { model_name: '' }).catch(() => undefined);
    expect(await events()).toEqual([
      { actor: 'anonymous', address: '127.0.0.1', action: 'repository.load', target: 'ghost', outcome: 'NOT_FOUND' },
      { actor: 'anonymous', address: '127.0.0.1', action: 'repository.unload', target: 'cancer@1.0.0', outcome: 'ok' },
      { actor: 'anonymous', address: '127.0.0.1', action: 'repository.load', target: 'cancer@1.0.0', outcome: 'ok' },
    ]);
  });

  it('reads the address out of every peer form grpc-js gives', () => {
    expect(peerAddress('ipv4:10.0.0.5:50123')).toBe('10.0.0.5');
    expect(peerAddress('127.0.0.1:50123')).toBe('127.0.0.1');
    expect(peerAddress('ipv6:[::1]:50123')).toBe('::1');
    expect(peerAddress('[2001:db8::7]:443')).toBe('2001:db8::7');
    expect(peerAddress('unix:/tmp/s.sock')).toBe('unix:/tmp/s.sock');
  });
});
