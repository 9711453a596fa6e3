// The `ssd` program itself (src/cli/main.ts, run as a user runs it): --version, and the nearest verb for a typo.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

function ssd(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: root, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('ssd --version and -v print the version of package.json', () => {
  const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  for (const flag of ['--version', '-v']) {
    const r = ssd(flag);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `${version}\n`);
  }
});

test('an unknown verb gets the nearest verb, or the list when none is near; exit code 2', () => {
  const r = ssd('trian', '--epochs', '3');
  assert.equal(r.status, 2);
  assert.equal(r.stderr, "ssd: unknown verb 'trian'; did you mean train? the verbs: detect, export, train, eval, serve, models, priors, demo, import, bench, quantize\n");
  const far = ssd('frobnicate');
  assert.equal(far.status, 2);
  assert.match(far.stderr, /^ssd: unknown verb 'frobnicate'; the verbs: detect, /);
});
