// The networks of the model family: an SSDNetwork (backbone + head + priors, src/nn/ssd.ts) that also knows
// its name and, when it has batch norm, the mode its batch-norm layers build in.
import type { PriorConfig } from '../../boxes/priors.js';
import type { SSDHead } from '../heads.js';
import { SSDNetwork, type Backbone } from '../ssd.js';
import { NormState, type NormMode } from './blocks.js';

/** The parts of a {@link ZooNetwork}. */
export interface ZooParts {
  /** Zoo name, e.g. 'ssd-tiny'. */
  architecture: string;
  backbone: Backbone;
  head: Pick<SSDHead, 'maps' | 'nClasses' | 'parameters' | 'build'>;
  priors: PriorConfig;
  inputSize: { width: number; height: number };
  /** The batch-norm state its layers share; absent for networks without batch norm (SSD300, SSD512). */
  norm?: NormState;
}

/** An SSD of the zoo. `withNormMode` picks how batch norm builds (training graph, detection graph, calibration). */
export class ZooNetwork extends SSDNetwork {
  readonly architecture: string;
  readonly norm: NormState | undefined;

  constructor(parts: ZooParts) {
    super({ backbone: parts.backbone, head: parts.head as SSDHead, priors: parts.priors, inputSize: parts.inputSize });
    this.architecture = parts.architecture;
    this.norm = parts.norm;
  }

  /** True when the network has batch-norm layers (running statistics among its parameters). */
  get hasBatchNorm(): boolean {
    return this.norm !== undefined;
  }

  /** Runs `build` with batch norm in `mode`, restoring the previous mode afterwards. */
  withNormMode<T>(mode: NormMode, build: () => T): T {
    if (!this.norm) return build();
    const before = this.norm.mode;
    this.norm.mode = mode;
    this.norm.emitted.length = 0;
    try {
      return build();
    } finally {
      this.norm.mode = before;
    }
  }
}

/** A fresh NormState in 'eval' mode (detection), for the factories. */
export function newNormState(): NormState {
  return new NormState();
}
