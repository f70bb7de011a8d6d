/**
 * Run transitions sent to a pipeline's `notify` webhook, through the alert webhooks' notifier: the
 * same target policy (SLIPWAY_WEBHOOK_ALLOW), retries and timeouts. One JSON body per transition:
 *
 * ```json
 * { "kind": "pipeline_run", "pipeline": "cancer-retrain", "run": "run-...", "status": "running",
 *   "step": "evaluating", "trigger": { "kind": "drift", "reason": "..." }, "reason": null,
 *   "champion": "1.0.0", "candidate": null, "at": "2026-12-08T02:00:00.000Z" }
 * ```
 *
 * Deliveries run in the background: a slow or failing receiver never holds a run up.
 */
import type { WebhookAllow } from '../core/exposure-config.js';
import { WebhookNotifier } from '../monitor/alerts/webhook-notifier.js';
import type { SqlPipelineStore } from './pipeline-store.js';
import type { RunRecord } from './types.js';

export interface RunNotificationsOptions {
  readonly pipelines: SqlPipelineStore;
  readonly allow?: WebhookAllow;
  readonly log?: (line: string) => void;
  /** Retries and timeouts (tests shorten them). */
  readonly attempts?: number;
  readonly initialBackoffMs?: number;
}

/** The `onTransition` callback of the run machine: posts each transition to the pipeline's `notify` URL, if any. */
export function runNotifications(options: RunNotificationsOptions): (run: RunRecord) => Promise<void> {
  const notifier = new WebhookNotifier({
    ...(options.allow === undefined ? {} : { allow: options.allow }),
    ...(options.attempts === undefined ? {} : { attempts: options.attempts }),
    ...(options.initialBackoffMs === undefined ? {} : { initialBackoffMs: options.initialBackoffMs }),
  });
  return async (run) => {
    const spec = (await options.pipelines.version(run.pipeline, run.pipelineVersion)).spec;
    if (spec.notify === undefined) return;
    const payload = {
      kind: 'pipeline_run',
      pipeline: run.pipeline,
      run: run.id,
      status: run.status,
      step: run.step,
      trigger: run.trigger,
      reason: run.reason,
      champion: run.championVersion,
      candidate: run.candidateVersion,
      at: new Date().toISOString(),
    };
    void notifier
      .deliver(payload, spec.notify, AbortSignal.timeout(120_000))
      .then((outcome) => {
        if (!outcome.delivered)
          options.log?.(`pipeline run ${run.id}: notification to ${outcome.target} failed: ${outcome.lastError ?? ''}`);
      })
      .catch((error: unknown) =>
        options.log?.(`pipeline run ${run.id}: notification failed: ${(error as Error).message}`),
      );
  };
}
