// The networks ssd-ts can build, each a small factory that picks the parts.
import { SSD300_PRIORS, priorsPerLocation, type PriorConfig } from '../boxes/priors.js';
import type { ModelConfig } from './config.js';
import { buildZooNetwork } from './models/registry.js';
import { SSDHead } from './heads.js';
import type { Init } from './init.js';
import { SSDNetwork } from './ssd.js';
import { VGGFeatureExtractor } from './vgg.js';

/** Options of {@link ssd300}. */
export interface SSD300Options {
  /** Prior config; default SSD300_PRIORS (8732 priors). Its maps must be SSD300's 38, 19, 10, 5, 3, 1. */
  priors?: PriorConfig;
  /** Initialiser of the VGG base convs when training from scratch; default He-uniform. */
  baseInit?: Init;
}

/**
 * SSD300 with a VGG-16 base (the paper's and the PyTorch tutorial's network), for `nClasses` classes
 * counting the background (21 for Pascal VOC). Parameter names are the tutorial's state_dict keys.
 */
export function ssd300(nClasses: number, options: SSD300Options = {}): SSDNetwork {
  const priors = options.priors ?? SSD300_PRIORS;
  const backbone = new VGGFeatureExtractor({ baseInit: options.baseInit });
  const per = priorsPerLocation(priors);
  const head = new SSDHead(backbone.maps.map((m, i) => ({ name: m.name, channels: m.channels, priorsPerPosition: per[i] ?? 0 })), nClasses);
  return new SSDNetwork({ backbone, head, priors, inputSize: { width: 300, height: 300 } });
}

/**
 * The network a model config describes: SSD300 here, the other members of the family from
 * src/nn/models/registry.ts (an unknown architecture is an error listing the known ones).
 */
export function networkFromConfig(config: ModelConfig): SSDNetwork {
  if (config.architecture === 'ssd300') return ssd300(config.classNames.length, { priors: config.priors });
  return buildZooNetwork(config);
}
