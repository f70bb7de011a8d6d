/**
 * INT8 weight quantization math shared by the dynamic and static quantization passes: the same
 * formulas as ONNX Runtime's quantizer (onnxruntime/python/tools/quantization/quant_utils.py's
 * compute_scale_zp): symmetric ranges map [-max|w|, max|w|] onto [-127, 127] with zero point 0;
 * asymmetric ranges map [min(0, w), max(0, w)] onto [-128, 127] so that 0.0 is exactly representable.
 */
import { invalid } from '../../core/errors.js';

export interface WeightQuantizationOptions {
  /** One scale / zero point per slice along `axis` instead of one for the whole tensor. */
  readonly perChannel: boolean;
  /** The channel axis when `perChannel` (MatMul weight [K, N]: 1; Gemm transB / Conv weight: 0). */
  readonly axis: number;
  /** Zero point 0 and range [-127, 127] (true), or an affine range over [-128, 127] (false). */
  readonly symmetric: boolean;
}

export interface QuantizedWeights {
  /** Same shape and order as the input values. */
  readonly data: Int8Array;
  /** One per channel (length dims[axis]) or a single one. */
  readonly scales: Float32Array;
  readonly zeroPoints: Int8Array;
  /** The shape of `scales` / `zeroPoints` as an ONNX tensor: [dims[axis]] or [] (a scalar). */
  readonly paramDims: number[];
}

/**
 * Quantize float weights to INT8, per tensor or per channel along `axis`. Values round half to
 * even (as numpy.rint, which ONNX Runtime uses) and saturate. A slice of all zeros gets scale 1.
 */
export function quantizeWeights(
  values: Float32Array,
  dims: readonly number[],
  options: WeightQuantizationOptions,
): QuantizedWeights {
  const count = dims.reduce((n, d) => n * d, 1);
  if (count !== values.length)
    throw invalid(`quantizeWeights: ${values.length} values do not fill dims [${dims.join(', ')}]`);
  const { perChannel, axis, symmetric } = options;
  if (perChannel && !(Number.isInteger(axis) && axis >= 0 && axis < dims.length))
    throw invalid(`quantizeWeights: axis ${axis} is not an axis of dims [${dims.join(', ')}]`);
  const channels = perChannel ? dims[axis]! : 1;
  // Element i belongs to channel floor(i / inner) % channels, with inner = product of dims after axis.
  const inner = perChannel ? dims.slice(axis + 1).reduce((n, d) => n * d, 1) : count;
  const channelOf = (i: number): number => (perChannel ? Math.floor(i / inner) % channels : 0);

  const low = new Float64Array(channels);
  const high = new Float64Array(channels);
  for (let i = 0; i < values.length; i++) {
    const c = channelOf(i);
    const v = values[i]!;
    if (!Number.isFinite(v)) throw invalid(`quantizeWeights: value ${i} is ${v}, not a finite number`);
    if (v < low[c]!) low[c] = v;
    if (v > high[c]!) high[c] = v;
  }
  const scales = new Float32Array(channels);
  const zeroPoints = new Int8Array(channels);
  for (let c = 0; c < channels; c++) {
    if (symmetric) {
      const absMax = Math.max(-low[c]!, high[c]!);
      scales[c] = absMax > 0 ? absMax / 127 : 1;
      zeroPoints[c] = 0;
    } else {
      const span = high[c]! - low[c]!;
      const scale = span > 0 ? span / 255 : 1;
      scales[c] = scale;
      zeroPoints[c] = clamp(roundHalfEven(-128 - low[c]! / scale), -128, 127);
    }
  }
  const data = new Int8Array(values.length);
  const qmin = symmetric ? -127 : -128;
  for (let i = 0; i < values.length; i++) {
    const c = channelOf(i);
    data[i] = clamp(roundHalfEven(values[i]! / scales[c]!) + zeroPoints[c]!, qmin, 127);
  }
  return { data, scales, zeroPoints, paramDims: perChannel ? [channels] : [] };
}

/** The float value each quantized weight stands for: (q - zeroPoint) * scale (for tests and error figures). */
export function dequantizeWeights(quantized: QuantizedWeights, dims: readonly number[], axis: number): Float32Array {
  const channels = quantized.scales.length;
  const inner = channels > 1 ? dims.slice(axis + 1).reduce((n, d) => n * d, 1) : quantized.data.length;
  const out = new Float32Array(quantized.data.length);
  for (let i = 0; i < out.length; i++) {
    const c = channels > 1 ? Math.floor(i / inner) % channels : 0;
    out[i] = (quantized.data[i]! - quantized.zeroPoints[c]!) * quantized.scales[c]!;
  }
  return out;
}

/** Transpose a row-major [rows, cols] matrix (Gemm's transB weight, quantized as [K, N]). */
export function transpose2d(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c]!;
  return out;
}

function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff < 0.5) return floor;
  if (diff > 0.5) return floor + 1;
  return floor % 2 === 0 ? floor : floor + 1;
}

function clamp(x: number, lo: number, hi: number): number {
  return x < lo ? lo : x > hi ? hi : x;
}
