/**
 * deploy/Dockerfile without Docker (none here; CI may build it, see docs/deploy.md): parse it, check its
 * stages and that every COPY source exists in the build context (the repository minus .dockerignore);
 * that the build stage copies every source file the build and the sample generator import; then lay out
 * the runtime stage in a temporary folder, as its instructions do (package files, `bin/`, a `dist/`
 * freshly built by the build stage's compiler, and a node_modules holding only what `npm ci --omit=dev`
 * installs: the lock file's non-dev packages), and run `clay` from it: help, `status`, and `clay run`
 * for rows picked by JOB_COMPLETION_INDEX and AWS_BATCH_JOB_ARRAY_INDEX against the loopback Planetary
 * Computer. So the built CLI runs without devDependencies (tsx, typescript, ...).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadUniverse } from '../../core/mini-pc/universe.ts';
import { startMiniPc, type MiniPc } from '../../core/mini-pc/server.ts';
import { BUNDLED_DIR } from '../helpers/bundled.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** One Dockerfile instruction: keyword (upper case), its flags (`--from=build`) and its arguments. */
interface Instruction {
  keyword: string;
  flags: Record<string, string>;
  args: string[];
  /** The raw text after the keyword (for RUN, ENTRYPOINT, CMD). */
  text: string;
}

/** A build stage: its base image, name and instructions. */
interface Stage {
  from: string;
  name?: string;
  instructions: Instruction[];
}

/** Parses a Dockerfile into stages (comments, blank lines and '\' continuations handled; no parser directives beyond `# syntax`). */
function parseDockerfile(text: string): Stage[] {
  const logical: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (current === '' && (line.trim() === '' || line.trim().startsWith('#'))) continue;
    if (line.endsWith('\\')) {
      current += `${line.slice(0, -1)} `;
      continue;
    }
    logical.push((current + line).trim());
    current = '';
  }
  const stages: Stage[] = [];
  for (const l of logical) {
    const m = /^(\w+)\s+(.*)$/s.exec(l);
    assert.ok(m, `a Dockerfile line without an argument: ${l}`);
    const keyword = m[1]!.toUpperCase();
    const text = m[2]!;
    const words = text.split(/\s+/);
    const flags: Record<string, string> = {};
    while (words[0]?.startsWith('--')) {
      const [k, v] = words.shift()!.slice(2).split('=');
      flags[k!] = v ?? '';
    }
    if (keyword === 'FROM') {
      const as = words.findIndex((w) => w.toUpperCase() === 'AS');
      stages.push({ from: words[0]!, ...(as > 0 ? { name: words[as + 1]! } : {}), instructions: [] });
      continue;
    }
    assert.ok(stages.length > 0, `${keyword} before FROM`);
    stages.at(-1)!.instructions.push({ keyword, flags, args: words, text });
  }
  return stages;
}

/**
 * Whether `path` (relative, '/'-separated) is excluded by .dockerignore `patterns`, with Docker's rules for
 * the patterns we use: anchored at the context root, '*' within one segment, a match on a folder excludes
 * everything under it.
 */
function ignored(path: string, patterns: readonly string[]): boolean {
  const segments = path.split('/');
  return patterns.some((p) => {
    // `**/` (Docker's any number of folders), then `*` within one name.
    const body = p.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replaceAll('**/', '\u0000').replaceAll('*', '[^/]*').replaceAll('\u0000', '(?:.*/)?');
    const re = new RegExp(`^${body}$`);
    return segments.some((_, i) => re.test(segments.slice(0, i + 1).join('/')));
  });
}

/** The COPY sources and destination of an instruction (JSON form not used in our file). */
function copyParts(i: Instruction): { sources: string[]; dest: string } {
  return { sources: i.args.slice(0, -1), dest: i.args.at(-1)! };
}

/** Relative imports reachable from `entries` (TypeScript sources), as repository paths. */
function importClosure(entries: readonly string[]): Set<string> {
  const seen = new Set<string>();
  const todo = [...entries];
  while (todo.length > 0) {
    const file = todo.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const text = readFileSync(join(ROOT, file), 'utf8');
    for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)'(\.{1,2}\/[^']+)'/g)) {
      const target = relative(ROOT, join(ROOT, dirname(file), m[1]!)).split('\\').join('/');
      if (existsSync(join(ROOT, target)) && statSync(join(ROOT, target)).isFile()) todo.push(target);
    }
  }
  return seen;
}

const dockerfile = parseDockerfile(readFileSync(join(ROOT, 'deploy/Dockerfile'), 'utf8'));
const dockerignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));

test('Dockerfile: a build stage and a node:20-slim runtime stage (the last) with the production dependencies only, entrypoint clay', () => {
  assert.deepEqual(dockerfile.map((s) => [s.from, s.name]), [['node:20-slim', 'build'], ['node:20-slim', 'runtime']]);
  const [build, runtime] = dockerfile as [Stage, Stage];
  const runs = (s: Stage): string[] => s.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.text);
  assert.ok(runs(build).some((r) => /\bnpm ci\b/.test(r) && !/--omit=dev/.test(r)), 'the build stage installs the dev dependencies');
  assert.ok(runs(build).some((r) => /npm run build/.test(r) && /npm run samples/.test(r)));
  assert.ok(runs(runtime).some((r) => /\bnpm ci --omit=dev --ignore-scripts\b/.test(r)), 'the runtime stage: production dependencies, no install scripts');
  const fromBuild = runtime.instructions.filter((i) => i.keyword === 'COPY' && i.flags.from !== undefined);
  assert.ok(fromBuild.every((i) => i.flags.from === 'build'));
  assert.deepEqual(fromBuild.map((i) => copyParts(i).sources).flat(), ['/src/dist', '/src/data-samples/generated']);
  assert.equal(build.instructions.find((i) => i.keyword === 'WORKDIR')?.args[0], '/src');
  const entry = runtime.instructions.filter((i) => i.keyword === 'ENTRYPOINT').at(-1);
  assert.deepEqual(JSON.parse(entry!.text), ['clay']);
  assert.ok(runs(runtime).some((r) => r.includes('ln -s /opt/clay/bin/clay.js /usr/local/bin/clay')));
  assert.equal(runtime.instructions.find((i) => i.keyword === 'USER')?.args[0], 'node', 'the job does not run as root');
});

test('Dockerfile: every COPY source exists in the build context, and the build stage copies every file the build and the generator import', () => {
  const copied: string[] = [];
  for (const stage of dockerfile) {
    for (const i of stage.instructions.filter((x) => x.keyword === 'COPY' && x.flags.from === undefined)) {
      for (const src of copyParts(i).sources) {
        assert.ok(existsSync(join(ROOT, src)), `COPY ${src}: not in the repository`);
        assert.ok(!ignored(src, dockerignore), `COPY ${src}: excluded by .dockerignore`);
        if (stage.name === 'build') copied.push(src);
      }
    }
  }
  // The build compiles tsconfig.build.json's include list; the generator runs data-samples/generate.ts.
  const include = (JSON.parse(readFileSync(join(ROOT, 'tsconfig.build.json'), 'utf8')) as { include: string[] }).include;
  const inContext = (f: string): boolean => copied.some((c) => f === c || f.startsWith(`${c}/`)) && !ignored(f, dockerignore);
  for (const f of [...include, 'tsconfig.json', 'package.json', 'package-lock.json']) assert.ok(inContext(f), `${f} is not copied into the build stage`);
  const needed = importClosure(['index.ts', 'cli/run.ts', 'data-samples/generate.ts']);
  assert.ok(needed.size > 50);
  for (const f of needed) assert.ok(inContext(f), `${f} (imported by the build or the generator) is not copied into the build stage`);
  // What the runtime stage copies from the context.
  for (const f of ['bin/clay.js', 'package.json', 'package-lock.json']) assert.ok(!ignored(f, dockerignore));
  for (const f of ['node_modules/tsx/package.json', 'dist/index.js', 'data-samples/generated/cases.json', 'test/cli/run.test.ts']) assert.ok(ignored(f, dockerignore), `${f} is kept out of the context`);
});

/** Lock entries `npm ci --omit=dev` installs: every package not marked dev (platform packages absent here are skipped). */
function productionPackages(): string[] {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  return Object.entries(lock.packages)
    .filter(([k, v]) => k !== '' && v.dev !== true && /^node_modules\/(@[^/]+\/)?[^/]+$/.test(k) && existsSync(join(ROOT, k)))
    .map(([k]) => k);
}

let pc: MiniPc;
let image: string;
let outDir: string;

/** Runs `node bin/clay.js ...` in the runtime layout, symlinked packages resolved where they are linked (as if copied). */
function clay(args: string[], env: Record<string, string> = {}, script = 'bin/clay.js'): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const { NODE_OPTIONS: _o, NODE_PATH: _p, AWS_BATCH_JOB_ARRAY_INDEX: _a, JOB_COMPLETION_INDEX: _j, ...base } = process.env;
    const child = spawn(process.execPath, ['--preserve-symlinks', '--preserve-symlinks-main', script, ...args], { cwd: image, env: { ...base, NODE_ENV: 'production', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

before(async () => {
  pc = await startMiniPc({ universe: await loadUniverse(BUNDLED_DIR) });
  const tmp = await mkdtemp(join(tmpdir(), 'clay-image-'));
  image = join(tmp, 'opt-clay');
  outDir = join(tmp, 'out');
  await mkdir(join(image, 'node_modules'), { recursive: true });
  // COPY package.json package-lock.json ./ ; COPY bin bin ; COPY --from=build /src/dist dist (built by tsc as the build stage does)
  for (const f of ['package.json', 'package-lock.json']) await cp(join(ROOT, f), join(image, f));
  await cp(join(ROOT, 'bin'), join(image, 'bin'), { recursive: true });
  const tsc = await new Promise<{ code: number | null; out: string }>((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', join(image, 'dist')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => resolve({ code, out }));
  });
  assert.equal(tsc.code, 0, tsc.out);
  // RUN npm ci --omit=dev --ignore-scripts: the production packages, linked from this checkout's install.
  for (const pkg of productionPackages()) {
    await mkdir(dirname(join(image, pkg)), { recursive: true });
    await symlink(join(ROOT, pkg), join(image, pkg), 'dir');
  }
  await mkdir(join(image, 'data-samples'));
  await symlink(BUNDLED_DIR, join(image, 'data-samples', 'generated'), 'dir');
});

after(async () => {
  await pc.close();
  await rm(dirname(image), { recursive: true, force: true });
});

test('runtime stage: the built CLI runs with the production dependencies only (no tsx, no typescript)', async () => {
  // Dev-only packages are absent (@types/node is also a dependency of a production package, so it stays).
  const lock = JSON.parse(await readFile(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  const devOnly = Object.entries(lock.packages).filter(([k, v]) => v.dev === true && /^node_modules\/(@[^/]+\/)?[^/]+$/.test(k)).map(([k]) => k);
  for (const dev of ['tsx', 'typescript', 's3rver', '@duckdb/node-api', 'esbuild']) assert.ok(devOnly.includes(`node_modules/${dev}`), `${dev} is dev-only`);
  for (const k of devOnly) assert.ok(!existsSync(join(image, k)), `${k} is dev-only`);
  // The negative control: a devDependency does not resolve from the layout.
  await writeFile(join(image, 'probe.mjs'), "await import('typescript');\n");
  const probe = await clay([], {}, 'probe.mjs');
  assert.notEqual(probe.code, 0);
  assert.match(probe.stderr, /Cannot find (package|module) 'typescript'/);
  const help = await clay(['--help']);
  assert.equal(help.code, 0, help.stderr);
  for (const command of ['run', 'status', 'plan', 'demo']) assert.match(help.stdout, new RegExp(`\\n\\s+${command} `));
  const runHelp = await clay(['run', '--help']);
  assert.equal(runHelp.code, 0, runHelp.stderr);
  assert.match(runHelp.stdout, /JOB_COMPLETION_INDEX/);
});

test('runtime stage: `clay run` takes its row from JOB_COMPLETION_INDEX or AWS_BATCH_JOB_ARRAY_INDEX; `clay status` sees them', async () => {
  const sample = join(image, 'data-samples/generated/mgrs_sample.fgb');
  const base = ['--stac-api', pc.stacApi, '--sas-api', pc.sasApi, 'run', '--sample', sample, '--out', outDir, '--allow-no-data'];
  const k8s = await clay(base, { JOB_COMPLETION_INDEX: '2' });
  assert.equal(k8s.code, 0, k8s.stderr);
  assert.deepEqual((JSON.parse(k8s.stdout) as { rows: { index: number; mgrs: string }[] }).rows.map((r) => [r.index, r.mgrs]), [[2, '31TGK']]);
  const batch = await clay(base, { AWS_BATCH_JOB_ARRAY_INDEX: '1' });
  assert.equal(batch.code, 0, batch.stderr);
  assert.deepEqual((JSON.parse(batch.stdout) as { rows: { index: number; status: string }[] }).rows.map((r) => [r.index, r.status]), [[1, 'no-data']]);
  const status = await clay(['status', '--sample', sample, '--out', outDir]);
  assert.equal(status.code, 4);
  assert.equal((JSON.parse(status.stdout) as { indices: string }).indices, '0');
});

test('train.Dockerfile: build and deps stages on node:20-slim, a PyTorch CUDA runtime with that Node, dist/, the engine package; every COPY source in the context', () => {
  const stages = parseDockerfile(readFileSync(join(ROOT, 'deploy/train.Dockerfile'), 'utf8'));
  assert.deepEqual(stages.map((s) => s.name), ['build', 'deps', 'train']);
  assert.deepEqual(stages.slice(0, 2).map((s) => s.from), ['node:20-slim', 'node:20-slim']);
  const train = stages[2]!;
  assert.match(train.from, /^pytorch\/pytorch:2\.\d+\.\d+-cuda\d+\.\d+-cudnn\d+-runtime$/);
  const copies = train.instructions.filter((i) => i.keyword === 'COPY');
  const from = (stage: string): string[] => copies.filter((i) => i.flags.from === stage).flatMap((i) => copyParts(i).sources);
  assert.deepEqual(from('deps').sort(), ['/opt/clay/node_modules', '/usr/local/bin/node']);
  assert.deepEqual(from('build'), ['/src/dist']);
  const own = copies.filter((i) => i.flags.from === undefined).flatMap((i) => copyParts(i).sources);
  assert.ok(own.includes('engines/torch'), 'the engine package beside dist/ (torchPackageDir looks in ../../engines/torch)');
  for (const stage of stages) {
    for (const i of stage.instructions.filter((x) => x.keyword === 'COPY' && x.flags.from === undefined)) {
      for (const src of copyParts(i).sources) {
        assert.ok(existsSync(join(ROOT, src)), `COPY ${src}: not in the repository`);
        assert.ok(!ignored(src, dockerignore), `COPY ${src}: excluded by .dockerignore`);
      }
    }
  }
  assert.ok(ignored('engines/torch/tests/conftest.py', dockerignore) && ignored('engines/torch/clay_torch/__pycache__/serve.cpython-311.pyc', dockerignore));
  assert.ok(train.instructions.some((i) => i.keyword === 'ENV' && /CLAY_PYTHON=\/opt\/conda\/bin\/python/.test(i.text)));
  assert.deepEqual(JSON.parse(train.instructions.filter((i) => i.keyword === 'ENTRYPOINT').at(-1)!.text), ['clay']);
  assert.ok(train.instructions.some((i) => i.keyword === 'RUN' && /clay --help/.test(i.text) && /import torch/.test(i.text)), 'the image checks both sides at build time');
});
