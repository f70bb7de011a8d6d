import http from 'node:http';
import type { Socket } from 'node:net';

/**
 * What Node's HTTP parser refuses before any route or hook runs (a broken request line, a bad
 * header, a lying Content-Length, broken chunking, oversized headers, a request timeout), answered
 * in the one error shape `{error, code}` (http/errors.ts) instead of Fastify's own
 * `{error, message, statusCode}`; the connection is closed after it, as Node and Fastify do.
 * Found by test/fuzz-routes.test.ts.
 */
export function clientErrorHandler(error: Error & { code?: string }, socket: Socket): void {
  // A reset connection is gone: nobody to answer.
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  let status = 400;
  let message = `malformed HTTP request (${error.code ?? 'parse error'})`;
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    status = 408;
    message = 'the request was not received in time';
  } else if (error.code === 'HPE_HEADER_OVERFLOW') {
    status = 431;
    message = 'the request headers are larger than the server accepts';
  }
  const body = JSON.stringify({ error: message, code: status === 408 ? 'DEADLINE_EXCEEDED' : 'INVALID_ARGUMENT' });
  if (socket.writable)
    socket.write(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `Content-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${body}`,
    );
  socket.destroy(error);
}
