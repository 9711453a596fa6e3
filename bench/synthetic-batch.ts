// A training batch for the speed benchmarks: rendered shape scenes at the network's input size (pixels / 255 -
// 0.45), their objects matched to the network's priors as the trainer matches them.
import { BoxCoder } from '../src/boxes/coder.js';
import { Matcher } from '../src/boxes/match.js';
import { generatePriors } from '../src/boxes/priors.js';
import { renderScene } from '../src/data/synthetic.js';
import type { SSDNetwork } from '../src/nn/ssd.js';
import { matchBatch } from '../src/nn/targets.js';
import type { StepBatch } from '../src/train/session.js';

/** `batch` scenes (seeds 0 .. batch-1) as a StepBatch for `net`. */
export function syntheticBatch(net: SSDNetwork, batch: number): StepBatch {
  const size = net.inputSize.width;
  const images = new Float32Array(batch * 3 * size * size);
  const objects = [];
  for (let k = 0; k < batch; k++) {
    const s = renderScene(k, { size });
    for (let c = 0; c < 3; c++) for (let p = 0; p < size * size; p++) images[(k * 3 + c) * size * size + p] = s.rgb[3 * p + c]! / 255 - 0.45;
    objects.push({ boxes: s.boxes.map((v) => v / size), labels: s.labels });
  }
  const t = matchBatch(new Matcher(new BoxCoder(generatePriors(net.priors))), objects);
  return { size: batch, images, trueClasses: t.classes.data as BigInt64Array, trueLocs: t.offsets.data as Float32Array };
}
