// Make sure the load generator and the Python baseline are installed (Debian packages).
import { PYTHON } from './config.mjs';
import { runCommand } from './processes.mjs';

export const APT_PACKAGES = ['wrk', 'python3-flask', 'gunicorn', 'python3-sklearn', 'python3-joblib'];
export const APT_LINE = `apt-get install -y ${APT_PACKAGES.join(' ')}`;

async function missing() {
  const sh = (script) => runCommand('sh', ['-c', script]).then((r) => r.code === 0);
  const checks = await Promise.all([
    sh('command -v wrk'),
    sh('command -v gunicorn'),
    sh(`${PYTHON} -c 'import flask, sklearn, joblib'`),
  ]);
  return ['wrk', 'gunicorn', 'python3 flask/sklearn/joblib'].filter((_, i) => !checks[i]);
}

/** Install the Debian packages when something is missing; throws with the apt line if it cannot. */
export async function ensureDependencies(log) {
  const before = await missing();
  if (before.length === 0) return;
  log(`missing: ${before.join(', ')}; running: ${APT_LINE}`);
  let result = await runCommand('apt-get', ['install', '-y', ...APT_PACKAGES], {
    env: { DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (result.code !== 0) {
    log('apt-get install failed; running apt-get update and retrying');
    await runCommand('apt-get', ['update'], { env: { DEBIAN_FRONTEND: 'noninteractive' } });
    result = await runCommand('apt-get', ['install', '-y', ...APT_PACKAGES], {
      env: { DEBIAN_FRONTEND: 'noninteractive' },
    });
  }
  const after = await missing();
  if (after.length) {
    throw new Error(
      `still missing ${after.join(', ')}; install them as root with:\n  ${APT_LINE}\n${result.stderr.slice(-2000)}`,
    );
  }
}
