// The examples of README.md and docs/*.md are checked against the package as a user gets it:
// - every ```ts block is written as a module and type-checked with the project's TypeScript against a build of the
//   package (package.json "exports" and the built declarations), importing only 'ssd-ts', its subpaths and node:
//   built-ins;
// - the blocks marked `<!-- run -->` are run with node, each in an empty folder, and must succeed; where a
//   `<!-- output -->` ```text block follows, what the block prints must be exactly that text;
// - every `ssd <verb> ...` command of a ```sh block names a verb of src/cli/main.ts and passes node's own argument
//   parser with the flag specs of that verb's file in src/cli/, as `ssd` itself parses them.
// The package is built into a temporary folder, not dist/, so that this test and test/package/consumer.test.ts can
// run at the same time without one reading the other's half-written declarations.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');

/** The markdown files whose examples are checked, relative to the repository root. */
function markdownFiles(): string[] {
  const docs = readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`);
  return ['README.md', ...docs];
}

/** One fenced code block. */
interface Block {
  file: string;
  /** 1-based line of the block's first content line. */
  line: number;
  lang: string;
  text: string;
  /** Marked `<!-- run -->`. */
  run: boolean;
  /** For a run block: the text of the `<!-- output -->` block that follows it. */
  output?: string;
}

/** The fenced blocks of a markdown file, with their markers (an HTML comment on the last non-blank line before the fence). */
function codeBlocks(file: string): Block[] {
  const lines = readFileSync(join(root, file), 'utf8').split('\n');
  const blocks: Block[] = [];
  let lastRun: Block | undefined;
  for (let i = 0; i < lines.length; i++) {
    const open = /^```([\w-]*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    let end = i + 1;
    while (end < lines.length && !/^```\s*$/.test(lines[end]!)) end++;
    assert.ok(end < lines.length, `${file}:${i + 1}: code block never closed`);
    let prev = i - 1;
    while (prev >= 0 && lines[prev]!.trim() === '') prev--;
    const marker = prev >= 0 ? lines[prev]!.trim() : '';
    const block: Block = { file, line: i + 2, lang: open[1]!, text: lines.slice(i + 1, end).join('\n'), run: marker === '<!-- run -->' };
    if (marker === '<!-- output -->') {
      assert.ok(lastRun && lastRun.output === undefined, `${file}:${i + 1}: an <!-- output --> block must follow a <!-- run --> block`);
      assert.equal(block.lang, 'text', `${file}:${i + 1}: an <!-- output --> block is a \`\`\`text block`);
      lastRun.output = block.text;
    } else {
      blocks.push(block);
      if (block.run) {
        assert.equal(block.lang, 'ts', `${file}:${i + 1}: only \`\`\`ts blocks can be marked <!-- run -->`);
        lastRun = block;
      }
    }
    i = end;
  }
  return blocks;
}

const blocks = markdownFiles().flatMap(codeBlocks);
const tsBlocks = blocks.filter((b) => b.lang === 'ts');
/** A block's module name in the examples folder: its file and line. */
const moduleName = (b: Block): string => `${b.file.replace(/[/.]/g, '_')}_L${b.line}`;

/** Runs `node file` in `cwd`; resolves with its exit status and output (killed after `timeoutMs`). */
function runNode(file: string, cwd: string, timeoutMs: number): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [file], { cwd, stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (status) => done({ status, stdout, stderr }));
  });
}

const trimLines = (s: string): string =>
  s
    .split('\n')
    .map((l) => l.trimEnd())
    .join('\n')
    .trim();

test('the README has the quick start verbatim and an example of every verb', () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  for (const s of ['npm ci && npm run demo', 'npm ci && npm test']) assert.ok(readme.includes(s), `README.md must say \`${s}\``);
  const shown = new Set(commandsIn(blocks.filter((b) => b.file === 'README.md' && b.lang === 'sh')).map((c) => c.verb));
  for (const verb of cliVerbs().keys()) assert.ok(shown.has(verb), `README.md has no \`ssd ${verb}\` example in a sh block`);
});

test('every TypeScript example imports only the public entry points, type-checks against the built package, and the marked ones run', async () => {
  assert.ok(tsBlocks.length > 0, 'no ```ts blocks found');
  const exports = Object.keys((JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports: Record<string, unknown> }).exports);
  const publicNames = new Set(exports.map((e) => (e === '.' ? 'ssd-ts' : `ssd-ts/${e.slice(2)}`)));
  for (const b of tsBlocks) {
    for (const m of b.text.matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)) {
      const spec = m[1]!;
      assert.ok(publicNames.has(spec) || spec.startsWith('node:'), `${b.file}:${b.line}: imports '${spec}'; examples use 'ssd-ts', its subpaths (${[...publicNames].join(', ')}) and node: modules`);
    }
  }

  const dir = mkdtempSync(join(tmpdir(), 'ssd-doc-examples-'));
  try {
    // The package as installed: its package.json, the build, the web page's files and its dependencies.
    const pkg = join(dir, 'package');
    mkdirSync(pkg);
    copyFileSync(join(root, 'package.json'), join(pkg, 'package.json'));
    symlinkSync(join(root, 'node_modules'), join(pkg, 'node_modules'), 'dir');
    symlinkSync(join(root, 'src'), join(pkg, 'src'), 'dir');
    const build = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json'), '--outDir', join(pkg, 'dist'), '--sourceMap', 'false'], { encoding: 'utf8' });
    assert.equal(build.status, 0, `the build failed:\n${build.stdout}${build.stderr}`);

    // The examples as a consumer's program.
    const app = join(dir, 'app');
    mkdirSync(join(app, 'node_modules', '@types'), { recursive: true });
    symlinkSync(pkg, join(app, 'node_modules', 'ssd-ts'), 'dir');
    symlinkSync(join(root, 'node_modules', '@types', 'node'), join(app, 'node_modules', '@types', 'node'), 'dir');
    writeFileSync(join(app, 'package.json'), JSON.stringify({ type: 'module' }));
    const names = tsBlocks.map(moduleName);
    const compilerOptions = { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: true, types: ['node'], outDir: 'out', rootDir: '.' };
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: names.map((n) => `${n}.ts`) }));
    tsBlocks.forEach((b, i) => {
      // A block without import or export would be a script, whose names clash with the other blocks'.
      const isModule = /^\s*(import|export)\s/m.test(b.text);
      writeFileSync(join(app, `${names[i]}.ts`), isModule ? `${b.text}\n` : `${b.text}\nexport {};\n`);
    });
    const compiled = spawnSync(process.execPath, [tsc, '-p', app], { encoding: 'utf8', cwd: app });
    // Diagnostics point at the markdown: 'docs_x_md_L40.ts(3,7)' becomes 'docs/x.md:42:7'.
    const where = new Map(tsBlocks.map((b, i) => [`${names[i]}.ts`, b]));
    const diagnostics = `${compiled.stdout}${compiled.stderr}`.replace(/(\S+\.ts)\((\d+),(\d+)\)/g, (all, f: string, l: string, c: string) => {
      const b = where.get(f.split('/').pop()!);
      return b ? `${b.file}:${b.line + Number(l) - 1}:${c}` : all;
    });
    assert.equal(compiled.status, 0, `examples that do not type-check:\n${diagnostics}`);

    const runs = tsBlocks.map((b, i) => ({ b, js: join(app, 'out', `${names[i]}.js`) })).filter(({ b }) => b.run);
    assert.ok(runs.length > 0, 'no example is marked <!-- run -->');
    for (const { b, js } of runs) {
      const cwd = mkdtempSync(join(dir, 'run-'));
      const r = await runNode(js, cwd, 120_000);
      assert.equal(r.status, 0, `${b.file}:${b.line}: the example failed (exit ${r.status}):\n${r.stderr}`);
      if (b.output !== undefined) assert.equal(trimLines(r.stdout), trimLines(b.output), `${b.file}:${b.line}: the example printed something else than its <!-- output --> block`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** The verbs of `ssd` (src/cli/main.ts) and the file of each. */
function cliVerbs(): Map<string, string> {
  const main = readFileSync(join(root, 'src', 'cli', 'main.ts'), 'utf8');
  const verbs = new Map<string, string>();
  for (const m of main.matchAll(/^\s*(\w+): \(\) => import\('\.\/([\w-]+)\.js'\)/gm)) verbs.set(m[1]!, `src/cli/${m[2]}.ts`);
  assert.ok(verbs.size > 0, 'no verbs found in src/cli/main.ts');
  return verbs;
}

type FlagSpec = NonNullable<ParseArgsConfig['options']>;

/** A verb's flags as its file declares them for node's parseArgs (`name: { type: 'string', ... }`), plus --help. */
function flagSpec(file: string): FlagSpec {
  const source = readFileSync(join(root, file), 'utf8');
  const spec: FlagSpec = { help: { type: 'boolean', short: 'h' } };
  for (const m of source.matchAll(/^\s*'?([a-z][a-z0-9-]*)'?: \{ type: '(string|boolean)'(, multiple: true)?(?:, short: '(\w)')? \}/gm)) {
    spec[m[1]!] = { type: m[2] as 'string' | 'boolean', ...(m[3] ? { multiple: true } : {}), ...(m[4] ? { short: m[4] } : {}) };
  }
  return spec;
}

/** Shell words of one line, quotes removed; the control operators && || ; | are words of their own. */
function shellWords(line: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (ch === "'" || ch === '"') {
      const close = line.indexOf(ch, i + 1);
      assert.ok(close > i, `unclosed quote in: ${line}`);
      word = (word ?? '') + line.slice(i + 1, close);
      i = close;
    } else if (/\s/.test(ch)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (ch === '#' && word === undefined) {
      break;
    } else if ('&|;'.includes(ch)) {
      if (word !== undefined) words.push(word);
      word = undefined;
      const op = line.slice(i, i + 2) === '&&' || line.slice(i, i + 2) === '||' ? line.slice(i, i + 2) : ch;
      words.push(op);
      i += op.length - 1;
    } else {
      word = (word ?? '') + ch;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}

/** The ways a command line reaches `ssd`: the installed bin, npx, the npm scripts and node on the CLI's file. */
const PREFIXES: string[][] = [['ssd'], ['npx', 'ssd'], ['npm', 'run', 'ssd', '--'], ['node', 'dist/src/cli/main.js'], ['node', '--import', 'tsx', 'src/cli/main.ts']];

interface SsdCommand {
  file: string;
  line: number;
  verb: string;
  args: string[];
}

/** The `ssd` invocations of sh blocks; a line ending in a backslash continues on the next. */
function commandsIn(shBlocks: readonly Block[]): SsdCommand[] {
  const found: SsdCommand[] = [];
  for (const b of shBlocks) {
    const lines = b.text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const first = i;
      let text = lines[i]!;
      while (text.endsWith('\\') && i + 1 < lines.length) text = text.slice(0, -1) + ' ' + lines[++i]!;
      const words = shellWords(text);
      let start = 0;
      for (let k = 0; k <= words.length; k++) {
        if (k < words.length && !['&&', '||', ';', '|'].includes(words[k]!)) continue;
        const cmd = words.slice(start, k);
        start = k + 1;
        if (cmd[0] === 'npm' && cmd[1] === 'run' && cmd[2] === 'demo') {
          found.push({ file: b.file, line: b.line + first, verb: 'demo', args: cmd[3] === '--' ? cmd.slice(4) : cmd.slice(3) });
          continue;
        }
        const prefix = PREFIXES.find((p) => p.every((w, j) => cmd[j] === w));
        if (prefix && cmd.length > prefix.length) found.push({ file: b.file, line: b.line + first, verb: cmd[prefix.length]!, args: cmd.slice(prefix.length + 1) });
      }
    }
  }
  return found;
}

test('every ssd command in the sh examples names a verb and only flags that verb accepts', async () => {
  const verbs = cliVerbs();
  const specs = new Map([...verbs].map(([verb, file]) => [verb, flagSpec(file)]));
  // The spec read from each file must be the one its --help describes: a flag the reading missed or invented fails here.
  for (const [verb, file] of verbs) {
    const { command } = (await import(join(root, file))) as { command: { help: string } };
    const flags = Object.keys(specs.get(verb)!).filter((f) => f !== 'help');
    assert.ok(flags.length > 0, `no flags read from ${file}`);
    for (const f of flags) assert.match(command.help, new RegExp(`--${f}\\b`), `${file} declares --${f}, which \`ssd ${verb} --help\` does not describe`);
  }
  const commands = commandsIn(blocks.filter((b) => b.lang === 'sh'));
  assert.ok(commands.length >= verbs.size, `only ${commands.length} ssd commands found in the sh blocks`);
  for (const c of commands) {
    const where = `${c.file}:${c.line}: ssd ${c.verb}`;
    if ((c.verb === '--help' || c.verb === '-h') && c.args.length === 0) continue; // the list of verbs
    const spec = specs.get(c.verb);
    assert.ok(spec, `${where}: no such verb (known: ${[...verbs.keys()].join(', ')})`);
    try {
      parseArgs({ args: c.args, options: spec, strict: true, allowPositionals: true });
    } catch (e) {
      assert.fail(`${where}: ${(e as Error).message}`);
    }
  }
});
