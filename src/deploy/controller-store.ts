import type { Kysely, Selectable } from 'kysely';
import { SlipwayError } from '../core/errors.js';
import type { Database } from '../store/database.js';
import type { ControllerTable, DatabaseSchema } from '../store/schema.js';

type Db = Kysely<DatabaseSchema>;

/** A rollout or an experiment as stored: settings, the state carried between looks, and its status. */
export interface ControllerRecord<Spec, State> {
  readonly id: number;
  readonly deployment: string;
  readonly status: string;
  readonly spec: Spec;
  readonly state: State;
  readonly reason: string | null;
  /** Bumped by every write; `update` compares it. */
  readonly seq: number;
  readonly startedMs: number;
  readonly updatedMs: number;
  readonly finishedMs: number | null;
}

export interface ControllerPatch<State> {
  readonly status?: string;
  readonly state?: State;
  readonly reason?: string | null;
  /** Mark it finished now. */
  readonly finished?: boolean;
}

/** Statuses of a rollout or experiment still in charge of its deployment's traffic. */
export const ACTIVE_STATUSES: readonly string[] = ['running', 'paused'];

/**
 * Rollouts and experiments (`rollouts` / `experiments` tables) over Kysely. Every write is a
 * conditional UPDATE on `seq`, so when several servers run controllers, exactly one of them makes
 * each transition and the others see it on their next look.
 */
export class SqlControllerStore<Spec, State> {
  constructor(
    private readonly database: Database,
    private readonly table: 'rollouts' | 'experiments',
  ) {}

  private get db(): Db {
    return this.database.db;
  }

  async insert(deployment: string, spec: Spec, state: State, now = Date.now()): Promise<ControllerRecord<Spec, State>> {
    const row = await this.db
      .insertInto(this.table)
      .values({
        deployment,
        status: 'running',
        spec: JSON.stringify(spec),
        state: JSON.stringify(state),
        reason: null,
        seq: 1,
        started_ms: now,
        updated_ms: now,
        finished_ms: null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toRecord<Spec, State>(row);
  }

  async get(id: number): Promise<ControllerRecord<Spec, State> | undefined> {
    const row = await this.db.selectFrom(this.table).selectAll().where('id', '=', id).executeTakeFirst();
    return row === undefined ? undefined : toRecord<Spec, State>(row);
  }

  /** The newest one of a deployment, finished or not. */
  async latest(deployment: string): Promise<ControllerRecord<Spec, State> | undefined> {
    const row = await this.db
      .selectFrom(this.table)
      .selectAll()
      .where('deployment', '=', deployment)
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row === undefined ? undefined : toRecord<Spec, State>(row);
  }

  /** The running or paused one of a deployment, if any. */
  async active(deployment: string): Promise<ControllerRecord<Spec, State> | undefined> {
    const row = await this.db
      .selectFrom(this.table)
      .selectAll()
      .where('deployment', '=', deployment)
      .where('status', 'in', ACTIVE_STATUSES)
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row === undefined ? undefined : toRecord<Spec, State>(row);
  }

  /** Every running one (what a controller looks at each tick). */
  async running(): Promise<Array<ControllerRecord<Spec, State>>> {
    return (
      await this.db.selectFrom(this.table).selectAll().where('status', '=', 'running').orderBy('id').execute()
    ).map((r) => toRecord<Spec, State>(r));
  }

  async list(deployment: string, limit = 20): Promise<Array<ControllerRecord<Spec, State>>> {
    return (
      await this.db
        .selectFrom(this.table)
        .selectAll()
        .where('deployment', '=', deployment)
        .orderBy('id', 'desc')
        .limit(limit)
        .execute()
    ).map((r) => toRecord<Spec, State>(r));
  }

  /** Apply `patch` if nobody wrote since `seq`; undefined when someone did (read it again). */
  async update(
    record: ControllerRecord<Spec, State>,
    patch: ControllerPatch<State>,
    now = Date.now(),
  ): Promise<ControllerRecord<Spec, State> | undefined> {
    const result = await this.db
      .updateTable(this.table)
      .set({
        seq: record.seq + 1,
        updated_ms: now,
        ...(patch.status === undefined ? {} : { status: patch.status }),
        ...(patch.state === undefined ? {} : { state: JSON.stringify(patch.state) }),
        ...(patch.reason === undefined ? {} : { reason: patch.reason }),
        ...(patch.finished === true ? { finished_ms: now } : {}),
      })
      .where('id', '=', record.id)
      .where('seq', '=', record.seq)
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) === 0) return undefined;
    return this.get(record.id);
  }

  /** `update`, or CONFLICT naming what changed meanwhile. */
  async updateOrThrow(
    record: ControllerRecord<Spec, State>,
    patch: ControllerPatch<State>,
  ): Promise<ControllerRecord<Spec, State>> {
    const updated = await this.update(record, patch);
    if (updated === undefined)
      throw new SlipwayError(
        'CONFLICT',
        `the ${this.table.slice(0, -1)} of "${record.deployment}" changed meanwhile; try again`,
      );
    return updated;
  }
}

function toRecord<Spec, State>(row: Selectable<ControllerTable>): ControllerRecord<Spec, State> {
  return {
    id: Number(row.id),
    deployment: row.deployment,
    status: row.status,
    spec: JSON.parse(row.spec) as Spec,
    state: JSON.parse(row.state) as State,
    reason: row.reason,
    seq: Number(row.seq),
    startedMs: Number(row.started_ms),
    updatedMs: Number(row.updated_ms),
    finishedMs: row.finished_ms === null ? null : Number(row.finished_ms),
  };
}
