import { describe, expect, it } from 'vitest';
import { decodeBytesElement, stringElementProblem } from './bytes-text.js';
import { decodeElements } from './elements.js';
import { tensorFromBytes, tensorToBytes } from './raw-bytes.js';
import { decodeColumns, decodeInstances } from './rows.js';
import { TRICKY_VALID, lengthPrefixed } from './bytes-samples.test-support.js';

/**
 * BYTES edges (issue 14, "BYTES are bytes"): valid UTF-8 round-trips byte for byte, what ONNX
 * Runtime's string tensors cannot carry is refused naming the element. Server paths: server/bytes-protocol.test.ts;
 * the prediction log: monitor/tensor-blob-bytes.test.ts.
 */

const ONNX_NOTE = 'BYTES inputs of this model are ONNX strings, which carry UTF-8 text only';

describe('raw BYTES in: strict UTF-8, no NUL', () => {
  it('round-trips valid UTF-8 byte for byte (BOM kept, nothing normalised)', () => {
    const values = tensorFromBytes(
      'input "x"',
      'BYTES',
      [TRICKY_VALID.length],
      lengthPrefixed(TRICKY_VALID),
    ) as string[];
    expect(values[0]).toBe('\ufeffred');
    expect(values.map((s) => Buffer.from(s, 'utf8'))).toEqual(TRICKY_VALID);
    expect(Buffer.from(tensorToBytes({ datatype: 'BYTES', data: values }))).toEqual(lengthPrefixed(TRICKY_VALID));
  });

  it.each([
    ['0xff', [0x61, 0x62, 0x63, 0x64, 0x65, 0xff], 'byte 0xff at offset 5'],
    ['a truncated 3-byte sequence', [0x61, 0xe2, 0x82], 'byte 0xe2 at offset 1'],
    ['an overlong "/"', [0xc0, 0xaf], 'byte 0xc0 at offset 0'],
    ['an overlong 3-byte form', [0xe0, 0x80, 0xaf], 'byte 0xe0 at offset 0'],
    ['an encoded surrogate (CESU-8)', [0x41, 0xed, 0xa0, 0x80], 'byte 0xed at offset 1'],
    ['a code point past U+10FFFF', [0xf4, 0x90, 0x80, 0x80], 'byte 0xf4 at offset 0'],
    ['a lone continuation byte', [0x80], 'byte 0x80 at offset 0'],
    [
      'a bad byte in a long element (the native-scan path)',
      [...Buffer.from('b'.repeat(300)), 0xfe],
      'byte 0xfe at offset 300',
    ],
  ])('refuses %s naming the input, element and byte', (_, bad, where) => {
    const elements = [Buffer.from('ok'), Buffer.from('fine'), Buffer.from('é'), Buffer.from(bad)];
    expect(() => tensorFromBytes('input "x"', 'BYTES', [4], lengthPrefixed(elements))).toThrow(
      `input "x": element 3 is not valid UTF-8 (${where}); ${ONNX_NOTE}`,
    );
  });

  it.each([
    ['ASCII', Buffer.from('ab\u0000cd')],
    ['after multi-byte text', Buffer.from('é\u0000x')], // offset counts bytes: é is 2
    ['in a long element', Buffer.from(`ab\u0000${'z'.repeat(300)}`)],
  ])('refuses a NUL (%s) with its byte offset', (_, element) => {
    expect(() =>
      tensorFromBytes(
        'input "x"',
        'BYTES',
        [4],
        lengthPrefixed([Buffer.from('a'), Buffer.from('b'), Buffer.from('c'), element]),
      ),
    ).toThrow('input "x": element 3 contains a NUL byte at offset 2, which ONNX Runtime string tensors cannot carry');
  });

  it('reports whichever problem comes first in the element', () => {
    const element = Buffer.from([0x61, 0xff, 0x00]);
    expect(() => decodeBytesElement(element, 0, 3, 'input "x"', 0)).toThrow(
      'input "x": element 0 is not valid UTF-8 (byte 0xff at offset 1)',
    );
    const nulFirst = Buffer.from([0x00, 0xff]);
    expect(() => decodeBytesElement(nulFirst, 0, 2, 'input "x"', 0)).toThrow(
      'input "x": element 0 contains a NUL byte at offset 0',
    );
  });

  it('accepts exactly what a fatal TextDecoder accepts, on both paths (every 1- and 2-byte input, 30,000 random longer ones)', () => {
    const fatal = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
    const long = Buffer.from('L'.repeat(300));
    let random = 12345; // a fixed LCG: the same inputs every run
    const nextByte = () => ((random = (Math.imul(random, 1103515245) + 12345) >>> 0) >>> 16) & 0xff;
    const inputs: Buffer[] = [];
    for (let a = 0; a < 256; a++) for (let b = -1; b < 256; b++) inputs.push(Buffer.from(b < 0 ? [a] : [a, b]));
    for (let n = 0; n < 30_000; n++) {
      const length = 3 + (n % 3);
      // Mostly lead and continuation bytes, where the table's edges are.
      inputs.push(
        Buffer.from(
          Array.from({ length }, (_, i) => (i === 0 ? 0xc0 + (nextByte() % 0x40) : 0x70 + (nextByte() % 0x60))),
        ),
      );
    }
    let disagreements = 0;
    for (const bytes of inputs) {
      let expected: string | undefined;
      try {
        expected = fatal.decode(bytes);
      } catch {
        expected = undefined;
      }
      // As it stands (the byte loop), and after 300 ASCII bytes (toString and native scans).
      for (const [view, want] of [
        [bytes, expected],
        [Buffer.concat([long, bytes]), expected === undefined ? undefined : `${'L'.repeat(300)}${expected}`],
      ] as const) {
        let got: string | undefined;
        try {
          got = decodeBytesElement(view, 0, view.byteLength, 'x', 0, 'any-utf8');
        } catch {
          got = undefined;
        }
        if (got !== want) disagreements++;
      }
    }
    expect(disagreements).toBe(0);
  });

  it("keeps a NUL under the 'any-utf8' rule (stored model outputs) but still refuses invalid UTF-8", () => {
    const view = Buffer.from('a\u0000b');
    expect(decodeBytesElement(view, 0, 3, 'tensor "y"', 0, 'any-utf8')).toBe('a\u0000b');
    expect(() => decodeBytesElement(Buffer.from([0x61, 0xff]), 0, 2, 'tensor "y"', 0, 'any-utf8')).toThrow(
      'tensor "y": element 0 is not valid UTF-8 (byte 0xff at offset 1)',
    );
  });
});

describe('JSON strings in: no NUL, no lone surrogate', () => {
  const label = (i: number) => `input "x": element ${i}`;

  it('accepts every valid string unchanged', () => {
    const strings = TRICKY_VALID.map((b) => b.toString('utf8'));
    expect(decodeElements('BYTES', strings, label)).toEqual(strings);
  });

  it.each([
    [
      'a NUL',
      ['a', 'b', 'c', 'é\u0000x'],
      'input "x": element 3 contains a NUL byte at offset 2, which ONNX Runtime string tensors cannot carry',
    ],
    [
      'a lone high surrogate',
      ['a', 'b', 'c', 'ab\ud800'],
      `input "x": element 3 has a lone surrogate (\\ud800) at index 2, which has no UTF-8 form; ${ONNX_NOTE}`,
    ],
    [
      'a lone low surrogate',
      ['a', 'b', 'c', '\udc00😀'],
      `input "x": element 3 has a lone surrogate (\\udc00) at index 0, which has no UTF-8 form; ${ONNX_NOTE}`,
    ],
    [
      'reversed surrogates',
      ['a', 'b', 'c', '\ude00\ud83d'],
      `input "x": element 3 has a lone surrogate (\\ude00) at index 0, which has no UTF-8 form; ${ONNX_NOTE}`,
    ],
  ])('refuses %s naming the element', (_, values, message) => {
    expect(() => decodeElements('BYTES', values, label)).toThrow(message);
  });

  it('names the first problem when a string has both', () => {
    expect(stringElementProblem('\ud800\u0000')).toMatch(/^has a lone surrogate \(\\ud800\) at index 0/);
    expect(stringElementProblem('\u0000\ud800')).toBe(
      'contains a NUL byte at offset 0, which ONNX Runtime string tensors cannot carry',
    );
    expect(stringElementProblem('😀')).toBeUndefined();
  });

  it(':predict rows and columns go through the same check', () => {
    const signature = { inputs: [{ name: 'color', datatype: 'BYTES' as const, shape: [-1, 1] }], outputs: [] };
    expect(() => decodeInstances(['red', 're\u0000d'], signature)).toThrow(
      'instances[1]: input "color" contains a NUL byte at offset 2, which ONNX Runtime string tensors cannot carry',
    );
    expect(() => decodeColumns({ color: ['red', '\ud800'] }, signature)).toThrow(
      `input "color": example 1 has a lone surrogate (\\ud800) at index 0, which has no UTF-8 form; ${ONNX_NOTE}`,
    );
    expect(decodeInstances(['\ufeffred'], signature)[0]!.data).toEqual(['\ufeffred']);
  });
});
