import { AuditLog, cliActor } from '../audit/audit-log.js';
import { SqlAuditStore } from '../audit/audit-store.js';
import { toSlipwayError } from '../core/errors.js';
import type { OpenRegistry } from '../registry/open-registry.js';

/** The metadata database (cli/ reaches it through the registry it opened, never store/ itself). */
type Database = OpenRegistry['database'];

/** What a CLI command that writes the store directly records, and how to name its target from the result. */
export interface CliChange<T> {
  readonly action: string;
  /** What it acted on; given the result when the change succeeded, undefined when it failed. */
  readonly target: (result: T | undefined) => string;
  readonly details?: Readonly<Record<string, unknown>>;
}

/**
 * Run a change a CLI command makes on the store directly and record it in the audit trail as
 * `cli:<os user>` (no address: it ran on this machine), with `ok` or the error code it failed with.
 * The record is written before the command returns (the process exits right after); a record the
 * database refuses never hides the command's own result or error.
 */
export async function auditedCliChange<T>(database: Database, change: CliChange<T>, run: () => Promise<T>): Promise<T> {
  const audit = new AuditLog(new SqlAuditStore(database));
  const actor = cliActor();
  let result: T;
  try {
    result = await run();
  } catch (error) {
    await audit.recordNow(actor, {
      action: change.action,
      target: change.target(undefined),
      details: change.details ?? null,
      outcome: toSlipwayError(error).code,
    });
    throw error;
  }
  await audit.recordNow(actor, {
    action: change.action,
    target: change.target(result),
    details: change.details ?? null,
    outcome: 'ok',
  });
  return result;
}

/** The name CLI changes are kept under where a history shows its actor (alias moves, deployment revisions). */
export function cliActorName(): string {
  return cliActor().principal.name;
}
