/**
 * The champion a run's candidate is compared with: what the pipeline's deployment serves, else the
 * model's `champion` alias, else its latest version; none on the model's first training.
 */
import { SlipwayError } from '../../core/errors.js';
import type { DeploymentService } from '../../deploy/deployment-service.js';
import { primaryVersion } from '../../deploy/spec.js';
import type { RegistryService } from '../../registry/registry-service.js';
import type { PipelineSpec } from '../types.js';

export interface ChampionDeps {
  readonly registry: RegistryService;
  /** Needed when the pipeline names a deployment. */
  readonly deployments?: Pick<DeploymentService, 'view'>;
}

/** The alias a pipeline without a deployment treats as its champion. */
export const CHAMPION_ALIAS = 'champion';

/**
 * The version (X.Y.Z) the candidate must beat: the deployment's primary route (src/deploy/spec.ts
 * primaryVersion) when the pipeline names a deployment, else `<model>@champion`, else
 * `<model>@latest`; undefined when the model has no active version yet (first training). A named
 * deployment that does not exist, or serves another model, is refused (FAILED_PRECONDITION).
 */
export async function championOf(
  spec: Pick<PipelineSpec, 'name' | 'model' | 'deployment'>,
  deps: ChampionDeps,
): Promise<string | undefined> {
  const model = (await deps.registry.listModels()).find((m) => m.name === spec.model);
  if (model === undefined || model.latestVersion === null) return undefined;
  if (spec.deployment !== undefined) {
    if (deps.deployments === undefined)
      throw new SlipwayError(
        'INTERNAL',
        `pipeline "${spec.name}" names deployment "${spec.deployment}", but no deployment service was given`,
      );
    let view;
    try {
      view = await deps.deployments.view(spec.deployment);
    } catch (error) {
      if (error instanceof SlipwayError && error.code === 'NOT_FOUND')
        throw new SlipwayError(
          'FAILED_PRECONDITION',
          `pipeline "${spec.name}" names deployment "${spec.deployment}", which does not exist; create it (slipway deploy) or remove "deployment" from the pipeline`,
          { cause: error },
        );
      throw error;
    }
    if (view.model !== spec.model)
      throw new SlipwayError(
        'FAILED_PRECONDITION',
        `pipeline "${spec.name}" trains "${spec.model}", but deployment "${spec.deployment}" serves "${view.model}"`,
      );
    return (await deps.registry.resolve(spec.model, primaryVersion(view.revision.spec))).version;
  }
  const alias = model.aliases[CHAMPION_ALIAS];
  if (alias !== undefined) return (await deps.registry.resolve(spec.model, alias)).version;
  return model.latestVersion;
}
