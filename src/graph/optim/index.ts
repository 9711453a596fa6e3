export { stateName, nextName, directionName, type Optimizer, type ParameterUpdate, type UpdateContext } from './optimizer.js';
export { SGD, type SGDOptions } from './sgd.js';
export { AdamW, type AdamWOptions } from './adamw.js';
