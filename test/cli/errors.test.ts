/**
 * The CLI's errors are one `error CODE: message` line and exit 2 for what the user must fix: commander's
 * own (unknown command or option, missing option or value, no command); a row spec out of range names the
 * flag the user typed (`--indices`, `--subset`, `--rows`); an output that cannot be written at all (an
 * existing file, a folder under a file, a read-only mount, a full volume, a folder the user may not write)
 * is BAD_OUTPUT carrying the system's errno (ENOTDIR, EROFS, ENOSPC, EACCES), found before any work and
 * leaving nothing behind. The mounts need root with CAP_SYS_ADMIN (`mount -t tmpfs`), as
 * test/deploy/full-disk.test.ts does; without it the test fails saying so.
 */
import { existsSync } from 'node:fs';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { runCli, type CliResult } from '../helpers/cli.ts';
import { BUNDLED_DIR } from '../helpers/bundled.ts';

const exec = promisify(execFile);
const ENTRY = fileURLToPath(new URL('../../cli/run.ts', import.meta.url));
const sample = join(BUNDLED_DIR, 'mgrs_sample.fgb');
/** Nothing may be contacted: a bad output is found before the STAC API is asked anything. */
const NO_PC = ['--stac-api', 'http://127.0.0.1:9/api/stac/v1', '--sas-api', 'http://127.0.0.1:9/api/sas/v1'];

let dir: string;
const mounts: string[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'clay-errors-'));
  await chmod(dir, 0o755); // the EACCES case runs the CLI as another user
});

after(async () => {
  for (const m of mounts) await exec('umount', [m]).catch(() => exec('umount', ['-l', m]));
  await rm(dir, { recursive: true, force: true });
});

/** One `error CODE:` line, exit 2; resolves with the line. */
function coded(r: CliResult, code: string, label: string): string {
  assert.equal(r.code, 2, `${label}: ${r.stderr}`);
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('error '));
  assert.equal(lines.length, 1, `${label}: ${r.stderr}`);
  assert.match(lines[0]!, new RegExp(`^error ${code}: `), label);
  return lines[0]!;
}

test("commander's own errors: error BAD_ARGUMENT, exit 2", async () => {
  const cases: string[][] = [
    ['nosuch'],
    ['run', '--sample', sample],
    ['plan', '--sample', sample, '--bogus'],
    ['plan', '--sample'],
    [],
    ['landcover'],
  ];
  for (const args of cases) coded(await runCli(args), 'BAD_ARGUMENT', `clay ${args.join(' ')}`);
  const help = await runCli(['--help']);
  assert.equal(help.code, 0, 'help is not an error');
  assert.doesNotMatch(help.stderr, /^error /m);
});

test('a row spec out of range or malformed names the flag the user typed', async () => {
  const out = join(dir, 'rows');
  const cases: [string[], string, string][] = [
    [['run', '--sample', sample, '--indices', '0-10', '--out', out], 'BAD_INDEX', '--indices'],
    [['run', '--sample', sample, '--indices', 'x', '--out', out], 'BAD_ARGUMENT', '--indices'],
    [['run', '--sample', sample, '--subset', '2-9', '--out', out], 'BAD_INDEX', '--subset'],
    [['status', '--sample', sample, '--indices', '5', '--out', out], 'BAD_INDEX', '--indices'],
    [['plan', '--sample', sample, '--rows', '1-3'], 'BAD_INDEX', '--rows'],
  ];
  for (const [args, code, flag] of cases) {
    const line = coded(await runCli([...NO_PC, ...args]), code, args.join(' '));
    assert.ok(line.includes(flag), `${line} names ${flag}`);
    for (const other of ['--rows', '--indices', '--subset'].filter((f) => f !== flag)) assert.ok(!line.includes(other), `${line} does not name ${other}`);
  }
});

test('chip encoding flags: an unknown codec, or a level the codec does not have, is refused naming the flag', async () => {
  const out = join(dir, 'codec');
  const cases: [string[], RegExp][] = [
    [['--compress', 'lzw'], /^error BAD_ARGUMENT: --compress .*lzw/m],
    [['--compress', 'deflate', '--level', '12'], /^error BAD_ARGUMENT: --level 12 is not a DEFLATE level \(1\.\.9/m],
    [['--compat', 'clay-v0', '--level', '10'], /^error BAD_ARGUMENT: --level 10 is not a DEFLATE level/m],
    [['--compress', 'zstd', '--level', '23'], /^error BAD_ARGUMENT: --level must be an integer >= 1 and <= 22, got '23'/m],
  ];
  for (const [flags, want] of cases) {
    const r = await runCli([...NO_PC, 'run', '--sample', sample, '--index', '0', '--out', out, ...flags]);
    assert.equal(r.code, 2, `${flags.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, want);
  }
  assert.equal(existsSync(join(out, '02')), false, 'nothing was written');
});

/** Mounts a tmpfs at a new folder under `dir` with `options`; resolves with the folder. */
async function tmpfs(name: string, options: string): Promise<string> {
  const at = join(dir, name);
  await mkdir(at);
  try {
    await exec('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', at]);
  } catch (err) {
    throw new Error(`this test needs 'mount -t tmpfs' (root with CAP_SYS_ADMIN): ${String(err)}`);
  }
  mounts.push(at);
  return at;
}

/** Runs the CLI as `nobody` (this process is root, so permissions would not stop it). */
function runAsNobody(args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, ...args], { uid: 65534, gid: 65534, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('an unusable --out: BAD_OUTPUT with the real errno (ENOTDIR, EROFS, ENOSPC, EACCES), exit 2, nothing written', async () => {
  const file = join(dir, 'a-file');
  await writeFile(file, 'not a folder\n');
  const readOnly = await tmpfs('ro', 'ro,size=1m');
  // One inode: the mount's root folder. Creating anything in it is ENOSPC.
  const full = await tmpfs('full', 'size=1m,nr_inodes=1');
  const locked = join(dir, 'locked');
  await mkdir(locked, { mode: 0o555 });
  await chmod(locked, 0o555);
  const run = (out: string): string[] => [...NO_PC, 'run', '--sample', sample, '--index', '2', '--out', out];
  const cases: [string, Promise<CliResult>, string][] = [
    ['an existing file', runCli(run(file)), 'ENOTDIR'],
    ['a folder under a file', runCli(run(join(file, 'out'))), 'ENOTDIR'],
    ['a read-only mount', runCli(run(join(readOnly, 'out'))), 'EROFS'],
    ['the read-only mount itself', runCli(run(readOnly)), 'EROFS'],
    ['a full volume', runCli(run(full)), 'ENOSPC'],
    ['a folder the user may not write', process.getuid?.() === 0 ? runAsNobody(run(locked)) : runCli(run(locked)), 'EACCES'],
    ['a file output on a read-only mount (landcover grid)', runCli(['landcover', 'grid', '--bbox', '5.9,45.5,6.1,45.6', '--out', join(readOnly, 'grid.fgb')]), 'EROFS'],
    ['a file output under a file (plan --out)', runCli([...NO_PC, 'plan', '--sample', sample, '--index', '0', '--out', join(file, 'plan.json')]), 'ENOTDIR'],
  ];
  for (const [label, pending, errno] of cases) {
    const line = coded(await pending, 'BAD_OUTPUT', label);
    assert.ok(line.includes(errno), `${label}: ${line} carries ${errno}`);
  }
  assert.deepEqual(await readdir(readOnly), []);
  assert.deepEqual(await readdir(full), []);
  assert.deepEqual(await readdir(locked), []);
});
