// The networks of the model family: an SSDNetwork (backbone + head + priors, src/nn/ssd.ts) that also knows
// its name and, when it has batch norm, the mode its batch-norm layers build in.
import type { PriorConfig } from '../../boxes/priors.js';
import type { SSDHead } from '../heads.js';
import type { Tensor } from '../../graph/index.js';
import type { BuildContext } from '../layers.js';
import { SSDNetwork, type Backbone } from '../ssd.js';
import { isBuffer, NormState, type NormMode } from './blocks.js';

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

  /**
   * Adds the network to `ctx.g`: images (N, 3, H, W) -> locs (N, P, 4), scores (N, P, K). Parameters are declared
   * first in state_dict order (as SSDNetwork does), except the batch-norm running statistics outside 'eval' mode:
   * a training graph must not hold them (SGD would decay them) and a calibration graph outputs them.
   */
  override build(ctx: BuildContext, images: Tensor): { locs: Tensor; scores: Tensor } {
    const buffers = this.norm !== undefined && this.norm.mode === 'eval';
    for (const spec of this.parameters()) if (buffers || !isBuffer(spec.name)) ctx.param(spec);
    return this.head.build(ctx, this.backbone.build(ctx, images));
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
