import { SlipwayError } from '../core/errors.js';

/**
 * Identical bytes pushed again to one model are usually a mistake (a rerun script, the wrong
 * file), so a push refuses them unless asked (issue 13 item 13): the message names the version
 * that has them and the flag that registers them anyway.
 */
export function duplicateArtifactError(
  model: string,
  same: { version: string; status: string },
  sha256: string,
): SlipwayError {
  const archived = same.status === 'archived' ? ', archived' : '';
  return new SlipwayError(
    'ALREADY_EXISTS',
    `model "${model}": same artifact as ${same.version}${archived} (sha256 ${sha256.slice(0, 12)}…); pass --allow-duplicate (API: allow_duplicate) to register it again`,
    { details: { sameAs: same.version, sha256 } },
  );
}
