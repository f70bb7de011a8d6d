/**
 * Triton's model repository extension over gRPC: `RepositoryIndex`, `RepositoryModelLoad` and
 * `RepositoryModelUnload`, the same operations as `POST /v2/repository/...` (http/repository-routes.ts).
 * Slipway has one repository, the registry: a non-empty `repository_name` is refused. Load takes
 * `version` and `config` string_params (serving/repository-load.ts); unload takes `version` and
 * accepts `unload_dependents` (no model depends on another: there are no ensembles).
 */
import type { ServerUnaryCall, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { AuditLog } from '../../audit/audit-log.js';
import { invalid, toSlipwayError } from '../../core/errors.js';
import type { ServingLifecycle } from '../../serving/index.js';
import {
  loadWithParameters,
  parseLoadParameters,
  parseUnloadParameters,
  type RepositoryLoadDeps,
  type RepositoryParameterValue,
} from '../../serving/repository-load.js';
import { quote } from '../../tensor/format.js';
import { grpcPrincipalOf } from './grpc-auth.js';
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
  /** Loads and unloads are recorded here (`repository.load`, `repository.unload`); absent = not recorded. */
  readonly audit?: AuditLog;
}

/**
 * Record a load or unload: the principal the auth wrapper put on the call (grpc-auth.ts), the
 * peer's address without its port, the version acted on, and `ok` or the error code.
 */
async function audited<T>(
  deps: RepositoryHandlerDeps,
  call: ServerUnaryCall<unknown, unknown>,
  action: string,
  model: string,
  run: () => Promise<{ version: string } & T>,
): Promise<T> {
  if (deps.audit === undefined) return run();
  const actor = { principal: grpcPrincipalOf(call), address: peerAddress(call.getPeer()) };
  try {
    const done = await run();
    deps.audit.record(actor, { action, target: `${model}@${done.version}`, outcome: 'ok' });
    return done;
  } catch (error) {
    deps.audit.record(actor, { action, target: model, outcome: toSlipwayError(error).code });
    throw error;
  }
}

/** `ipv4:127.0.0.1:5000`, `[::1]:5000` or `127.0.0.1:5000` → the address alone. */
export function peerAddress(peer: string): string {
  const bare = peer.replace(/^ipv[46]:/, '');
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(bare);
  if (bracketed) return bracketed[1]!;
  const hostAndPort = /^([^:]+):\d+$/.exec(bare);
  return hostAndPort ? hostAndPort[1]! : bare;
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
      async (request: RepositoryModelRequestMessage, call): Promise<Record<string, never>> => {
        requireNoRepository(request.repository_name);
        const model = requireModelName(request.model_name, 'model_name');
        await audited(deps, call, 'repository.load', model, () =>
          loadWithParameters(deps, model, parseLoadParameters(repositoryParameters(request.parameters))),
        );
        return {};
      },
      deps.log,
    ),
    RepositoryModelUnload: unaryHandler(
      'RepositoryModelUnload',
      async (request: RepositoryModelRequestMessage, call): Promise<Record<string, never>> => {
        requireNoRepository(request.repository_name);
        const model = requireModelName(request.model_name, 'model_name');
        await audited(deps, call, 'repository.unload', model, async () => {
          const { record } = await deps.lifecycle.unload(
            model,
            parseUnloadParameters(repositoryParameters(request.parameters)).version,
          );
          return record;
        });
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
