/**
 * Triton's model repository extension over gRPC: `RepositoryIndex`, `RepositoryModelLoad` and
 * `RepositoryModelUnload`, the same operations as `POST /v2/repository/...` (http/repository-routes.ts).
 * Slipway has one repository, the registry: a non-empty `repository_name` is refused. Load takes
 * `version` and `config` string_params (serving/repository-load.ts); unload takes `version` and
 * accepts `unload_dependents` (no model depends on another: there are no ensembles).
 */
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import { invalid } from '../../core/errors.js';
import type { ServingLifecycle } from '../../serving/index.js';
import {
  loadWithParameters,
  parseLoadParameters,
  parseUnloadParameters,
  type RepositoryLoadDeps,
  type RepositoryParameterValue,
} from '../../serving/repository-load.js';
import { quote } from '../../tensor/format.js';
import { requireModelName } from './infer-codec.js';
import type {
  ModelRepositoryParameterMessage,
  RepositoryIndexRequestMessage,
  RepositoryIndexResponseMessage,
  RepositoryModelRequestMessage,
} from './messages.js';
import { unaryHandler } from './unary-call.js';

export interface RepositoryHandlerDeps {
  readonly lifecycle: Pick<ServingLifecycle, 'load' | 'unload' | 'repositoryIndex'>;
  /** Where a load's `config` parameter is stored (the model's serving config). */
  readonly registry: RepositoryLoadDeps['registry'];
  /** Where INTERNAL errors are reported. */
  readonly log?: (line: string) => void;
}

/** The three repository handlers, to merge with the others given to `Server.addService`. */
export function createRepositoryHandlers(deps: RepositoryHandlerDeps): UntypedServiceImplementation {
  return {
    RepositoryIndex: unaryHandler(
      'RepositoryIndex',
      async (request: RepositoryIndexRequestMessage): Promise<RepositoryIndexResponseMessage> => {
        requireNoRepository(request.repository_name);
        const rows = await deps.lifecycle.repositoryIndex();
        // Triton: `ready` lists only the versions ready for inference.
        const listed = request.ready === true ? rows.filter((row) => row.state === 'READY') : rows;
        return {
          models: listed.map((row) => ({ name: row.name, version: row.version, state: row.state, reason: row.reason })),
        };
      },
      deps.log,
    ),
    RepositoryModelLoad: unaryHandler(
      'RepositoryModelLoad',
      async (request: RepositoryModelRequestMessage): Promise<Record<string, never>> => {
        requireNoRepository(request.repository_name);
        const model = requireModelName(request.model_name, 'model_name');
        await loadWithParameters(deps, model, parseLoadParameters(repositoryParameters(request.parameters)));
        return {};
      },
      deps.log,
    ),
    RepositoryModelUnload: unaryHandler(
      'RepositoryModelUnload',
      async (request: RepositoryModelRequestMessage): Promise<Record<string, never>> => {
        requireNoRepository(request.repository_name);
        const model = requireModelName(request.model_name, 'model_name');
        await deps.lifecycle.unload(model, parseUnloadParameters(repositoryParameters(request.parameters)).version);
        return {};
      },
      deps.log,
    ),
  };
}

function requireNoRepository(name: string | undefined): void {
  if (name !== undefined && name !== '') {
    throw invalid(
      `repository_name ${quote(name)} is not supported by Slipway: it has one repository, the registry; leave repository_name empty`,
    );
  }
}

/** `map<string, ModelRepositoryParameter>` as plain values; a parameter with no value set is refused by name. */
function repositoryParameters(
  map: Readonly<Record<string, ModelRepositoryParameterMessage>> | undefined,
): Record<string, RepositoryParameterValue> | undefined {
  if (map === undefined) return undefined;
  const out: Record<string, RepositoryParameterValue> = {};
  for (const [key, parameter] of Object.entries(map)) {
    switch (parameter.parameter_choice) {
      case 'string_param':
        out[key] = parameter.string_param ?? '';
        break;
      case 'bool_param':
        out[key] = parameter.bool_param === true;
        break;
      case 'int64_param':
        out[key] = Number(parameter.int64_param ?? 0);
        break;
      case 'bytes_param':
        out[key] = parameter.bytes_param ?? new Uint8Array();
        break;
      case undefined:
        throw invalid(
          `parameter ${quote(key)} has no value (set one of string_param, bool_param, int64_param, bytes_param)`,
        );
    }
  }
  return Object.keys(out).length === 0 ? undefined : out;
}
