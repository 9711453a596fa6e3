// `ssd bench` refuses what it cannot measure before it starts (the measurement itself is a benchmark, not a test).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { command } from '../../src/cli/bench.js';
import { UsageError } from '../../src/cli/command.js';

test('ssd bench names the bad flag and the value', async () => {
  await assert.rejects(command.run(['--model', 'yolo']), (e: unknown) => e instanceof UsageError && /--model 'yolo' is not known; known: ssd300, ssd512, ssdlite320-mobilenetv2, ssd-tiny/.test(e.message));
  await assert.rejects(command.run(['--batch', '0']), (e: unknown) => e instanceof UsageError && /--batch must be a number in \[1, 1024\], got '0'/.test(e.message));
  await assert.rejects(command.run(['--threads', '1.5']), (e: unknown) => e instanceof UsageError && /--threads must be a whole number, got '1.5'/.test(e.message));
  await assert.rejects(command.run(['--steps', '1']), (e: unknown) => e instanceof UsageError && /--steps/.test(e.message));
  await assert.rejects(command.run(['--frobnicate']), (e: unknown) => e instanceof UsageError && /ssd bench: .*frobnicate/.test(e.message));
  await assert.rejects(command.run(['--exclude', 'base.conv1_1']), (e: unknown) => e instanceof UsageError && /--exclude goes with --int8/.test(e.message));
  assert.match(command.help, /inference_s_per_image/);
  assert.match(command.help, /fp32_inference_s_per_image/);
});
