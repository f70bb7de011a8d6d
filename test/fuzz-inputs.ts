/**
 * What the route fuzzer (test/fuzz-routes.test.ts) sends: fast-check arbitraries for HTTP requests
 * built from the app's own route table, and for gRPC messages built from the service definition.
 * Valid requests are the seeds; most inputs are those seeds mutated (a node replaced by a nasty
 * value, a key dropped or added, the shape made huge or negative, a binary header lying about
 * lengths), the rest random bytes and random JSON.
 */
import fc from 'fast-check';
import { gzipSync } from 'node:zlib';

/** One route as Fastify lists it: the path with `:param` segments and its methods. */
export interface RouteEntry {
  readonly path: string;
  readonly methods: readonly string[];
}

/**
 * Routes from `app.printRoutes({ commonPrefix: false })`: a tree whose lines read
 * `│   ├── /segment (GET, HEAD)`; a line's depth is its column over four, its path its ancestors'.
 * Alternatives Fastify merges into one node (`:name|:ref|:model`) keep the first name.
 */
export function parseRouteTree(tree: string): RouteEntry[] {
  const stack: string[] = [];
  const routes: RouteEntry[] = [];
  for (const line of tree.split('\n')) {
    const match = /^([│ ]*)[├└]── (.*?)(?: \(([A-Z, ]+)\))?$/.exec(line.replace(/\u00a0/g, ' '));
    if (match === null) continue;
    const depth = match[1]!.length / 4;
    const segment = match[2]!.replace(/:([A-Za-z_]+)(\|:[A-Za-z_]+)+/g, ':$1');
    stack.length = depth;
    stack.push(segment);
    if (match[3] !== undefined) {
      const joined = stack.join('');
      routes.push({ path: joined, methods: match[3].split(', ').map((m) => m.trim()) });
    }
  }
  return routes;
}

/** A request as the fuzzer sends it. `path` is already percent-encoded where it must be. */
export interface FuzzRequest {
  readonly route: string;
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body?: Buffer;
}

const DEEP = 10_000;
/** 10k-deep JSON, written as text (JSON.stringify of a value that deep would recurse). */
export const deepArray = (): string => '['.repeat(DEEP) + ']'.repeat(DEEP);
export const deepObject = (): string => '{"a":'.repeat(DEEP) + '1' + '}'.repeat(DEEP);

/** Names a client may try in a path or a body: traversal, encodings, NUL, unicode, long, empty. */
export const nastyName = fc.oneof(
  fc.constantFrom(
    '..',
    '../',
    '../../x',
    '..%2f..%2fetc',
    '%2e%2e',
    '%2e%2e%2f%2e%2e%2f',
    '....//',
    '..\\..\\x',
    'a\u0000b',
    '\u0000',
    '',
    ' ',
    '.',
    'x'.repeat(129),
    'x'.repeat(5000),
    'ｃａｎｃｅｒ',
    'cancer\u200b',
    '\ud800',
    '😀model',
    'a/b',
    'a?b=c',
    'a#b',
    'cancer@',
    'cancer@@x',
    'cancer:predict:predict',
    '__proto__',
    'constructor',
    'null',
  ),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
);

/** Values that replace a node of a valid body. */
const nastyValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    null,
    true,
    0,
    -1,
    -0.5,
    1e308,
    -1e308,
    2 ** 31,
    2 ** 32,
    2 ** 53,
    2 ** 63,
    Number.MAX_SAFE_INTEGER,
    [],
    {},
    [[]],
    [-1, 30],
    [1e9, 30],
    [2 ** 31, 2 ** 31],
    [0, 30],
    [1, 30, 1e6],
    [-1],
    { __proto__x: 1 },
    'FP32',
    'BYTES',
    'FP16',
    'INT64',
    'BOOL',
    '1e999',
  ),
  nastyName,
  fc.integer(),
  fc.double(),
  fc.jsonValue({ maxDepth: 3 }),
);

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** One mutation of a JSON value: replace, drop or add at a random place (paths chosen by the seed). */
function mutate(value: Json, choices: number[], replacement: unknown, key: string): Json {
  const pick = (n: number): number => (n <= 0 ? 0 : (choices.shift() ?? 0) % n);
  const walk = (node: Json, depth: number): Json => {
    const goDeeper = depth < 6 && node !== null && typeof node === 'object' && pick(3) !== 0;
    if (!goDeeper) {
      switch (pick(4)) {
        case 0:
          return replacement as Json;
        case 1:
          if (Array.isArray(node)) return [...node, replacement as Json];
          if (node !== null && typeof node === 'object') return { ...node, [key]: replacement as Json };
          return replacement as Json;
        case 2:
          if (Array.isArray(node)) return node.slice(1);
          if (node !== null && typeof node === 'object') {
            const keys = Object.keys(node);
            const drop = keys[pick(keys.length)];
            return Object.fromEntries(Object.entries(node).filter(([k]) => k !== drop));
          }
          return replacement as Json;
        default:
          return Array.isArray(node) ? [...node, ...node] : [node];
      }
    }
    if (Array.isArray(node)) {
      if (node.length === 0) return [replacement as Json];
      const i = pick(node.length);
      return node.map((child, k) => (k === i ? walk(child, depth + 1) : child));
    }
    const entries = Object.entries(node as Record<string, Json>);
    if (entries.length === 0) return { [key]: replacement as Json };
    const i = pick(entries.length);
    return Object.fromEntries(entries.map(([k, child], n) => [k, n === i ? walk(child, depth + 1) : child]));
  };
  return walk(value, 0);
}

/** A valid JSON body with one to three mutations. */
export function mutatedJson(seed: unknown): fc.Arbitrary<string> {
  return fc
    .array(fc.tuple(fc.array(fc.nat(), { minLength: 8, maxLength: 8 }), nastyValue, nastyName), {
      minLength: 1,
      maxLength: 3,
    })
    .map((steps) => {
      let value = seed as Json;
      for (const [choices, replacement, key] of steps) value = mutate(value, [...choices], replacement, key);
      return JSON.stringify(value) ?? 'null';
    });
}

/** Bytes with flips, cuts and insertions (for ONNX uploads and protobuf messages). */
export function mutatedBytes(seed: Buffer): fc.Arbitrary<Buffer> {
  return fc
    .array(fc.tuple(fc.constantFrom('flip', 'cut', 'insert', 'truncate'), fc.nat(), fc.nat(255)), {
      minLength: 1,
      maxLength: 4,
    })
    .map((steps) => {
      let bytes = Buffer.from(seed);
      for (const [kind, at, value] of steps) {
        const i = bytes.length === 0 ? 0 : at % bytes.length;
        if (kind === 'flip' && bytes.length > 0) bytes[i] = bytes[i]! ^ (value | 1);
        else if (kind === 'cut') bytes = Buffer.concat([bytes.subarray(0, i), bytes.subarray(i + 1 + (value % 16))]);
        else if (kind === 'insert')
          bytes = Buffer.concat([bytes.subarray(0, i), Buffer.from([value]), bytes.subarray(i)]);
        else bytes = bytes.subarray(0, i);
      }
      return bytes;
    });
}

/** Query parameters the routes read (and one they do not); each may come more than once. */
const QUERY_KEYS = [
  'limit',
  'since',
  'until',
  'model',
  'version',
  'deployment',
  'request_id',
  'order',
  'cursor',
  'max_bytes',
  'full',
  'status',
  'include_archived',
  'allow_duplicate',
  'bump',
  'tag',
  'window',
  'ready',
  'x',
];

const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=latin1',
  'application/octet-stream',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=xyz',
  'text/plain',
  'application/xml',
  'application/grpc',
  '*/*',
  ';;;',
  'application/json\u00e9',
];

/**
 * A binary-extension infer body (a JSON header then raw FP32 bytes) with an
 * Inference-Header-Content-Length that may lie: negative, huge, past the body, not a number.
 */
export function binaryInfer(row: readonly number[]): fc.Arbitrary<{ body: Buffer; header: string }> {
  return fc
    .tuple(
      fc.oneof(fc.constant(1), fc.constant(0), fc.constant(-1), fc.constant(1e9), fc.integer({ min: -5, max: 5 })),
      fc.oneof(fc.constant(120), fc.integer({ min: -10, max: 200 }), fc.constant(2 ** 32), fc.constant(-1)),
      fc.oneof(
        fc.constant('exact'),
        fc.constantFrom('-1', '0', '1e3', 'abc', '', '0x10', '99999999999999999999', ' 12', '1.5'),
        fc.integer({ min: -100, max: 100 }).map((d) => `delta:${d}`),
      ),
      fc.nat(64),
    )
    .map(([rows, size, lengthHeader, chop]) => {
      const header = Buffer.from(
        JSON.stringify({
          inputs: [{ name: 'input', datatype: 'FP32', shape: [rows, 30], parameters: { binary_data_size: size } }],
        }),
      );
      const raw = Buffer.from(new Float32Array(row).buffer);
      const body = Buffer.concat([header, raw.subarray(0, Math.max(0, raw.length - chop))]);
      let value: string;
      if (lengthHeader === 'exact') value = String(header.length);
      else if (lengthHeader.startsWith('delta:')) value = String(header.length + Number(lengthHeader.slice(6)));
      else value = lengthHeader;
      return { body, header: value };
    });
}

/** encodeURIComponent that takes lone surrogates too (as UTF-8 of U+FFFD, what the wire would carry). */
export function percentEncode(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-_.!~*'()]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** What fills a path parameter: a real name most of the time, a nasty one otherwise. */
function paramValue(name: string, valid: Record<string, readonly string[]>): fc.Arbitrary<string> {
  const known = valid[name] ?? ['x'];
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...known).map(percentEncode) },
    { weight: 1, arbitrary: nastyName.map(percentEncode) },
    // Unencoded on purpose: traversal the router and the routes must survive as sent.
    { weight: 1, arbitrary: fc.constantFrom('..', '%2e%2e', '..%2f..', '%00', '%ff%fe', '%', '%zz', '.%2e') },
  );
}

export interface Seeds {
  /** Known-good values for path parameters by name. */
  readonly params: Record<string, readonly string[]>;
  /** A valid JSON body per `METHOD path` (the route's pattern). */
  readonly bodies: Record<string, unknown>;
  /** A model upload (valid ONNX bytes). */
  readonly onnx: Buffer;
  /** One valid input row for the model. */
  readonly row: readonly number[];
}

/** Bodies for one route: mutated seeds, lying binary bodies, deep JSON, random JSON and bytes. */
function bodyFor(
  route: RouteEntry,
  method: string,
  seeds: Seeds,
): fc.Arbitrary<{ body?: Buffer; type?: string; extra?: Record<string, string> }> {
  const seed = seeds.bodies[`${method} ${route.path}`];
  const json = (text: fc.Arbitrary<string>) => text.map((t) => ({ body: Buffer.from(t), type: 'application/json' }));
  const options: fc.Arbitrary<{ body?: Buffer; type?: string; extra?: Record<string, string> }>[] = [
    fc.constant({}),
    json(fc.constantFrom('', '{', 'null', '[]', '"x"', '{"__proto__":{"a":1}}', '{"constructor":{"prototype":{}}}')),
    json(fc.constantFrom(deepArray(), deepObject())),
    json(fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v))),
    fc.uint8Array({ maxLength: 512 }).map((b) => ({ body: Buffer.from(b), type: 'application/octet-stream' })),
  ];
  if (seed !== undefined) options.push(json(mutatedJson(seed)), json(mutatedJson(seed)), json(mutatedJson(seed)));
  if (route.path.endsWith('/infer'))
    options.push(
      binaryInfer(seeds.row).map(({ body, header }) => ({
        body,
        type: 'application/octet-stream',
        extra: { 'inference-header-content-length': header },
      })),
    );
  if (route.path === '/api/v1/models/:name/versions' && method === 'POST')
    options.push(mutatedBytes(seeds.onnx).map((body) => ({ body, type: 'application/octet-stream' })));
  return fc.oneof(...options);
}

/** Every route, every method it has (and sometimes one it has not), with parameters, headers and a body. */
export function httpRequests(routes: readonly RouteEntry[], seeds: Seeds): fc.Arbitrary<FuzzRequest> {
  const perRoute = routes.map((route) => {
    const segments = route.path.split(/(:[A-Za-z_]+|\*)/).filter((s) => s !== '');
    const path = fc.tuple(
      ...segments.map((s) =>
        s === '*'
          ? nastyName.map(percentEncode)
          : s.startsWith(':')
            ? paramValue(s.slice(1), seeds.params)
            : fc.constant(s),
      ),
    );
    const method = fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom(...route.methods) },
      { weight: 1, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS') },
    );
    const query = fc.oneof(
      { weight: 4, arbitrary: fc.constant('') },
      {
        weight: 1,
        arbitrary: fc
          .array(fc.tuple(fc.constantFrom(...QUERY_KEYS), nastyName), { maxLength: 3 })
          .map((pairs) => '?' + pairs.map(([k, v]) => `${k}=${percentEncode(v)}`).join('&')),
      },
    );
    return fc
      .tuple(path, method, query)
      .chain(([parts, m, q]) =>
        fc.tuple(
          fc.constant({ parts, m, q }),
          bodyFor(route, m, seeds),
          fc.option(fc.constantFrom(...CONTENT_TYPES), { freq: 3 }),
          fc.option(fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'gzip, gzip', 'bogus'), { freq: 8 }),
          fc.boolean(),
        ),
      )
      .map(([{ parts, m, q }, body, typeOverride, encoding, gzipForReal]): FuzzRequest => {
        const headers: Record<string, string> = { ...(body.extra ?? {}) };
        let bytes = body.body;
        const type = typeOverride ?? body.type;
        if (type !== undefined && bytes !== undefined) headers['content-type'] = type;
        if (encoding !== null && bytes !== undefined) {
          headers['content-encoding'] = encoding;
          if (encoding === 'gzip' && gzipForReal) bytes = gzipSync(bytes);
        }
        if (m === 'GET' || m === 'HEAD') bytes = undefined;
        return { route: route.path, method: m, path: parts.join('') + q, headers, body: bytes };
      });
  });
  return fc.oneof(...perRoute);
}
