import { invalid } from '../core/errors.js';

/**
 * Tags given as `key=value` strings (CLI `--tag`, HTTP `?tag=`). `label` names one pair in the
 * error, e.g. `(pair) => \`--tag ${pair}\``.
 */
export function parseTags(pairs: readonly string[], label: (pair: string) => string): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw invalid(`${label(pair)}: expected key=value`);
    tags[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return tags;
}
