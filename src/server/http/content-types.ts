/**
 * Which request content types a route parses (issue 15 §3). A web page can send a cross-site POST
 * without a CORS preflight only with `application/x-www-form-urlencoded`, `multipart/form-data`,
 * `text/plain` or no content type at all (a Blob body): parsing those as JSON let any page a user
 * opened push a model or roll a deployment back. So `application/json` is parsed everywhere, raw
 * bytes (`application/octet-stream`) only on routes that say they take them
 * (`config: { acceptsBytes: true }`, the push route), and anything else is 415 naming the type.
 * The v2 infer routes have their own parser (v2-routes.ts) and use {@link isFormContentType}.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import { SlipwayError } from '../../core/errors.js';
import { bodyText } from './body-text.js';
import { readRequestBody } from './request-decoding.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route reads a raw `application/octet-stream` body (a Buffer) as well as JSON. */
    acceptsBytes?: boolean;
  }
}

/** The media types a browser may POST cross-site without a preflight, and so what a web page can forge. */
const FORM_TYPES: ReadonlySet<string> = new Set([
  'application/x-www-form-urlencoded',
  'multipart/form-data',
  'text/plain',
]);

/** The media type of a Content-Type header, lower-cased, without parameters; '' when absent. */
export function mediaTypeOf(header: string | undefined): string {
  if (header === undefined) return '';
  const semicolon = header.indexOf(';');
  return (semicolon === -1 ? header : header.slice(0, semicolon)).trim().toLowerCase();
}

/** True for the content types a cross-site form or a Blob body sends (see the file comment). */
export function isFormContentType(header: string | undefined): boolean {
  return FORM_TYPES.has(mediaTypeOf(header));
}

/** 415 naming the content type received and what the route takes. */
export function unsupportedContentType(header: string | undefined, takes: string): SlipwayError {
  const received = header === undefined || header.trim() === '' ? 'no Content-Type' : `Content-Type "${header}"`;
  return new SlipwayError(
    'UNSUPPORTED_MEDIA_TYPE',
    `${received} is not accepted here: this route takes ${takes} (send -H 'content-type: application/json')`,
  );
}

function routeTakes(request: FastifyRequest): string {
  return request.routeOptions.config.acceptsBytes === true
    ? 'application/json or application/octet-stream'
    : 'application/json';
}

/**
 * The app-wide body parsers: strict UTF-8 JSON (body-text.ts), bytes where the route accepts them,
 * 415 for everything else. Every parser reads through readRequestBody (Content-Encoding undone, the
 * route's limit applied to the decoded bytes).
 */
export function installBodyParsers(app: FastifyInstance, bodyLimit: number): void {
  const json = app.getDefaultJsonParser('error', 'error');
  const parseJson = (
    request: FastifyRequest,
    payload: Readable,
    done: (error: Error | null, value?: unknown) => void,
  ): void =>
    readRequestBody(request, payload, request.routeOptions.bodyLimit ?? bodyLimit, (readError, body) => {
      if (readError !== null || body === undefined) return done(readError ?? null, undefined);
      let text: string;
      try {
        text = bodyText(body);
      } catch (error) {
        done(error as Error);
        return;
      }
      if (text === '') return done(null, undefined);
      void json(request, text, done);
    });
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', parseJson);
  app.addContentTypeParser('application/octet-stream', (request, payload, done) => {
    if (request.is404) return done(null, undefined);
    if (request.routeOptions.config.acceptsBytes !== true) {
      done(unsupportedContentType(request.headers['content-type'], routeTakes(request)));
      return;
    }
    readRequestBody(request, payload, request.routeOptions.bodyLimit ?? bodyLimit, done);
  });
  // Everything else, a missing Content-Type with a body included. A request for no route still
  // answers 404 (its handler runs with no body).
  app.addContentTypeParser('*', (request, _payload, done) => {
    if (request.is404) return done(null, undefined);
    done(unsupportedContentType(request.headers['content-type'], routeTakes(request)));
  });
}
