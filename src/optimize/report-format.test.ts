import { describe, expect, it } from 'vitest';
import { checkGates, parseGate } from './gates.js';
import { REPORT } from './report.test-support.js';
import { reportMarkdown, reportTable } from './report-format.js';

const gates = checkGates(REPORT, ['accuracy>=-0.005', 'max_abs_diff<=1e-3'].map(parseGate));

describe('reportTable', () => {
  it('rows parent / candidate / change, agreement and diffs, each gate with its actual value', () => {
    const text = reportTable(REPORT, gates);
    const lines = text.split('\n');
    expect(lines[0]).toBe('Evaluated on 143 rows of held-out.csv (binary)');
    expect(lines[1]).toMatch(/^\s+parent\s+candidate\s+change$/);
    expect(lines.find((l) => l.startsWith('size'))).toMatch(/^size\s+3\.9 KiB\s+1000 B\s+x0\.25$/);
    expect(lines.find((l) => l.startsWith('batch 64 p50'))).toMatch(/2\.70 ms\s+1\.80 ms\s+speedup x1\.5 \(mean\)$/);
    expect(lines.find((l) => l.startsWith('batch 64 rows/s'))).toMatch(/21333\s+32000\s+x1\.5$/);
    expect(lines.find((l) => l.startsWith('accuracy'))).toMatch(/^accuracy\s+0\.958\s+0\.954\s+-0\.004$/);
    expect(text).toContain('agreement     0.993\n');
    expect(text).toContain('  PASS  accuracy>=-0.005  (actual -0.004)\n');
    expect(text).toContain('  FAIL  max_abs_diff<=1e-3  (actual 0.0021)\n');
    expect(text.endsWith('1 of 2 gates fail\n')).toBe(true);
  });

  it('says when there are no task metrics', () => {
    expect(reportTable({ ...REPORT, metrics: undefined }, [])).toContain(
      'task metrics: none (the eval set has no label column)',
    );
  });
});

describe('reportMarkdown', () => {
  it('is a model-card section naming the parent, passes, figures and gates', () => {
    const md = reportMarkdown(
      REPORT,
      gates,
      [{ name: 'quantize-dynamic', settings: { perChannel: true } }],
      'fraud@1.2.0',
    );
    expect(
      md.startsWith(
        '## Optimization report\n\nOptimized from `fraud@1.2.0` by:\n\n- `quantize-dynamic` {"perChannel":true}\n',
      ),
    ).toBe(true);
    expect(md).toContain('| batch 1 mean | 0.200 ms | 0.250 ms |  |');
    expect(md).toContain('| auc | 0.995 | 0.994 | -0.001 |');
    expect(md).toContain('| `max_abs_diff<=1e-3` | 0.0021 | FAIL |');
    expect(md).toContain('Agreement 0.993, max absolute difference 0.0021, mean absolute difference 0.0004.');
  });
});
