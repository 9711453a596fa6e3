// Folds inference-mode batch normalisation into the convolution before it, on a finished ONNX graph:
//   BN(conv(x, W) + b) = conv(x, W * k) + (b - mean) * k + beta,   k = gamma / sqrt(var + eps), per output channel.
// int8 needs it: a convolution's weights are quantized with their batch norm already applied (else the int8
// weights would be rescaled by a float op afterwards), and ONNX Runtime fuses DequantizeLinear -> Conv ->
// QuantizeLinear into one QLinearConv only when nothing sits between the Conv and the QuantizeLinear.
import { floatAttribute, floatValues, initializer, tensorDims, type GraphEditor } from '../../graph/onnx-edit.js';

/** What folding did: the convolutions whose batch norm went into them. */
export interface FoldResult {
  /** Number of BatchNormalization nodes folded. */
  folded: number;
  /** BatchNormalization nodes left (their input is not a Conv with constant weights that only they read). */
  left: number;
}

/**
 * Folds every BatchNormalization whose input is the only output of a Conv with constant weights (and bias, if
 * any) read by nothing else; the Conv then writes the BatchNormalization's output. Works in float64, stores
 * float32. The initializers of the folded weights are replaced in place (same names), a bias is added where
 * the Conv had none (`<weight>.folded_bias`).
 */
export function foldBatchNorm(g: GraphEditor): FoldResult {
  let folded = 0;
  let left = 0;
  const readers = g.consumerIndex();
  for (const bn of g.nodes.filter((n) => n.opType === 'BatchNormalization')) {
    const [x, gammaName, betaName, meanName, varName] = bn.input ?? [];
    const conv = x === undefined ? undefined : g.producer(x);
    const params = [gammaName, betaName, meanName, varName].map((n) => (n ? g.initializers.get(n) : undefined));
    const weight = conv?.input?.[1] ? g.initializers.get(conv.input[1]) : undefined;
    const biasName = conv?.input?.[2];
    const bias = biasName ? g.initializers.get(biasName) : undefined;
    const sole = (t: string | undefined) => t !== undefined && (readers.get(t) ?? []).length === 1 && !g.isOutput(t);
    if (!conv || conv.opType !== 'Conv' || !weight || (biasName && !bias) || params.some((p) => !p) || !sole(x) || !sole(conv.input![1]) || (biasName !== undefined && biasName !== '' && !sole(biasName)) || (bn.output ?? []).length !== 1) {
      left++;
      continue;
    }
    const [gamma, beta, mean, variance] = params.map((p) => floatValues(p!)) as [Float32Array, Float32Array, Float32Array, Float32Array];
    const eps = floatAttribute(bn, 'epsilon', 1e-5);
    const dims = tensorDims(weight);
    const cout = dims[0]!;
    if (gamma.length !== cout) throw new Error(`foldBatchNorm: '${bn.name}' normalises ${gamma.length} channels, the Conv '${conv.name}' makes ${cout}`);
    const w = floatValues(weight);
    const b = bias ? floatValues(bias) : new Float32Array(cout);
    const per = w.length / cout;
    const newW = new Float32Array(w.length);
    const newB = new Float32Array(cout);
    for (let c = 0; c < cout; c++) {
      const k = gamma[c]! / Math.sqrt(variance[c]! + eps);
      for (let i = c * per; i < (c + 1) * per; i++) newW[i] = w[i]! * k;
      newB[c] = (b[c]! - mean[c]!) * k + beta[c]!;
    }
    g.setInitializer(initializer(weight.name!, dims, newW));
    const newBiasName = bias ? bias.name! : g.fresh(`${weight.name}.folded_bias`);
    g.setInitializer(initializer(newBiasName, [cout], newB));
    conv.input = [conv.input![0]!, weight.name!, newBiasName];
    conv.output = [bn.output![0]!];
    g.removeNode(bn);
    folded++;
  }
  return { folded, left };
}
