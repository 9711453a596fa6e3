// Node names carry the layer they belong to (what bench/profile-step.ts sums an ONNX Runtime profile by): every
// node that reads a parameter is named under that parameter's module, and each parameter's gradient is computed
// under that module's 'grad' scope.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gradients } from '../../src/graph/autodiff.js';
import { initWeights } from '../../src/nn/layers.js';
import { ssdliteMobileNetV2 } from '../../src/nn/models/ssdlite.js';
import { ssdTiny } from '../../src/nn/models/ssd-tiny.js';
import type { SSDNetwork } from '../../src/nn/ssd.js';

const scopeOf = (nodeName: string): string => nodeName.slice(0, nodeName.lastIndexOf('/'));
const moduleOf = (param: string): string => param.slice(0, param.lastIndexOf('.'));

for (const [name, make] of [
  ['ssd-tiny', () => ssdTiny(6, { inputSize: 96 })],
  ['ssdlite320-mobilenetv2', () => ssdliteMobileNetV2(6, { inputSize: 64, width: 0.25 })],
] as Array<[string, () => SSDNetwork]>) {
  test(`${name}: forward nodes are named under the module of the parameters they read, gradients under its grad scope`, () => {
    const net = make();
    const weights = initWeights(net.parameters(), 0);
    const { graph, terms } = net.lossGraph(weights, { batch: 2, norm: 'train' });
    const params = new Set(graph.parameters.map((p) => p.name));
    let readers = 0;
    for (const node of graph.nodes)
      for (const input of node.inputs)
        if (params.has(input)) {
          readers++;
          assert.equal(scopeOf(node.name), moduleOf(input), `node '${node.name}' reads '${input}'`);
        }
    assert.ok(readers >= graph.parameters.length, `${readers} parameter reads for ${graph.parameters.length} parameters`);
    assert.ok(graph.nodes.some((n) => n.name.startsWith('loss/')), 'the loss is scoped');

    const g = graph.clone();
    const grads = gradients(g, terms.loss, graph.parameters);
    for (const p of graph.parameters) {
      const origin = g.origin(grads.get(p.name)!);
      assert.ok(origin.node, `gradient of '${p.name}' comes from a node`);
      assert.equal(scopeOf(origin.node.name), `${moduleOf(p.name)}/grad`, `gradient of '${p.name}'`);
    }
  });
}
