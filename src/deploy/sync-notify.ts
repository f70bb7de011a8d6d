/**
 * Instant deployment propagation (issue 18 item 2): a committed revision is announced on the
 * `slipway_deployments` channel of the change feed (src/store/change-feed.ts), and every server's
 * DeploymentSync refreshes as soon as it hears it, instead of at its next poll. The poll stays as
 * the safety net, and a LISTEN connection that came back triggers a refresh too (announcements
 * sent while it was away are lost). On SQLite the feed is a no-op and the poll does it all.
 */
import type { ChangeFeed } from '../store/change-feed.js';
import type { DeploymentSync } from './sync.js';

/** The channel deployment changes are announced on (payload: the deployment's name). */
export const DEPLOYMENTS_CHANNEL = 'slipway_deployments';

/**
 * Make `sync` refresh whenever a deployment change is announced or the feed reconnected.
 * Announcements arriving during a refresh are folded into one more refresh after it. Resolves once
 * listening, to a stop function.
 */
export async function followDeploymentChanges(sync: DeploymentSync, feed: ChangeFeed): Promise<() => Promise<void>> {
  let running: Promise<void> | undefined;
  let again = false;
  const kick = (): void => {
    if (running !== undefined) {
      again = true;
      return;
    }
    running = sync.refresh().finally(() => {
      running = undefined;
      if (again) {
        again = false;
        kick();
      }
    });
  };
  const unsubscribe = await feed.subscribe(DEPLOYMENTS_CHANNEL, kick, { onReconnect: kick });
  return async () => {
    await unsubscribe();
    await running;
  };
}

/**
 * The DeploymentService's `announce` hook: tell every server that deployment `name` changed. A
 * failed announcement does not fail the change (it is committed; the other servers' polls take it),
 * it is reported to `onError`.
 */
export function deploymentAnnouncer(
  feed: ChangeFeed,
  onError: (error: unknown) => void = () => undefined,
): (name: string) => Promise<void> {
  return async (name) => {
    try {
      await feed.notify(DEPLOYMENTS_CHANNEL, name);
    } catch (error) {
      onError(error);
    }
  };
}
