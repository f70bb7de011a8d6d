import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, inferBody, ROWS, startCancerServer, type TestPlatform } from '../../deploy/deploy.test-support.js';
import { fixtureBytes } from '../../testing/fixtures.js';
import type { RunningServer } from '../serve.js';

/** What a web page can POST cross-site without a preflight (issue 15 §3), plus a Blob body's "no type". */
const FORGED_TYPES = [
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'text/plain;charset=UTF-8',
  undefined,
] as const;

async function post(
  url: string,
  path: string,
  body: string | Uint8Array,
  contentType: string | undefined,
  extra: Record<string, string> = {},
): Promise<{ status: number; body: { error?: string; code?: string } }> {
  // A Blob without a type is how a page sends a body with no Content-Type header at all.
  const payload = contentType === undefined ? new Blob([body]) : body;
  const response = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { ...(contentType === undefined ? {} : { 'content-type': contentType }), ...extra },
    body: payload,
  });
  return { status: response.status, body: (await response.json()) as { error?: string; code?: string } };
}

describe('request content types: only application/json, and bytes where a route takes them', () => {
  let platform: TestPlatform;
  let server: RunningServer;
  let requestId: string;

  beforeAll(async () => {
    ({ platform, server } = await startCancerServer());
    await api(server.url, 'PUT', '/api/v1/deployments/cancer-live', { model: 'cancer', routes: ['1.0.0=100'] });
    await api(server.url, 'PUT', '/api/v1/deployments/cancer-live', { model: 'cancer', routes: ['1.1.0=100'] });
    const answer = await post(server.url, '/v2/models/cancer/versions/1.0.0/infer', inferBody(ROWS[0]!), undefined);
    expect(answer.status).toBe(200);
    requestId = (answer.body as { id: string }).id;
    await platform.log.flush();
  }, 60_000);
  afterAll(async () => {
    await server.stop(5000);
    await platform.dispose();
  });

  it.each(FORGED_TYPES)(
    '%s: push, feedback and rollback are 415 naming the type, and nothing changes',
    async (type) => {
      const named = type === undefined ? 'no Content-Type' : `Content-Type "${type}"`;
      const push = await post(
        server.url,
        '/api/v1/models/cancer/versions',
        JSON.stringify({
          artifact_base64: fixtureBytes('breast_cancer.onnx').toString('base64'),
          allow_duplicate: true,
        }),
        type,
      );
      expect(push).toEqual({
        status: 415,
        body: {
          code: 'UNSUPPORTED_MEDIA_TYPE',
          error: `${named} is not accepted here: this route takes application/json or application/octet-stream (send -H 'content-type: application/json')`,
        },
      });
      const feedback = await post(
        server.url,
        '/api/v1/feedback',
        JSON.stringify({ request_id: requestId, label: 1 }),
        type,
      );
      expect(feedback.status).toBe(415);
      expect(feedback.body.error).toBe(
        `${named} is not accepted here: this route takes application/json (send -H 'content-type: application/json')`,
      );
      const rollback = await post(server.url, '/api/v1/deployments/cancer-live/rollback', '{}', type);
      expect(rollback.status).toBe(415);

      expect((await api(server.url, 'GET', '/api/v1/models/cancer/versions')).body.versions).toHaveLength(3);
      const deployment = await api(server.url, 'GET', '/api/v1/deployments/cancer-live');
      expect(deployment.body.revision.revision).toBe(2);
      const performance = await api(server.url, 'GET', '/api/v1/performance?model=cancer&window=1h');
      expect(performance.body.versions).toEqual([]);
    },
  );

  it('bytes are refused on a JSON route, the inference routes refuse form types unless binary, JSON still works', async () => {
    const bytesToFeedback = await post(server.url, '/api/v1/feedback', '{}', 'application/octet-stream');
    expect(bytesToFeedback.status).toBe(415);
    expect(bytesToFeedback.body.error).toContain('Content-Type "application/octet-stream" is not accepted here');

    const formInfer = await post(
      server.url,
      '/v2/models/cancer/versions/1.0.0/infer',
      inferBody(ROWS[0]!),
      'application/x-www-form-urlencoded',
    );
    expect(formInfer.status).toBe(415);
    expect(formInfer.body.error).toBe(
      `Content-Type "application/x-www-form-urlencoded" is not accepted here: this route takes application/json (or no Content-Type), or binary tensors with an Inference-Header-Content-Length header (send -H 'content-type: application/json')`,
    );
    // curl --data-binary sends a form type; with the binary extension's header it is a real client.
    const header = JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 30], data: ROWS[0] }] });
    const binary = await post(
      server.url,
      '/v2/models/cancer/versions/1.0.0/infer',
      header,
      'application/x-www-form-urlencoded',
      {
        'inference-header-content-length': String(Buffer.byteLength(header)),
      },
    );
    expect(binary.status, JSON.stringify(binary.body)).toBe(200);
    for (const type of ['application/json', 'application/json; charset=utf-8', undefined]) {
      const answer = await post(server.url, '/v2/models/cancer/versions/1.0.0/infer', inferBody(ROWS[0]!), type);
      expect(answer.status).toBe(200);
    }

    // The same feedback and rollback as application/json go through: the refusals above could fail.
    const feedback = await post(
      server.url,
      '/api/v1/feedback',
      JSON.stringify({ request_id: requestId, label: 1 }),
      'application/json; charset=utf-8',
    );
    expect(feedback).toEqual({ status: 200, body: { accepted: 1 } });
    const rollback = await post(server.url, '/api/v1/deployments/cancer-live/rollback', '{}', 'application/json');
    expect(rollback.status).toBe(200);
    expect((await api(server.url, 'GET', '/api/v1/deployments/cancer-live')).body.revision.revision).toBe(3);
    // A POST to no route is still 404, whatever its type.
    expect((await post(server.url, '/api/v1/nowhere', '{}', 'text/plain')).status).toBe(404);
    expect((await post(server.url, '/api/v1/nowhere', '{}', 'application/octet-stream')).status).toBe(404);
  });
});
