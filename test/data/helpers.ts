// Shared by the data tests: fixture paths and a check that a DatasetError names a file and field.
import assert from 'node:assert/strict';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DatasetError, type Problem } from '../../src/data/types.js';

export const FIXTURES = resolve(join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'datasets'));

export function fixture(...parts: string[]): string {
  return join(FIXTURES, ...parts);
}

/** Runs `load`, expects a DatasetError, and returns it. */
export async function expectDatasetError(load: () => Promise<unknown>): Promise<DatasetError> {
  try {
    await load();
  } catch (e) {
    assert.ok(e instanceof DatasetError, `expected a DatasetError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected the dataset to be rejected');
}

/**
 * Asserts that `err` holds exactly one problem in a file ending with `fileSuffix`, with this field
 * (and line, when given) and a message matching `message`, and that the error's text shows it.
 */
export function assertProblem(err: DatasetError, fileSuffix: string, field: string | undefined, message: RegExp, line?: number): Problem {
  const found = err.problems.filter((p) => p.file.endsWith(fileSuffix) && p.field === field && (line === undefined || p.line === line));
  assert.equal(found.length, 1, `expected one problem in ${fileSuffix} field ${field}${line !== undefined ? ` line ${line}` : ''}; problems:\n${err.message}`);
  const p = found[0];
  assert.match(p.message, message);
  const shown = `${p.file}${p.line !== undefined ? `:${p.line}` : ''}: ${field !== undefined ? `${field}: ` : ''}${p.message}`;
  assert.ok(err.message.includes(shown), `the error text should show "${shown}"`);
  return p;
}
