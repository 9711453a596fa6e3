// The public names of src/demo (`ssd-ts/demo`): the out-of-the-box demo as a library function.
export { runDemo } from './demo.js';
export type { DemoOptions, DemoResult } from './demo.js';
