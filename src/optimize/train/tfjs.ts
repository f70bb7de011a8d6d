/**
 * TensorFlow.js for the optimize module's training (distillation students, fine-tunes after pruning):
 * tfjs-core with its pure-JS CPU backend and tfjs-layers. Chosen because it installs offline on Node 20
 * with no native build or download and trains the small MLPs these passes need in seconds; tfjs-node's
 * native binding would need a download at install time.
 *
 * Import tfjs through `loadTensorFlow()` only, so the backend is set once and the library's
 * "install tfjs-node" banner is not printed into our CLI's output.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';

export type TensorFlow = typeof tf;
export type TensorFlowLayers = typeof tfl;

let ready: Promise<void> | undefined;

/** tfjs-core and tfjs-layers, on the CPU backend, quiet. */
export async function loadTensorFlow(): Promise<{ tf: TensorFlow; tfl: TensorFlowLayers }> {
  ready ??= (async () => {
    // PROD: no debug checks, and tfjs's warn() (the tfjs-node banner) stays silent.
    tf.env().set('PROD', true);
    await tf.setBackend('cpu');
    await tf.ready();
  })();
  await ready;
  return { tf, tfl };
}
