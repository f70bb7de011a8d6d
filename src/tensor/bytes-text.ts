/**
 * BYTES elements as ONNX strings: the one place incoming BYTES become the strings a tensor holds.
 *
 * Decision (issue 14, "BYTES are bytes"): BYTES tensors stay JS strings inside Slipway (see
 * `TensorDataByType` in datatypes.ts), because ONNX Runtime's string tensors are UTF-8 std::strings
 * that onnxruntime-node passes as JS strings; holding Buffers would only move the conversion. What
 * makes this exact is that every edge is strict:
 * - bytes in (binary extension, gRPC `bytes_contents` and `raw_input_contents`) are decoded with a
 *   fatal UTF-8 decoder that keeps a BOM, so invalid UTF-8 is refused, never replaced by U+FFFD;
 * - a NUL is refused (ONNX Runtime's C-string handling cannot carry one), and a JSON string with a
 *   lone surrogate (no UTF-8 form) is refused;
 * - strings out are encoded with `Buffer.from(s, 'utf8')` (raw-bytes.ts, grpc/tensor-contents.ts).
 * So any valid input round-trips byte for byte, and anything else is a 400 naming the element.
 */
import { invalid } from '../core/errors.js';

/** What a decoded BYTES element may hold beyond valid UTF-8. */
export type BytesRule =
  /** A model input: no NUL either (the default everywhere a request is decoded). */
  | 'onnx-input'
  /** Stored strings (the prediction log) that a model may have produced, NULs included: valid UTF-8 only. */
  | 'any-utf8';

const ONNX_TEXT_ONLY = 'BYTES inputs of this model are ONNX strings, which carry UTF-8 text only';

// ignoreBOM: true keeps a leading EF BB BF as U+FEFF; the default would drop it and change the element.
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Up to this length the byte loop (firstProblem) is the cheapest check; longer elements use native scans. */
const SHORT_ELEMENT = 16;

/**
 * Decode bytes `[start, end)` of `view` as one BYTES element, exactly: only well-formed UTF-8 is
 * accepted (what a fatal TextDecoder accepts), a BOM is kept, and under `rule` 'onnx-input' a NUL
 * is refused. `what` and `index` name the element in errors (`input "x": element 3`), built only
 * when something is wrong. The string is the only copy made.
 *
 * Cost (10,000 elements, against a plain Buffer#toString): +6% for 3-byte values, +18% for
 * 40-byte ASCII ones; a subarray + fatal TextDecoder per element cost +100%.
 *
 * @throws INVALID_ARGUMENT e.g. `input "x": element 3 is not valid UTF-8 (byte 0xff at offset 5); ...`
 *   or `input "x": element 3 contains a NUL byte at offset 2, which ONNX Runtime string tensors cannot carry`
 */
export function decodeBytesElement(
  view: Buffer,
  start: number,
  end: number,
  what: string,
  index: number,
  rule: BytesRule = 'onnx-input',
): string {
  const nulIsProblem = rule === 'onnx-input';
  if (end - start <= SHORT_ELEMENT) {
    // Buffer#toString keeps a BOM and, once the bytes are known to be well-formed, changes nothing.
    if (firstProblem(view, start, end, nulIsProblem) < 0) return view.toString('utf8', start, end);
    throw elementError(view, start, end, what, index, nulIsProblem);
  }
  // Buffer#toString replaces every ill-formed sequence with U+FFFD (and keeps a BOM), so a result
  // without U+FFFD is exactly what the fatal decoder would return; two native scans decide it.
  const text = view.toString('utf8', start, end);
  if (nulIsProblem && text.indexOf('\u0000') >= 0) throw elementError(view, start, end, what, index, nulIsProblem);
  if (text.indexOf('\ufffd') < 0) return text;
  // A U+FFFD the client sent, or a replaced ill-formed sequence: the fatal decoder tells them apart.
  try {
    return strictUtf8.decode(view.subarray(start, end));
  } catch {
    throw elementError(view, start, end, what, index, nulIsProblem);
  }
}

/**
 * Why a JSON string cannot be a BYTES element of a model input, or undefined when it can: a NUL
 * (offset in UTF-8 bytes), or a lone surrogate, which has no UTF-8 form (ONNX Runtime would get
 * U+FFFD instead). Cheap on the hot path: two native scans.
 */
export function stringElementProblem(value: string): string | undefined {
  const nul = value.indexOf('\u0000');
  if (nul < 0 && isWellFormed(value)) return undefined;
  const surrogate = loneSurrogateIndex(value);
  if (nul >= 0 && (surrogate < 0 || nul < surrogate)) return nulProblem(Buffer.byteLength(value.slice(0, nul), 'utf8'));
  const code = value.charCodeAt(surrogate).toString(16);
  return `has a lone surrogate (\\u${code}) at index ${surrogate}, which has no UTF-8 form; ${ONNX_TEXT_ONLY}`;
}

function nulProblem(offset: number): string {
  return `contains a NUL byte at offset ${offset}, which ONNX Runtime string tensors cannot carry`;
}

// String.prototype.isWellFormed is in Node 20 (V8 11.3) but not in the ES2023 lib this project compiles against.
const wellFormed = (String.prototype as { isWellFormed?: (this: string) => boolean }).isWellFormed;

function isWellFormed(value: string): boolean {
  return wellFormed === undefined ? loneSurrogateIndex(value) < 0 : wellFormed.call(value);
}

function loneSurrogateIndex(value: string): number {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    const next = value.charCodeAt(i + 1); // NaN past the end
    if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) i++;
    else return i;
  }
  return -1;
}

/** The error for an element that failed a check: its first problem, with the offset in the element. */
function elementError(view: Buffer, start: number, end: number, what: string, index: number, nulIsProblem: boolean) {
  const where = `${what}: element ${index}`;
  const at = firstProblem(view, start, end, nulIsProblem);
  // Not expected: the fatal decoder and firstProblem both follow the Unicode standard's table.
  if (at < 0) return invalid(`${where} could not be decoded as UTF-8; ${ONNX_TEXT_ONLY}`);
  const offset = at - start;
  const byte = view[at]!;
  if (byte === 0) return invalid(`${where} ${nulProblem(offset)}`); // 0 is never part of an ill-formed sequence
  return invalid(
    `${where} is not valid UTF-8 (byte 0x${byte.toString(16).padStart(2, '0')} at offset ${offset}); ${ONNX_TEXT_ONLY}`,
  );
}

/**
 * Where the first ill-formed sequence starts (its lead byte, as Python's decoder reports it), or a
 * NUL when `nulIsProblem`; -1 when there is neither. Well-formed is the Unicode standard's table
 * (overlongs, surrogates and values past U+10FFFF are ill-formed), exactly what a fatal
 * TextDecoder accepts (bytes-edges.test.ts compares them). ASCII costs one comparison a byte.
 */
function firstProblem(view: Buffer, start: number, end: number, nulIsProblem: boolean): number {
  let k = start;
  while (k < end) {
    const lead = view[k]!;
    if (lead < 0x80) {
      if (lead === 0 && nulIsProblem) return k;
      k++;
      continue;
    }
    let length: number;
    let low = 0x80;
    let high = 0xbf;
    if (lead >= 0xc2 && lead <= 0xdf) length = 2;
    else if (lead >= 0xe0 && lead <= 0xef) {
      length = 3;
      if (lead === 0xe0)
        low = 0xa0; // below: overlong
      else if (lead === 0xed) high = 0x9f; // above: UTF-16 surrogates
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      length = 4;
      if (lead === 0xf0)
        low = 0x90; // below: overlong
      else if (lead === 0xf4) high = 0x8f; // above: past U+10FFFF
    } else return k; // a continuation byte, an overlong lead (C0, C1) or F5..FF
    if (k + length > end) return k;
    const second = view[k + 1]!;
    if (second < low || second > high) return k;
    for (let j = 2; j < length; j++) {
      const next = view[k + j]!;
      if (next < 0x80 || next > 0xbf) return k;
    }
    k += length;
  }
  return -1;
}
