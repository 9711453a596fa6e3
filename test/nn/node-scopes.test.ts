// Node names carry the layer they belong to (what bench/profile-step.ts sums an ONNX Runtime profile by): every
// node that reads a parameter is named under that parameter's module, and each parameter's gradient is computed
// under that module's 'grad' scope. Where a training graph runs sibling convs as one (SSDHead's box and class convs
// on a map, their weights stacked), the nodes reading both modules' parameters share one scope, and both
// parameters' gradients come from its 'grad' scope.
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
    /** Each parameter's scope: its module's, or the one scope of a node that stacks several modules' parameters. */
    const scopeOfParam = new Map<string, string>();
    let readers = 0;
    let stacked = 0;
    for (const node of graph.nodes) {
      const read = node.inputs.filter((input) => params.has(input));
      const modules = new Set(read.map(moduleOf));
      readers += read.length;
      if (modules.size > 1) stacked++;
      for (const input of read) {
        const scope = modules.size > 1 ? scopeOf(node.name) : moduleOf(input);
        assert.equal(scopeOf(node.name), scope, `node '${node.name}' reads '${input}'`);
        assert.equal(scopeOfParam.get(input) ?? scope, scope, `'${input}' is read in two scopes`);
        scopeOfParam.set(input, scope);
      }
    }
    // ssd-tiny's head stacks its box and class weights and biases on each of its 4 maps; SSDLite's has no siblings.
    assert.equal(stacked, name === 'ssd-tiny' ? 8 : 0, 'nodes that stack the parameters of sibling convs');
    assert.ok(readers >= graph.parameters.length, `${readers} parameter reads for ${graph.parameters.length} parameters`);
    assert.ok(graph.nodes.some((n) => n.name.startsWith('loss/')), 'the loss is scoped');

    const g = graph.clone();
    const grads = gradients(g, terms.loss, graph.parameters);
    for (const p of graph.parameters) {
      const origin = g.origin(grads.get(p.name)!);
      assert.ok(origin.node, `gradient of '${p.name}' comes from a node`);
      assert.equal(scopeOf(origin.node.name), `${scopeOfParam.get(p.name)}/grad`, `gradient of '${p.name}'`);
    }
  });
}
