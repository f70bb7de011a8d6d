/**
 * The transport-neutral inference request and result: what every adapter (REST v2 JSON and binary,
 * `:predict`, gRPC) maps its wire format to and from. Adapters never route, observe or build tensors.
 */
import type { HeaderLookup } from '../deploy/sticky-key.js';
import type { Protocol } from '../monitor/events.js';
import type { CancelSignal } from '../runtime/abort.js';
import type { Signature, Tensor } from '../tensor/datatypes.js';
import type { RequestedOutput } from './classification.js';

/** What every body kind may carry besides its inputs. */
interface BodyCommon {
  /** The client's request id; one is made up when absent and monitoring is on. */
  readonly id?: string | undefined;
  /** The outputs wanted, with their parameters (`classification: k`); all when undefined or empty. */
  readonly outputs?: readonly RequestedOutput[] | undefined;
  /** Request parameters (`timeout`, `priority`, ...). */
  readonly parameters?: Readonly<Record<string, unknown>> | undefined;
}

/**
 * The request's inputs, tagged by how they arrive:
 * - `tensors`: decoded tensors (JSON, binary or gRPC); a function when decoding needs the routed
 *   version's signature (a binary body with no JSON header is the model's only input);
 * - `rows` / `columns`: `:predict` instances or columns, decoded against the routed version's signature;
 * - `entities`: entity keys of a version bound to a feature service; the inputs are read from the online store.
 */
export type RequestBody =
  | (BodyCommon & {
      readonly kind: 'tensors';
      readonly inputs: readonly Tensor[] | ((signature: Signature) => readonly Tensor[]);
    })
  | (BodyCommon & { readonly kind: 'rows'; readonly instances: unknown })
  | (BodyCommon & { readonly kind: 'columns'; readonly columns: unknown })
  | (BodyCommon & { readonly kind: 'entities'; readonly entities: unknown; readonly features?: unknown });

export interface InferenceRequest {
  /** A model or a deployment. */
  readonly name: string;
  /** A semver, an alias, a major (`1`), or undefined: the latest version (a deployment's routes pick it). */
  readonly version?: string | undefined;
  /**
   * The body, or a function that decodes it: the pipeline calls it, so a body that fails to decode
   * is observed like any failed request, and one sent to an unknown model answers NOT_FOUND.
   */
  readonly body: RequestBody | (() => RequestBody);
  /** The transport, for metrics; default 'http'. */
  readonly protocol?: Protocol;
  /** Request headers (gRPC metadata), for a deployment's `header:` sticky key. */
  readonly headers?: HeaderLookup | undefined;
  /** Fires when the client goes away: queued work is dropped. */
  readonly signal?: CancelSignal | undefined;
}

export interface InferResult {
  /** The name the request called (a model or a deployment). */
  readonly modelName: string;
  readonly modelVersion: string;
  /** The client's id, or one the server made up when monitoring is on (feedback refers to it). */
  readonly id: string | undefined;
  readonly outputs: readonly Tensor[];
}

/** A request of decoded tensors (tests, internal callers). */
export function tensorRequest(
  name: string,
  inputs: readonly Tensor[],
  extra: Omit<InferenceRequest, 'name' | 'body'> & Omit<BodyCommon, 'outputs'> & { outputs?: readonly string[] } = {},
): InferenceRequest {
  const { id, outputs, parameters, ...rest } = extra;
  return {
    name,
    ...rest,
    body: { kind: 'tensors', inputs, id, outputs: outputs?.map((output) => ({ name: output })), parameters },
  };
}
