/**
 * The raw HTTP/1.1 half of the route fuzzer (test/fuzz-routes.test.ts): bytes no HTTP client
 * library would send, over a fresh connection each, and what the answer must look like.
 */
import fc from 'fast-check';
import net from 'node:net';

/**
 * Raw HTTP/1.1 bytes for what an HTTP client library would never send: broken request lines,
 * versions, header names and values, lying or doubled Content-Length, broken chunking, oversized
 * headers. Each ends with `Connection: close` where it still parses, so the answer ends the stream.
 */
export const rawHttpRequests: fc.Arbitrary<Buffer> = fc
  .tuple(
    fc.constantFrom(
      'GET /v2 HTTP/1.1',
      'POST /v2/models/cancer/infer HTTP/1.1',
      'POST /api/v1/feedback HTTP/1.1',
      'GET /v2 HTTP/9.9',
      'GET /v2 HTTP/1.1 extra',
      'GET  HTTP/1.1',
      'G\u00c9T /v2 HTTP/1.1',
      'GET /v2\u0000 HTTP/1.1',
      'GET http://evil/ HTTP/1.1',
      'GET * HTTP/1.1',
      'CONNECT 127.0.0.1:22 HTTP/1.1',
      'PRI * HTTP/2.0',
      '',
    ),
    fc.array(
      fc.oneof(
        fc.constantFrom(
          'Content-Length: -1',
          'Content-Length: abc',
          'Content-Length: 99999999999999999999',
          'Content-Length: 5\r\nContent-Length: 6',
          'Transfer-Encoding: chunked',
          'Transfer-Encoding: gzip, chunked',
          'Transfer-Encoding: chunked\r\nContent-Length: 3',
          'Content-Type: application/json',
          'Content-Encoding: gzip',
          'Inference-Header-Content-Length: -5',
          'Bad Header: x',
          'X-Null: a\u0000b',
          ': empty-name',
          'Host:',
          `X-Big: ${'a'.repeat(20_000)}`,
        ),
        fc.string({ unit: 'binary-ascii', maxLength: 40 }),
      ),
      { maxLength: 4 },
    ),
    fc.oneof(
      fc.constant(''),
      fc.constantFrom('zz\r\nabc\r\n0\r\n\r\n', '5\r\n{"a":\r\n0\r\n\r\n', '{"inputs": []}', '-1\r\n\r\n'),
      fc.string({ unit: 'binary-ascii', maxLength: 64 }),
    ),
  )
  .map(([line, headers, body]) =>
    Buffer.from(`${line}\r\nHost: x\r\n${headers.join('\r\n')}\r\nConnection: close\r\n\r\n${body}`, 'latin1'),
  );

/** Raw bytes over a fresh connection: what came back before the server closed it (or the timeout). */
export function sendRaw(base: URL, bytes: Buffer): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: base.hostname, port: Number(base.port) });
    const chunks: Buffer[] = [];
    const finish = () => {
      socket.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    };
    socket.setTimeout(5000, finish);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('close', finish);
    socket.on('error', finish);
    socket.end(bytes);
  });
}

/** What is wrong with a raw answer: a status other than 2xx/4xx, or a 4xx without `{error, code}`. */
export function judgeRaw(answer: string): string | undefined {
  if (answer === '') return undefined; // closed without a word: nothing to mis-shape
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(answer)?.[1] ?? 0);
  if (status === 0) return `not an HTTP answer: ${answer.slice(0, 120)}`;
  if (status >= 500) return `${status}: ${answer.slice(0, 300)}`;
  if (status < 400) return undefined;
  // The first answer only: bytes after a request the server answered may be read as the next one.
  const head = answer.slice(0, answer.indexOf('\r\n\r\n'));
  const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? answer.length);
  const body = answer.slice(head.length + 4, head.length + 4 + length);
  try {
    const parsed = JSON.parse(body) as { error?: unknown; code?: unknown };
    if (typeof parsed.error === 'string' && typeof parsed.code === 'string') return undefined;
  } catch {
    // fall through
  }
  return `${status} without {error, code}: ${body.slice(0, 200)}`;
}
