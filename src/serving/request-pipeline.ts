import { SlipwayError, invalid, toSlipwayError } from '../core/errors.js';
import { entityInputs } from '../features/entity-inference.js';
import type { FeatureStore } from '../features/feature-store.js';
import type { ServedFeatures } from '../features/served-features.js';
import { outcomeOf, type InferenceObserver, type Protocol } from '../monitor/events.js';
import { newRequestId } from '../monitor/request-id.js';
import type { VersionRecord } from '../registry/types.js';
import { newRunTiming } from '../runtime/backend.js';
import { isLoadFailure, type ModelPool } from '../runtime/model-pool.js';
import type { Tensor } from '../tensor/datatypes.js';
import { decodeColumns, decodeInstances } from '../tensor/rows.js';
import { selectOutputs, validateInputs } from '../tensor/validate.js';
import type { ShadowQueue } from '../deploy/shadow-queue.js';
import { keyText as stickyText } from '../deploy/sticky-key.js';
import { isPlainObject } from '../tensor/format.js';
import type { InferenceRequest, InferResult, RequestBody } from './inference-request.js';
import type { RoutedTarget, VersionResolver } from './version-resolver.js';
import { classify, parseClassification } from './classification.js';
import { parseSequenceParameters, refuseSequenceParameters } from './sequence-state.js';
import type { VersionSequences } from './version-sequences.js';

export interface RequestPipelineOptions {
  readonly resolver: VersionResolver;
  readonly pool: ModelPool;
  /** Told about every request, answered or failed (metrics, live stats, prediction log, traffic counters). */
  readonly observer?: InferenceObserver | undefined;
  /** Where copies for a deployment's shadow versions go once the primary answered. */
  readonly shadows?: ShadowQueue | undefined;
  /** Inference by entity; absent = entity requests are refused. */
  readonly features?: FeatureStore | undefined;
  /** Sequence state of stateful versions; absent = sequence parameters are refused. */
  readonly sequences?: VersionSequences | undefined;
}

/** A request that failed, observed once with everything known about it when it failed. */
interface FailedRequest {
  readonly requestId: string;
  readonly timeMs: number;
  readonly started: number;
  readonly protocol: Protocol;
  readonly name: string;
  /** Where it was routed, if it got that far. */
  readonly target: RoutedTarget | undefined;
  /** The resolved version, or '' when resolution failed. */
  readonly version: string;
  readonly error: unknown;
}

/**
 * The one inference path (the KServe DataPlane shape): decode the body, route once (deployment →
 * version), resolve, build the tensors (rows, entities), validate against the signature (without
 * the state tensors of a stateful version), schedule (the version's batcher; a sequence's requests
 * in order, with its state), run, observe, offer shadows, write top-k classes where asked.
 * Transport-neutral.
 */
export class RequestPipeline {
  constructor(private readonly options: RequestPipelineOptions) {}

  async infer(request: InferenceRequest): Promise<InferResult> {
    const { resolver, pool, observer } = this.options;
    const timeMs = Date.now();
    const started = performance.now();
    const protocol = request.protocol ?? 'http';
    let requestId = '';
    let target: RoutedTarget | undefined;
    let version = '';
    try {
      let body: RequestBody;
      try {
        body = typeof request.body === 'function' ? request.body() : request.body;
      } catch (error) {
        // Only a failed decode waits here; a good body costs no extra turn.
        throw await this.decodeFailure(request, error);
      }
      requestId = body.id ?? (observer === undefined ? '' : newRequestId());
      const routed = resolver.route(request.name, request.version, {
        headers: request.headers,
        inputs: body.kind === 'tensors' && typeof body.inputs !== 'function' ? body.inputs : undefined,
        value: this.stickyValueOfRows(request.name, body),
      });
      target = routed.target;
      const record = await resolver.resolve(target.model, routed.version);
      version = record.version;
      const { inputs, served } =
        body.kind === 'entities'
          ? await this.entityInputs(body, record)
          : { inputs: this.inputsOf(body, record), served: undefined };
      // A stateful version hides its state inputs and outputs from clients (known after its first request: no await).
      const known = this.options.sequences?.peek(record);
      const sequence =
        known === undefined
          ? await this.options.sequences?.statesFor(record)
          : known === 'stateless'
            ? undefined
            : known;
      if (sequence === undefined) refuseSequenceParameters(request.name, body.parameters);
      const signature = sequence?.clientSignature ?? record.signature;
      const validated = validateInputs(inputs, signature);
      const outputNames = selectOutputs(
        body.outputs?.map((o) => o.name),
        signature,
      );
      const topK = parseClassification(body.outputs, signature);
      const timing = newRunTiming();
      const runOptions = { signal: request.signal, timing, ...scheduling(body.parameters) };
      const run = (feeds: readonly Tensor[], names: readonly string[]) => pool.run(record, feeds, names, runOptions);
      const runStarted = performance.now();
      const outputs =
        sequence === undefined
          ? await run(validated, outputNames)
          : await sequence.run(parseSequenceParameters(body.parameters), validated, outputNames, run);
      observer?.({
        requestId,
        timeMs,
        deployment: target.deployment,
        model: target.model,
        version,
        protocol,
        outcome: 'success',
        errorCode: undefined,
        durationSeconds: (performance.now() - started) / 1000,
        queueSeconds: timing.queueMs / 1000,
        computeSeconds: Math.max(0, timing.computeMs) / 1000,
        inputs,
        outputs,
        features: served,
      });
      const active = target.active;
      if (active !== undefined && active.shadows.length > 0) {
        this.options.shadows?.offer(active, {
          requestId,
          version,
          inputs: validated,
          outputs,
          latencyMs: performance.now() - runStarted,
        });
      }
      // Top-k classification is how the answer is written: the log and shadows keep the scores.
      const answer =
        topK.size === 0
          ? outputs
          : outputs.map((t) => (topK.has(t.name) ? classify(t, topK.get(t.name) ?? 1, record.labels) : t));
      return {
        modelName: request.name,
        modelVersion: version,
        id: requestId === '' ? undefined : requestId,
        outputs: answer,
      };
    } catch (error) {
      this.observeFailure({ requestId, timeMs, started, protocol, name: request.name, target, version, error });
      throw error;
    }
  }

  /**
   * Run a resolved version on inputs without metrics or logging (reference profiles, shadow copies):
   * validated like any request.
   */
  async runUnobserved(record: VersionRecord, inputs: readonly Tensor[]): Promise<Tensor[]> {
    return this.options.pool.run(record, validateInputs(inputs, record.signature), []);
  }

  /** Run a version for a shadow copy: validated, unobserved (its figures are the shadow report's). */
  async runShadow(model: string, version: string, inputs: readonly Tensor[]): Promise<Tensor[]> {
    return this.runUnobserved(await this.options.resolver.resolve(model, version), inputs);
  }

  /**
   * Why a body did not decode. Sent to a model or version that does not exist, it answers
   * NOT_FOUND rather than a complaint about its tensors (checked only on failure).
   */
  private async decodeFailure(request: InferenceRequest, error: unknown): Promise<unknown> {
    if (request.name === '' || (error instanceof SlipwayError && error.code !== 'INVALID_ARGUMENT')) return error;
    try {
      const routed = this.options.resolver.route(request.name, request.version, { headers: request.headers });
      await this.options.resolver.resolve(routed.target.model, routed.version);
    } catch (missing) {
      if (missing instanceof SlipwayError && missing.code === 'NOT_FOUND') return missing;
    }
    return error;
  }

  /** The tensors a body of decoded tensors, rows or columns gives for the version that runs it. */
  private inputsOf(body: Exclude<RequestBody, { kind: 'entities' }>, record: VersionRecord): readonly Tensor[] {
    switch (body.kind) {
      case 'tensors':
        return typeof body.inputs === 'function' ? body.inputs(record.signature) : body.inputs;
      case 'rows':
        return decodeInstances(body.instances, record.signature);
      case 'columns':
        return decodeColumns(body.columns, record.signature);
    }
  }

  /** Inference by entity: the inputs read from the online store, and what was served. */
  private async entityInputs(
    body: Extract<RequestBody, { kind: 'entities' }>,
    record: VersionRecord,
  ): Promise<{ inputs: readonly Tensor[]; served: ServedFeatures }> {
    return entityInputs(this.options.features, record, { entities: body.entities, features: body.features });
  }

  /** A deployment's `input:` sticky key read from `:predict` rows before they are decoded: the first row's value, or the column's first. */
  private stickyValueOfRows(name: string, body: RequestBody): string | undefined {
    if (body.kind !== 'rows' && body.kind !== 'columns') return undefined;
    const input = this.options.resolver.stickyInputOf(name);
    if (input === undefined) return undefined;
    if (body.kind === 'rows') {
      const first: unknown = Array.isArray(body.instances) ? body.instances[0] : undefined;
      return isPlainObject(first) ? stickyText(first[input]) : undefined;
    }
    if (!isPlainObject(body.columns)) return undefined;
    const column = body.columns[input];
    return stickyText(Array.isArray(column) ? column[0] : column);
  }

  /**
   * Count a failed request. The model label is kept only when the registry knows the name, so
   * label values stay bounded whatever names clients send.
   */
  private observeFailure(failure: FailedRequest): void {
    const { observer, resolver } = this.options;
    if (observer === undefined) return;
    const { error } = failure;
    // Transport errors (a body that is not JSON) carry an HTTP 4xx status instead of a code.
    const status = (error as { statusCode?: unknown } | undefined)?.statusCode;
    const code =
      !(error instanceof SlipwayError) && typeof status === 'number' && status >= 400 && status < 500
        ? 'INVALID_ARGUMENT'
        : toSlipwayError(error).code;
    const model = failure.target?.model ?? failure.name;
    observer({
      requestId: failure.requestId,
      timeMs: failure.timeMs,
      deployment: failure.target?.deployment,
      model: failure.version !== '' || resolver.isKnownModel(model) ? model : '',
      version: failure.version,
      // A version that failed to load answers 503 (UNAVAILABLE), but that is the server failing, not a refusal for load.
      protocol: failure.protocol,
      outcome: isLoadFailure(error) ? 'error' : outcomeOf(code),
      errorCode: code,
      durationSeconds: (performance.now() - failure.started) / 1000,
      queueSeconds: 0,
      computeSeconds: 0,
      inputs: undefined,
      outputs: undefined,
    });
  }
}

/**
 * The protocol's scheduling parameters (Triton's names): `timeout` in microseconds from now, and
 * `priority` (1 = highest).
 */
function scheduling(parameters: Readonly<Record<string, unknown>> | undefined): {
  deadline?: number;
  priority?: number;
} {
  if (parameters === undefined) return {};
  const out: { deadline?: number; priority?: number } = {};
  const { timeout, priority } = parameters;
  if (timeout !== undefined) {
    if (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout < 0)
      throw invalid(
        `parameter "timeout" must be a non-negative integer of microseconds, got ${JSON.stringify(timeout)}`,
      );
    if (timeout > 0) out.deadline = performance.now() + timeout / 1000;
  }
  if (priority !== undefined) {
    if (typeof priority !== 'number' || !Number.isInteger(priority) || priority < 0)
      throw invalid(`parameter "priority" must be a non-negative integer, got ${JSON.stringify(priority)}`);
    if (priority > 0) out.priority = priority;
  }
  return out;
}
