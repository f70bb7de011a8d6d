// Tables (console and markdown), ratios and the issue's targets, from the measured cells.
export const S = Object.freeze({
  ceiling: 'HTTP ceiling (Fastify, no inference)',
  grpcCeiling: 'gRPC ceiling (grpc-js, no inference)',
  bare: 'bare Fastify+ORT',
  flask: 'Flask dev server',
  gunicorn: 'gunicorn -w 2',
  json: 'slipway REST JSON',
  binary: 'slipway REST binary',
  grpc: 'slipway gRPC raw',
  grpcTyped: 'slipway gRPC typed',
  monitoringOff: 'slipway JSON, metrics+log off',
  monitoringOn: 'slipway JSON, metrics+100% log',
});
const SMALL = 'breast_cancer';

const find = (cells, scenario, model, c) =>
  cells.find((x) => x.scenario === scenario && x.model === model && x.concurrency === c && x.rps !== undefined);

function fmtLatency(ms) {
  if (ms === undefined || Number.isNaN(ms)) return '—';
  if (ms < 1) return `${Math.round(ms * 1000)} µs`;
  if (ms < 1000) return `${ms.toFixed(2)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}
const fmtRate = (n) => (n === undefined ? '—' : Math.round(n).toLocaleString('en-US'));
const fmtRatio = (a, b) => (a?.rps && b?.rps ? `${(a.rps / b.rps).toFixed(2)}×` : '—');

/** Rows of the main table: [scenario, model, c, req/s, p50, p99, errors, × bare, × gunicorn, other CPU, note]. */
export function httpRows(cells) {
  return cells.map((cell) => {
    if (cell.rps === undefined) {
      return [cell.scenario, cell.model, String(cell.concurrency), '—', '', '', '', '', '', '', cell.note ?? 'failed'];
    }
    const bare = cell.scenario === S.bare ? undefined : find(cells, S.bare, cell.model, cell.concurrency);
    const gunicorn =
      cell.model === SMALL && cell.scenario !== S.gunicorn
        ? find(cells, S.gunicorn, SMALL, cell.concurrency)
        : undefined;
    return [
      cell.scenario,
      cell.model,
      String(cell.concurrency),
      fmtRate(cell.rps),
      fmtLatency(cell.p50Ms),
      fmtLatency(cell.p99Ms),
      String(cell.errors ?? 0),
      cell.scenario === S.bare ? '1.00×' : fmtRatio(cell, bare),
      cell.scenario === S.gunicorn ? '1.00×' : fmtRatio(cell, gunicorn),
      cell.otherCpu === undefined ? '—' : `${Math.round(cell.otherCpu * 100)}%`,
      cell.firstError ?? '',
    ];
  });
}
export const HTTP_HEADER = [
  'scenario',
  'model',
  'c',
  'req/s',
  'p50',
  'p99',
  'errors',
  '× bare',
  '× gunicorn',
  'other CPU',
  'note',
];

export const RAW_HEADER = ['model', 'batch', 'rows/s', 'runs/s', 'p50 per run', 'p99 per run'];
export function rawRows(raw) {
  return raw.map((r) =>
    r.skipped
      ? [r.model, String(r.batch), `skipped (${r.skipped})`, '', '', '']
      : [
          r.model,
          String(r.batch),
          fmtRate(r.rowsPerSec),
          fmtRate(r.runsPerSec),
          fmtLatency(r.p50Us / 1000),
          fmtLatency(r.p99Us / 1000),
        ],
  );
}

/** The issue's targets, each { target, measured, verdict } (verdict: PASS, MISS or n/a). */
export function targetRows(cells, concurrency) {
  const high = concurrency.includes(32) ? 32 : Math.max(...concurrency);
  const rows = [];
  const verdict = (ok, known) => (known ? (ok ? 'PASS' : 'MISS') : 'n/a');

  const json = find(cells, S.json, SMALL, high);
  const bare = find(cells, S.bare, SMALL, high);
  const gunicorn = find(cells, S.gunicorn, SMALL, high);
  rows.push({
    target: `small model, single-row JSON, c${high}: Slipway >= 1.2× bare Fastify+ORT req/s at equal or lower p99`,
    measured:
      json && bare
        ? `${(json.rps / bare.rps).toFixed(2)}× (p99 ${fmtLatency(json.p99Ms)} vs ${fmtLatency(bare.p99Ms)})`
        : 'not measured',
    verdict: verdict(json && bare && json.rps >= 1.2 * bare.rps && json.p99Ms <= bare.p99Ms, json && bare),
  });
  rows.push({
    target: `small model, single-row JSON, c${high}: Slipway >= 8× gunicorn -w 2`,
    measured: json && gunicorn ? `${(json.rps / gunicorn.rps).toFixed(2)}×` : 'not measured',
    verdict: verdict(json && gunicorn && json.rps >= 8 * gunicorn.rps, json && gunicorn),
  });

  const imageJson = find(cells, S.json, 'digits_image', high);
  for (const scenario of [S.binary, S.grpc]) {
    const fast = find(cells, scenario, 'digits_image', high);
    rows.push({
      target: `large-tensor model (digits_image), c${high}: ${scenario.replace('slipway ', '')} >= 5× JSON req/s`,
      measured:
        fast && imageJson
          ? `${(fast.rps / imageJson.rps).toFixed(2)}× (${fmtRate(fast.rps)} vs ${fmtRate(imageJson.rps)} req/s)`
          : 'not measured',
      verdict: verdict(fast && imageJson && fast.rps >= 5 * imageJson.rps, fast && imageJson),
    });
  }

  const on = cells.filter((x) => x.scenario === S.monitoringOn && x.rps !== undefined);
  const off = cells.filter((x) => x.scenario === S.monitoringOff && x.rps !== undefined);
  const mean = (list) => list.reduce((a, x) => a + x.rps, 0) / list.length;
  rows.push({
    target: `metrics + 100% prediction logging cost <= 5% of req/s (small model, JSON, c${high}, mean of alternating rounds, same run)`,
    measured:
      on.length && off.length
        ? `${((1 - mean(on) / mean(off)) * 100).toFixed(1)}% (${fmtRate(mean(on))} vs ${fmtRate(mean(off))} req/s, ${on.length} rounds)`
        : 'not measured',
    verdict: verdict(on.length && off.length && mean(on) >= 0.95 * mean(off), on.length && off.length),
  });

  const one = find(cells, S.json, SMALL, 1);
  const bareOne = find(cells, S.bare, SMALL, 1);
  const extraUs = one && bareOne ? (one.p50Ms - bareOne.p50Ms) * 1000 : undefined;
  rows.push({
    target:
      'concurrency 1: batcher overhead <= 50 µs over a direct ORT call (bound: Slipway p50 − bare Fastify+ORT p50, small model, JSON)',
    measured:
      extraUs === undefined
        ? 'not measured'
        : `${Math.round(extraUs)} µs (${fmtLatency(one.p50Ms)} vs ${fmtLatency(bareOne.p50Ms)})`,
    verdict: verdict(extraUs !== undefined && extraUs <= 50, extraUs !== undefined),
  });
  return rows;
}

// Columns 0 and 1 (names) and any "note"/"target" column are left-aligned, figures right-aligned.
const leftAligned = (header, i) => i < 2 || ['note', 'target', 'measured'].includes(header[i]);

/** Plain-text table with aligned columns. */
export function textTable(header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) =>
    cells
      .map((c, i) => (leftAligned(header, i) ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function markdownTable(header, rows) {
  const esc = (c) => c.replaceAll('|', '\\|');
  return [
    `| ${header.map(esc).join(' | ')} |`,
    `|${header.map((_, i) => (leftAligned(header, i) ? '---' : '---:')).join('|')}|`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

/**
 * The whole markdown report; `features` is the feature store section (bench/features/index.mjs),
 * `batch` the batch scoring section (bench/batch/index.mjs) and `deployments` the deployments
 * section (bench/deployments/index.mjs), each '' when not run. `modelGroups`: whether the server
 * groups ran (their tables and targets).
 */
export function markdownReport({
  meta,
  raw,
  cells,
  concurrency,
  modelGroups = true,
  features = '',
  batch = '',
  deployments = '',
  optimize = '',
}) {
  const targets = targetRows(cells, concurrency);
  const servers = `## Raw onnxruntime-node in process (the ceiling)

${markdownTable(RAW_HEADER, rawRows(raw))}

## Servers (wrk -t1 -cN for HTTP, bench/grpc-load.mjs for gRPC; one row per request)

${markdownTable(HTTP_HEADER, httpRows(cells))}

## Targets (issue 3)

${markdownTable(
  ['target', 'measured', 'verdict'],
  targets.map((t) => [t.target, t.measured, t.verdict]),
)}

${meta.notes.map((n) => `- ${n}`).join('\n')}
`;
  return `# Slipway benchmark — ${meta.date}

${meta.lines.map((l) => `- ${l}`).join('\n')}

${[modelGroups ? servers : '', deployments, features, batch, optimize].filter(Boolean).join('\n')}`;
}
