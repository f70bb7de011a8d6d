import { promisify } from 'node:util';
import { deflate, gzip } from 'node:zlib';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** Responses smaller than this go as they are: a gzip frame costs ~20 bytes and CPU per request. */
export const RESPONSE_COMPRESSION_THRESHOLD = 1024;

const gzipAsync = promisify(gzip);
const deflateAsync = promisify(deflate);

/**
 * The coding an inference response is sent in: gzip or deflate when `Accept-Encoding` lists it
 * with a non-zero q (gzip preferred at equal q), otherwise none.
 */
export function responseCoding(header: string | string[] | undefined): 'gzip' | 'deflate' | undefined {
  if (header === undefined) return undefined;
  let best: 'gzip' | 'deflate' | undefined;
  let bestQ = 0;
  for (const part of (Array.isArray(header) ? header.join(',') : header).split(',')) {
    const [name = '', ...params] = part.trim().toLowerCase().split(';');
    const coding = name.trim() === 'x-gzip' ? 'gzip' : name.trim();
    if (coding !== 'gzip' && coding !== 'deflate') continue;
    const q = params.map((p) => /^\s*q=([0-9.]+)\s*$/.exec(p)?.[1]).find((v) => v !== undefined);
    const weight = q === undefined ? 1 : Number(q);
    if (weight > bestQ || (weight === bestQ && coding === 'gzip')) {
      best = coding;
      bestQ = weight;
    }
  }
  return bestQ > 0 ? best : undefined;
}

/**
 * Send an inference response, compressed when the client asked (as Triton does). The inference
 * routes do this themselves instead of through @fastify/compress's hooks (app.ts): a route with any
 * onRequest/onSend hook pays Fastify's hook runner on every request, 6-8% of the small-model
 * req/s measured, for the few clients that ask. zlib runs on libuv's thread pool, off the JS thread.
 */
export async function sendEncoded(
  request: FastifyRequest,
  reply: FastifyReply,
  body: Buffer | string,
): Promise<FastifyReply> {
  const accept = request.headers['accept-encoding'];
  if (accept === undefined) return reply.send(body);
  void reply.header('vary', 'accept-encoding');
  const coding = responseCoding(accept);
  if (coding === undefined || Buffer.byteLength(body) < RESPONSE_COMPRESSION_THRESHOLD) return reply.send(body);
  const encoded = await (coding === 'gzip' ? gzipAsync(body) : deflateAsync(body));
  return reply.header('content-encoding', coding).send(encoded);
}
