import type { ServingConfig } from '../registry/serving-config.js';
import { payloadPolicy, type PayloadPolicy } from './payload-policy.js';

/** A model's own prediction-log payload policy, when its serving config sets one (else undefined: the default applies). */
export function logPolicyFor(config: ServingConfig | undefined, fallback: PayloadPolicy): PayloadPolicy | undefined {
  if (config?.logPayload === undefined && config?.logMaxElements === undefined) return undefined;
  return payloadPolicy(config.logPayload, config.logMaxElements, fallback);
}

/**
 * Each model's payload policy as of its last (re)load: the log asks on the request path, so it
 * must be a map look-up, and a policy comes with the other serving settings when a version loads
 * (issue 13 item 6).
 */
export class ModelLogPolicies {
  readonly #policies = new Map<string, PayloadPolicy | undefined>();

  constructor(readonly fallback: PayloadPolicy) {}

  /** Remember `model`'s policy from the serving config a version of it was just loaded with. */
  update(model: string, config: ServingConfig | undefined): void {
    this.#policies.set(model, logPolicyFor(config, this.fallback));
  }

  /** For the prediction log's `payloadFor`. */
  readonly payloadFor = (model: string): PayloadPolicy | undefined => this.#policies.get(model);
}
