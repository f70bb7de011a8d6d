/**
 * The trigger sources on the real services: the serving version from the deployment (or the
 * model's `champion` alias, else its latest version), drift from DriftService, metrics from
 * PerformanceService and new labels from the prediction store's feedback join.
 */
import { SlipwayError, invalid } from '../../core/errors.js';
import type { DeploymentService } from '../../deploy/deployment-service.js';
import { primaryVersion } from '../../deploy/spec.js';
import type { DriftService } from '../../monitor/drift-service.js';
import {
  PERFORMANCE_METRICS,
  type PerformanceService,
  type VersionPerformance,
} from '../../monitor/performance-service.js';
import { MAX_READ_ROWS, type PredictionStore } from '../../monitor/prediction-store.js';
import type { RegistryService } from '../../registry/registry-service.js';
import { resolveDriftOptions } from '../../stats/index.js';
import type { DriftSummary, TriggerDeps } from './evaluate-triggers.js';

export interface TriggerServices {
  readonly registry: RegistryService;
  readonly drift: DriftService;
  readonly performance: PerformanceService;
  readonly predictions: PredictionStore;
  /** Needed for pipelines that name a deployment (refused by name without it). */
  readonly deployments?: DeploymentService;
  readonly runs: { lastStarted(pipeline: string): Promise<Date | undefined> };
}

/** Performance trigger metric names beyond PerformanceService's own (the YAML's `auc` is its `roc_auc`). */
const METRIC_ALIASES: Readonly<Record<string, string>> = { auc: 'roc_auc' };

/** The metric names a performance trigger accepts. */
export const TRIGGER_METRICS: readonly string[] = [
  ...PERFORMANCE_METRICS.filter((m) => m !== 'feedback_count'),
  ...Object.keys(METRIC_ALIASES),
];

/** Feedback rows the labels trigger reads at most when the trigger does not say where to stop. */
const DEFAULT_LABEL_COUNT_CAP = 10_000;

/** TriggerDeps over the platform's services. */
export function triggerDepsFrom(services: TriggerServices): TriggerDeps {
  return {
    lastRunStartedAt: (pipeline) => services.runs.lastStarted(pipeline),

    async servingVersion(spec) {
      if (spec.deployment !== undefined) {
        if (services.deployments === undefined)
          throw new SlipwayError(
            'FAILED_PRECONDITION',
            `pipeline "${spec.name}" names deployment "${spec.deployment}" but this process has no deployment service`,
          );
        const view = await services.deployments.view(spec.deployment);
        if (view.model !== spec.model)
          throw invalid(
            `pipeline "${spec.name}": deployment "${spec.deployment}" serves model "${view.model}", not "${spec.model}"`,
          );
        return primaryVersion(view.revision.spec);
      }
      const model = await services.registry.getModel(spec.model);
      return model.aliases['champion'] ?? model.latestVersion ?? undefined;
    },

    async drift(model, version, windowMs): Promise<DriftSummary | undefined> {
      const report = await services.drift.check({ model, selector: version, windowMs, save: false });
      if (report.status !== 'ok' || report.dataset.drifted === null) return undefined;
      const threshold = resolveDriftOptions(await services.drift.settings(model)).driftShare;
      return {
        datasetDrift: report.dataset.drifted,
        share: report.dataset.share,
        threshold,
        rows: report.currentRows,
        features: report.features
          .filter((f) => f.status === 'ok' && f.drifted !== null)
          .map((f) => ({
            name: f.column,
            drifted: f.drifted === true,
            statistic: f.statistic ?? Number.NaN,
            ...(f.pValue === null ? {} : { pValue: f.pValue }),
          })),
      };
    },

    async performance(model, metric, windowMs, version) {
      const name = METRIC_ALIASES[metric] ?? metric;
      if (!TRIGGER_METRICS.includes(metric))
        throw invalid(`performance trigger metric "${metric}": expected one of ${TRIGGER_METRICS.join(', ')}`);
      const report = await services.performance.report(model, windowMs, version);
      const performance = report.versions[0];
      if (performance === undefined) return { value: null, rows: 0 };
      return { value: metricOf(performance, name), rows: performance.count };
    },

    async feedbackSince(model, since, atMost) {
      // Counted by the time of the prediction the feedback is for (the store's join filters on it):
      // labels for requests served since `since`, which are the rows a new run can learn from.
      const cap = Math.min(MAX_READ_ROWS, Math.max(1, atMost ?? DEFAULT_LABEL_COUNT_CAP));
      const rows = await services.predictions.joinedFeedback({ model, since: since.getTime() }, cap);
      return rows.length;
    },
  };
}

/** One metric of a version's performance, null when its task does not have it. */
function metricOf(v: VersionPerformance, name: string): number | null {
  const table: Record<string, number | null | undefined> = v.binary
    ? {
        accuracy: v.binary.accuracy,
        precision: v.binary.precision,
        recall: v.binary.recall,
        f1: v.binary.f1,
        roc_auc: v.binary.rocAuc,
        log_loss: v.binary.logLoss,
      }
    : v.multiclass
      ? { accuracy: v.multiclass.accuracy, macro_f1: v.multiclass.macroF1 }
      : v.regression
        ? { mae: v.regression.mae, rmse: v.regression.rmse, r2: v.regression.r2 }
        : {};
  const value = table[name];
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}
