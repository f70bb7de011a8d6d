/**
 * Triton's statistics extension over gRPC: `ModelStatistics(ModelStatisticsRequest{name, version})`,
 * the same rows as `GET /v2/models[/{m}[/versions/{v}]]/stats` (http/statistics-routes.ts). An empty
 * name is every model; a version without a name is refused. uint64 fields are sent as decimal strings
 * (proto.ts loads the proto with `longs: String`, so the value stays exact past 2^53).
 */
import { type ServerUnaryCall, type UntypedServiceImplementation, type sendUnaryData } from '@grpc/grpc-js';
import { invalid } from '../../core/errors.js';
import {
  queryStatistics,
  type DurationStat,
  type ModelStat,
  type ModelStatistics,
  type StatisticsModels,
} from '../../monitor/model-statistics.js';
import { toStatus } from './unary-call.js';

interface ModelStatisticsRequestMessage {
  readonly name?: string;
  readonly version?: string;
}

interface StatisticDurationMessage {
  count: string;
  ns: string;
}

/** Build the `ModelStatistics` handler, to merge into the service implementation. */
export function createStatisticsHandlers(
  statistics: ModelStatistics,
  models: StatisticsModels,
  log?: (line: string) => void,
): UntypedServiceImplementation {
  return {
    ModelStatistics: (
      call: ServerUnaryCall<ModelStatisticsRequestMessage, unknown>,
      callback: sendUnaryData<unknown>,
    ): void => {
      const { name, version } = call.request;
      // proto-loader fills absent strings with '' (`defaults`), so anything else did not decode.
      const query =
        typeof name === 'string' && typeof version === 'string'
          ? queryStatistics(statistics, models, name || undefined, version || undefined)
          : Promise.reject(invalid('the ModelStatistics request is not a valid protobuf message'));
      query.then(
        (rows) => callback(null, { model_stats: rows.map(statMessage) }),
        (raw: unknown) => callback(toStatus('ModelStatistics', raw, log)),
      );
    },
  };
}

function statMessage(stat: ModelStat): unknown {
  const s = stat.inference_stats;
  return {
    name: stat.name,
    version: stat.version,
    last_inference: u64(stat.last_inference),
    inference_count: u64(stat.inference_count),
    execution_count: u64(stat.execution_count),
    inference_stats: {
      success: duration(s.success),
      fail: duration(s.fail),
      queue: duration(s.queue),
      compute_input: duration(s.compute_input),
      compute_infer: duration(s.compute_infer),
      compute_output: duration(s.compute_output),
      cache_hit: duration(s.cache_hit),
      cache_miss: duration(s.cache_miss),
    },
    batch_stats: stat.batch_stats.map((b) => ({
      batch_size: u64(b.batch_size),
      compute_input: duration(b.compute_input),
      compute_infer: duration(b.compute_infer),
      compute_output: duration(b.compute_output),
    })),
  };
}

function duration(stat: DurationStat): StatisticDurationMessage {
  return { count: u64(stat.count), ns: u64(stat.ns) };
}

/** A whole, non-negative count as a uint64 decimal string (exact for any double's integer value). */
function u64(value: number): string {
  return BigInt(Math.max(0, Math.round(value))).toString();
}
