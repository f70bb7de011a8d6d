import path from 'node:path';
import { parseDuration } from './duration.js';
import { SlipwayError } from './errors.js';
import { AUTH_ENV, loadAuthConfig, type AuthConfig } from './auth-config.js';
import { loadTransportConfig, TRANSPORT_ENV, transportProblems, type TransportConfig } from './transport-config.js';
import { EXPOSURE_ENV, loadExposureConfig, resolvedDataRoots, type ExposureConfig } from './exposure-config.js';

/** Runtime configuration, validated once and frozen; the transport settings are in transport-config.ts. */
export interface SlipwayConfig extends TransportConfig, AuthConfig, ExposureConfig {
  /** Folder for the embedded store and artifacts. `SLIPWAY_HOME`, default `./.slipway`. */
  readonly home: string;
  /** `postgres://...` to use PostgreSQL for metadata; undefined = SQLite in `home`. */
  readonly databaseUrl: string | undefined;
  readonly host: string;
  readonly port: number;
  /** Most model versions kept loaded at once; the least recently used is unloaded beyond it. */
  readonly maxLoadedVersions: number;
  /** ONNX Runtime intra-op threads per session (1 measured best for small models on 2 cores). */
  readonly intraOpThreads: number;
  /** Largest accepted request body in bytes. */
  readonly maxBodyBytes: number;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** gRPC (inference.GRPCInferenceService) port; `serve --no-grpc` turns it off. */
  readonly grpcPort: number;
  /** Largest gRPC message received or sent. */
  readonly grpcMaxMessageBytes: number;
  /**
   * gRPC response compression (server/grpc/response-compression.ts): `none` (default) compresses a response
   * only when its request was compressed, with the same algorithm; `gzip` or `deflate` compress every
   * response for clients that accept it.
   */
  readonly grpcCompression: GrpcCompression;
  /** Server processes sharing the ports (node:cluster); 1 = no cluster. */
  readonly workers: number;
  /** How long a graceful stop may take to finish queued and in-flight requests. */
  readonly drainMs: number;
  /**
   * On SIGTERM, how long readiness answers 503 while the server keeps serving (so load balancers
   * stop sending) before it stops accepting connections (ms; default 1,000; SIGINT does not wait).
   */
  readonly shutdownDelayMs: number;
  /** Request metrics, live stats and the prediction log (`SLIPWAY_METRICS=off` turns them all off). */
  readonly metrics: boolean;
  /** Share of successful predictions written to the prediction log (0 = off, 1 = all). */
  readonly logSampleRate: number;
  /** Logged predictions and feedback older than this are deleted (ms; default 7 days). */
  readonly logRetentionMs: number;
  /** At most this many logged predictions are kept (the newest). */
  readonly logMaxRows: number;
  /** At most about this many bytes of logged predictions are kept (the newest); 0 = no byte budget. */
  readonly logMaxBytes: number;
  /** What the prediction log keeps of tensors, for models whose serving config does not say: full, capped (default) or none. */
  readonly logPayload: 'full' | 'capped' | 'none';
  /** `capped`: elements kept per tensor (default 1,024). */
  readonly logMaxElements: number;
  /** Scheduled drift checks run this often over the last `driftWindowMs` (ms; 0 = off). */
  readonly driftIntervalMs: number;
  readonly driftWindowMs: number;
  /** A version without a reference gets one from its first N logged requests (0 = never). */
  readonly driftAutoReferenceRows: number;
  /** Alert rules are evaluated this often (ms; 0 = off). */
  readonly alertIntervalMs: number;
  /** A JSON or YAML file of alert rules, read at start; undefined = rules from the API/CLI only. */
  readonly alertRulesFile: string | undefined;
  /** The feature store's online store: `sqlite` (default, `home/online.db`) or a `redis://` URL. */
  readonly onlineStore: string;
  /**
   * Pushed feature rows stamped more than this past the server's clock are refused (ms; default
   * 5 minutes): a far-future event time would shadow every real value until then.
   */
  readonly featureMaxFutureSkewMs: number;
  /** Batch jobs (`/api/v1/jobs`) a server runs at once; more wait queued. */
  readonly batchConcurrency: number;
  /** How often `serve` evaluates pipeline triggers and advances runs (`SLIPWAY_PIPELINE_INTERVAL`, default 5s; 0 = never). */
  readonly pipelineIntervalMs: number;
  /** A pipeline run whose owner sent no heartbeat for this long is taken over (`SLIPWAY_PIPELINE_STALE`, default 30s). */
  readonly pipelineStaleMs: number;
  /** Shadow copies a server process keeps waiting at most; more are dropped (and counted). */
  readonly shadowQueueSize: number;
  /** PostgreSQL: a connect with no answer after this long fails (ms; default 5,000). */
  readonly databaseConnectTimeoutMs: number;
  /** PostgreSQL: statement_timeout, and the client waits 5 s more for a reply (ms; default 60,000; 0 = none). */
  readonly databaseQueryTimeoutMs: number;
  /**
   * `/v2/health/ready` answers 503 while the metadata database is unreachable (default false:
   * loaded models keep serving and readiness says `degraded`; README "Database outages").
   */
  readonly readyRequiresDatabase: boolean;
}

export const CONFIG_ENV = {
  ...TRANSPORT_ENV,
  ...AUTH_ENV,
  ...EXPOSURE_ENV,
  home: 'SLIPWAY_HOME',
  databaseUrl: 'SLIPWAY_DATABASE_URL',
  host: 'SLIPWAY_HOST',
  port: 'SLIPWAY_PORT',
  maxLoadedVersions: 'SLIPWAY_MAX_LOADED_VERSIONS',
  intraOpThreads: 'SLIPWAY_INTRA_OP_THREADS',
  maxBodyBytes: 'SLIPWAY_MAX_BODY_BYTES',
  logLevel: 'SLIPWAY_LOG_LEVEL',
  grpcPort: 'SLIPWAY_GRPC_PORT',
  grpcMaxMessageBytes: 'SLIPWAY_GRPC_MAX_MESSAGE_BYTES',
  grpcCompression: 'SLIPWAY_GRPC_COMPRESSION',
  workers: 'SLIPWAY_WORKERS',
  drainMs: 'SLIPWAY_DRAIN_MS',
  shutdownDelayMs: 'SLIPWAY_SHUTDOWN_DELAY_MS',
  metrics: 'SLIPWAY_METRICS',
  logSampleRate: 'SLIPWAY_LOG_SAMPLE_RATE',
  logRetentionMs: 'SLIPWAY_LOG_RETENTION',
  logMaxRows: 'SLIPWAY_LOG_MAX_ROWS',
  logMaxBytes: 'SLIPWAY_LOG_MAX_BYTES',
  logPayload: 'SLIPWAY_LOG_PAYLOAD',
  logMaxElements: 'SLIPWAY_LOG_MAX_ELEMENTS',
  driftIntervalMs: 'SLIPWAY_DRIFT_INTERVAL',
  driftWindowMs: 'SLIPWAY_DRIFT_WINDOW',
  driftAutoReferenceRows: 'SLIPWAY_DRIFT_AUTO_REFERENCE_ROWS',
  alertIntervalMs: 'SLIPWAY_ALERT_INTERVAL',
  alertRulesFile: 'SLIPWAY_ALERT_RULES',
  onlineStore: 'SLIPWAY_ONLINE_STORE',
  featureMaxFutureSkewMs: 'SLIPWAY_FEATURE_MAX_FUTURE_SKEW',
  batchConcurrency: 'SLIPWAY_BATCH_CONCURRENCY',
  pipelineIntervalMs: 'SLIPWAY_PIPELINE_INTERVAL',
  pipelineStaleMs: 'SLIPWAY_PIPELINE_STALE',
  shadowQueueSize: 'SLIPWAY_SHADOW_QUEUE_SIZE',
  databaseConnectTimeoutMs: 'SLIPWAY_DATABASE_CONNECT_TIMEOUT_MS',
  databaseQueryTimeoutMs: 'SLIPWAY_DATABASE_QUERY_TIMEOUT_MS',
  readyRequiresDatabase: 'SLIPWAY_READY_REQUIRES_DATABASE',
} as const satisfies Record<keyof SlipwayConfig, string>;

export const GRPC_COMPRESSIONS = ['none', 'gzip', 'deflate'] as const;
export type GrpcCompression = (typeof GRPC_COMPRESSIONS)[number];

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export type ConfigOverrides = Partial<SlipwayConfig>;

/**
 * Build the configuration from the environment plus explicit overrides (flags win over env).
 * Reports every problem at once, then freezes the result.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: ConfigOverrides = {}): SlipwayConfig {
  const problems: string[] = [];
  const int = (key: keyof typeof CONFIG_ENV, fallback: number, min: number, max: number): number => {
    const raw = env[CONFIG_ENV[key]];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${CONFIG_ENV[key]}=${raw}: expected an integer from ${min} to ${max}`);
      return fallback;
    }
    return value;
  };
  const duration = (key: keyof typeof CONFIG_ENV, fallback: number, allowZero: boolean): number => {
    const raw = env[CONFIG_ENV[key]];
    if (raw === undefined || raw === '') return fallback;
    try {
      return parseDuration(raw, CONFIG_ENV[key], { bareMilliseconds: true, allowZero });
    } catch (error) {
      problems.push(error instanceof Error ? error.message : String(error));
      return fallback;
    }
  };
  const bool = (key: keyof typeof CONFIG_ENV): boolean => {
    const raw = (env[CONFIG_ENV[key]] ?? '').toLowerCase();
    if (['', 'false', '0', 'off', 'no'].includes(raw)) return false;
    if (['true', '1', 'on', 'yes'].includes(raw)) return true;
    problems.push(`${CONFIG_ENV[key]}=${raw}: expected true or false`);
    return false;
  };
  const metricsRaw = (env[CONFIG_ENV.metrics] ?? 'on').toLowerCase();
  if (!['on', 'off', 'true', 'false', '1', '0'].includes(metricsRaw))
    problems.push(`${CONFIG_ENV.metrics}=${metricsRaw}: expected on or off`);
  const rateRaw = env[CONFIG_ENV.logSampleRate];
  const logSampleRate = rateRaw === undefined || rateRaw === '' ? 1 : Number(rateRaw);
  if (!(logSampleRate >= 0 && logSampleRate <= 1))
    problems.push(`${CONFIG_ENV.logSampleRate}=${rateRaw}: expected a number from 0 to 1`);
  const databaseUrl = env[CONFIG_ENV.databaseUrl] || undefined;
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push(`${CONFIG_ENV.databaseUrl}: expected a postgres:// URL, got "${databaseUrl}"`);
  }
  const onlineStore = env[CONFIG_ENV.onlineStore] || 'sqlite';
  if (onlineStore !== 'sqlite' && !/^rediss?:\/\//.test(onlineStore)) {
    problems.push(`${CONFIG_ENV.onlineStore}: expected sqlite or a redis:// URL, got "${onlineStore}"`);
  }
  const logLevel = env[CONFIG_ENV.logLevel] ?? 'warn';
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    problems.push(`${CONFIG_ENV.logLevel}=${logLevel}: expected one of ${LOG_LEVELS.join(', ')}`);
  }
  const config: SlipwayConfig = {
    home: path.resolve(env[CONFIG_ENV.home] || '.slipway'),
    databaseUrl,
    host: env[CONFIG_ENV.host] || '127.0.0.1',
    port: int('port', 8080, 0, 65535),
    maxLoadedVersions: int('maxLoadedVersions', 16, 1, 10_000),
    intraOpThreads: int('intraOpThreads', 1, 1, 256),
    maxBodyBytes: int('maxBodyBytes', 64 * 1024 * 1024, 1024, 2 ** 31 - 1),
    logLevel: logLevel as SlipwayConfig['logLevel'],
    grpcPort: int('grpcPort', 8081, 0, 65535),
    grpcMaxMessageBytes: int('grpcMaxMessageBytes', 64 * 1024 * 1024, 4 * 1024 * 1024, 2 ** 31 - 1),
    grpcCompression: grpcCompression(env[CONFIG_ENV.grpcCompression], problems),
    workers: int('workers', 1, 1, 64),
    drainMs: int('drainMs', 30_000, 0, 3_600_000),
    shutdownDelayMs: int('shutdownDelayMs', 1000, 0, 600_000),
    metrics: !['off', 'false', '0'].includes(metricsRaw),
    logSampleRate: logSampleRate >= 0 && logSampleRate <= 1 ? logSampleRate : 1,
    logRetentionMs: duration('logRetentionMs', 7 * 86_400_000, false),
    logMaxRows: int('logMaxRows', 10_000_000, 1000, 2 ** 40),
    logMaxBytes: int('logMaxBytes', 0, 0, 2 ** 50),
    logPayload: logPayload(env[CONFIG_ENV.logPayload], problems),
    logMaxElements: int('logMaxElements', 1024, 128, 1 << 24),
    driftIntervalMs: duration('driftIntervalMs', 300_000, true),
    driftWindowMs: duration('driftWindowMs', 3_600_000, false),
    driftAutoReferenceRows: int('driftAutoReferenceRows', 1000, 0, 1_000_000),
    alertIntervalMs: duration('alertIntervalMs', 15_000, true),
    alertRulesFile: env[CONFIG_ENV.alertRulesFile] || undefined,
    onlineStore,
    featureMaxFutureSkewMs: duration('featureMaxFutureSkewMs', 300_000, true),
    batchConcurrency: int('batchConcurrency', 1, 1, 64),
    pipelineIntervalMs: duration('pipelineIntervalMs', 5_000, true),
    pipelineStaleMs: duration('pipelineStaleMs', 30_000, false),
    shadowQueueSize: int('shadowQueueSize', 1000, 1, 1_000_000),
    databaseConnectTimeoutMs: int('databaseConnectTimeoutMs', 5_000, 100, 600_000),
    databaseQueryTimeoutMs: int('databaseQueryTimeoutMs', 60_000, 0, 2 ** 31 - 1 - 5_000),
    readyRequiresDatabase: bool('readyRequiresDatabase'),
    ...loadTransportConfig(env, problems),
    ...loadAuthConfig(env, problems),
    ...loadExposureConfig(env, problems),
    ...definedOnly(overrides),
  };
  for (const key of ['port', 'grpcPort'] as const) {
    const value = config[key];
    if (value < 0 || value > 65535 || !Number.isInteger(value))
      problems.push(`${key} ${value}: expected an integer from 0 to 65535`);
  }
  // After the overrides: flags (serve --tls-*) and the environment are checked together.
  problems.push(...transportProblems(config));
  if (!Number.isInteger(config.workers) || config.workers < 1 || config.workers > 64)
    problems.push(`workers ${config.workers}: expected an integer from 1 to 64`);
  if (problems.length > 0) {
    throw new SlipwayError('INVALID_ARGUMENT', `invalid configuration:\n  ${problems.join('\n  ')}`, {
      details: problems,
    });
  }
  return Object.freeze({
    ...config,
    home: path.resolve(config.home),
    dataRoots: resolvedDataRoots(config.dataRoots, config.home),
  });
}

function grpcCompression(raw: string | undefined, problems: string[]): GrpcCompression {
  if (raw === undefined || raw === '') return 'none';
  if ((GRPC_COMPRESSIONS as readonly string[]).includes(raw)) return raw as GrpcCompression;
  problems.push(`${CONFIG_ENV.grpcCompression}=${raw}: expected ${GRPC_COMPRESSIONS.join(', ')}`);
  return 'none';
}

/** The prediction log's default payload policy (monitor/payload-policy.ts). */
function logPayload(raw: string | undefined, problems: string[]): SlipwayConfig['logPayload'] {
  if (raw === undefined || raw === '') return 'capped';
  if (raw === 'full' || raw === 'capped' || raw === 'none') return raw;
  problems.push(`${CONFIG_ENV.logPayload}=${raw}: expected full, capped or none`);
  return 'capped';
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
