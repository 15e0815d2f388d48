/**
 * The Kubernetes Indexed Job and the AWS Batch job definition, parsed (YAML by python3's PyYAML, the one
 * YAML parser at hand; JSON by JSON.parse) and checked field by field; then their container commands run
 * as the engines would run them (`$(VAR)` / `Ref::name` substituted, the array index in
 * JOB_COMPLETION_INDEX / AWS_BATCH_JOB_ARRAY_INDEX) against the loopback Planetary Computer and a loopback
 * S3 server; and both submit scripts in dry-run mode, sizing the job from `clay status`.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { loadUniverse } from '../../core/mini-pc/universe.ts';
import { startMiniPc, type MiniPc } from '../../core/mini-pc/server.ts';
import { openStore } from '../../core/store/open-store.ts';
import type { StatusReport } from '../../cli/commands/status.ts';
import { runCli } from '../helpers/cli.ts';
import { BUNDLED_DIR } from '../helpers/bundled.ts';
import { startS3, type S3Server } from '../helpers/s3.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ENTRY = fileURLToPath(new URL('../../cli/run.ts', import.meta.url));
const run = promisify(execFile);

/** A YAML file as JSON, through PyYAML's safe loader. */
async function loadYaml(path: string): Promise<unknown> {
  const script = 'import json, sys, yaml\njson.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)';
  try {
    return JSON.parse((await run('python3', ['-c', script, path])).stdout) as unknown;
  } catch (err) {
    throw new Error(`python3 with PyYAML is needed to parse ${path} (Debian: apt-get install python3-yaml): ${String(err)}`);
  }
}

/** A YAML document from text, through PyYAML. */
async function parseYaml(text: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', 'import json, sys, yaml\njson.dump(yaml.safe_load(sys.stdin), sys.stdout)'], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out) as unknown) : reject(new Error(`PyYAML exit ${code}`))));
    child.stdin.end(text);
  });
}

interface EnvVar { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean }; fieldRef?: { fieldPath: string } } }
interface K8sJob {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: {
    completionMode: string; completions: number; parallelism: number; backoffLimitPerIndex: number; maxFailedIndexes: number;
    podFailurePolicy?: { rules: { action: string; onExitCodes?: { containerName: string; operator: string; values: number[] }; onPodConditions?: { type: string }[] }[] };
    template: { spec: { restartPolicy: string; containers: { name: string; image: string; args: string[]; env: EnvVar[]; resources: { requests: Record<string, string>; limits: Record<string, string> } }[] } };
  };
}
interface BatchDefinition {
  jobDefinitionName: string;
  type: string;
  parameters: Record<string, string>;
  containerProperties: { image: string; command: string[]; resourceRequirements: { type: string; value: string }[]; environment: { name: string; value: string }[] };
  retryStrategy: { attempts: number; evaluateOnExit: { onExitCode?: string; onReason?: string; action: string }[] };
}

let pc: MiniPc;
let s3: S3Server;
let job: K8sJob;
let batch: BatchDefinition;
let sampleUrl: string;
const sampleBytes = (): Promise<Buffer> => readFile(join(BUNDLED_DIR, 'mgrs_sample.fgb'));

before(async () => {
  job = await loadYaml(join(ROOT, 'deploy/kubernetes/indexed-job.yaml')) as K8sJob;
  batch = JSON.parse(await readFile(join(ROOT, 'deploy/aws-batch/job-definition.json'), 'utf8')) as BatchDefinition;
  pc = await startMiniPc({ universe: await loadUniverse(BUNDLED_DIR) });
  s3 = await startS3();
  // The sample file lives in the bucket, as docs/deploy.md says to put it.
  sampleUrl = `s3://${s3.bucket}/clay/mgrs_sample.fgb`;
  await (await openStore(`s3://${s3.bucket}/clay`, { env: s3.env })).put('mgrs_sample.fgb', [await sampleBytes()]);
});

after(async () => {
  await pc.close();
  await s3.close();
});

/** The environment the CLI runs with: the loopback servers in place of the Planetary Computer and AWS. */
const engineEnv = (): Record<string, string> => ({ ...s3.env, CLAY_STAC_API: pc.stacApi, CLAY_SAS_API: pc.sasApi, CLAY_HTTP_BASE_DELAY_MS: '20' });

test('indexed-job.yaml: an Indexed Job with per-index retries, a failure policy, S3 settings from a Secret and output to s3://', () => {
  assert.deepEqual([job.apiVersion, job.kind, job.spec.completionMode], ['batch/v1', 'Job', 'Indexed']);
  const { spec } = job;
  assert.ok(Number.isInteger(spec.completions) && spec.completions === 1203, "completions: Clay v0's 1203 rows (submit.sh sets the real count)");
  assert.ok(spec.parallelism >= 1 && spec.parallelism <= spec.completions);
  assert.ok(spec.backoffLimitPerIndex >= 1 && spec.maxFailedIndexes >= 1);
  const pod = spec.template.spec;
  assert.equal(pod.restartPolicy, 'Never', 'podFailurePolicy and backoffLimitPerIndex need restartPolicy Never');
  assert.equal(pod.containers.length, 1);
  const c = pod.containers[0]!;
  const rules = spec.podFailurePolicy?.rules ?? [];
  assert.deepEqual(rules.find((r) => r.action === 'FailIndex')?.onExitCodes, { containerName: c.name, operator: 'In', values: [2] }, 'bad input (exit 2) is not retried');
  assert.ok(rules.some((r) => r.action === 'Ignore' && r.onPodConditions?.some((p) => p.type === 'DisruptionTarget')));
  assert.equal(c.args[0], 'run');
  assert.ok(c.args.includes('--allow-no-data'));
  assert.ok(c.args.includes('--wait-locked'), 'a unit another run holds is waited for, not skipped (the index would succeed unfinished)');
  // Every $(VAR) of the args is defined in the container's env; the output is an s3:// URL.
  const env = new Map(c.env.map((e) => [e.name, e]));
  for (const ref of c.args.join(' ').matchAll(/\$\((\w+)\)/g)) assert.ok(env.has(ref[1]!), `$(${ref[1]}) is defined`);
  assert.match(env.get('CLAY_OUT')?.value ?? '', /^s3:\/\//);
  assert.equal(env.get('CLAY_SUBSET')?.value, 'all');
  assert.equal(env.get('CLAY_JOB_ID')?.valueFrom?.fieldRef?.fieldPath, "metadata.labels['batch.kubernetes.io/controller-uid']", "the Job's uid names its pods' unit locks");
  for (const name of ['AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_ENDPOINT_URL_S3']) {
    assert.equal(env.get(name)?.valueFrom?.secretKeyRef?.name, 'clay-s3', `${name} from the Secret clay-s3`);
  }
  assert.equal(env.get('AWS_ENDPOINT_URL_S3')?.valueFrom?.secretKeyRef?.optional, true, 'AWS itself needs no endpoint');
  assert.ok(c.resources.requests.memory && c.resources.limits.memory && c.resources.requests.cpu);
});

test('job-definition.json: the container command, parameter defaults for every Ref::, resources, and no retry of bad input', () => {
  assert.deepEqual([batch.jobDefinitionName, batch.type], ['clay-chips', 'container']);
  const { command, resourceRequirements } = batch.containerProperties;
  assert.equal(command[0], 'run');
  assert.ok(command.includes('--wait-locked'));
  for (const ref of command.join(' ').matchAll(/Ref::(\w+)/g)) assert.ok(batch.parameters[ref[1]!] !== undefined, `a default for Ref::${ref[1]}`);
  assert.match(batch.parameters.out ?? '', /^s3:\/\//);
  assert.equal(batch.parameters.subset, 'all');
  const res = new Map(resourceRequirements.map((r) => [r.type, Number(r.value)]));
  assert.ok((res.get('VCPU') ?? 0) >= 1 && (res.get('MEMORY') ?? 0) >= 1024);
  assert.deepEqual(batch.retryStrategy.evaluateOnExit[0], { onExitCode: '2', action: 'EXIT' });
  assert.ok(batch.retryStrategy.attempts >= 2);
});

test('the commands run as the engines run them: $(VAR) and Ref:: substituted, the row from the array index through --subset', async () => {
  const out = `s3://${s3.bucket}/clay/chips`;
  // Kubernetes: the kubelet expands $(VAR) from the container's env; JOB_COMPLETION_INDEX=1 of CLAY_SUBSET 1,2 is row 2.
  const c = job.spec.template.spec.containers[0]!;
  const values: Record<string, string> = Object.fromEntries(c.env.filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]));
  Object.assign(values, { CLAY_SAMPLE: sampleUrl, CLAY_OUT: out, CLAY_SUBSET: '1,2' });
  const k8sArgs = c.args.map((a) => a.replace(/\$\((\w+)\)/g, (_, v: string) => values[v] ?? ''));
  const k8s = await runCli(k8sArgs, { ...engineEnv(), JOB_COMPLETION_INDEX: '1' });
  assert.equal(k8s.code, 0, k8s.stderr);
  assert.deepEqual((JSON.parse(k8s.stdout) as { rows: { index: number }[] }).rows.map((r) => r.index), [2]);
  // AWS Batch: Ref::name from the submitted parameters; AWS_BATCH_JOB_ARRAY_INDEX=0 of subset 1,2 is row 1 (no data: exit 0).
  const params: Record<string, string> = { ...batch.parameters, sample: sampleUrl, out, subset: '1,2' };
  const batchArgs = batch.containerProperties.command.map((a) => a.replace(/Ref::(\w+)/g, (_, p: string) => params[p] ?? ''));
  const b = await runCli(batchArgs, { ...engineEnv(), AWS_BATCH_JOB_ARRAY_INDEX: '0' });
  assert.equal(b.code, 0, b.stderr);
  assert.deepEqual((JSON.parse(b.stdout) as { rows: { index: number; status: string }[] }).rows.map((r) => [r.index, r.status]), [[1, 'no-data']]);
  // An array index past the subset is bad input (exit 2: FailIndex / EXIT, never retried).
  const past = await runCli(batchArgs, { ...engineEnv(), AWS_BATCH_JOB_ARRAY_INDEX: '2' });
  assert.equal(past.code, 2);
  assert.match(past.stderr, /error BAD_INDEX: array index 2 is out of range for --subset 1,2/);
  const status = await runCli(['status', '--sample', sampleUrl, '--out', out], s3.env);
  assert.equal(status.code, 4);
  assert.equal((JSON.parse(status.stdout) as StatusReport).indices, '0');
});

/** Runs a submit script in dry-run mode with `clay` from this checkout. */
function submit(script: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [join(ROOT, script), ...args], {
      env: { ...process.env, ...s3.env, DRY_RUN: '1', CLAY: `${process.execPath} --import tsx ${ENTRY}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The words of a shell command line (as bash reads what `printf %q` wrote). */
async function shellWords(line: string): Promise<string[]> {
  const { stdout } = await run('bash', ['-c', `eval "set -- $1"; printf '%s\\0' "$@"`, 'words', line.trim()]);
  return stdout.split('\0').slice(0, -1);
}

test('submit scripts (dry run): the job sized from clay status, the subset passed; nothing to submit when complete', async () => {
  const fresh = `s3://${s3.bucket}/clay/fresh`;
  const b = await submit('deploy/aws-batch/submit.sh', ['my-queue', sampleUrl, fresh]);
  assert.equal(b.code, 0, b.stderr);
  const words = await shellWords(b.stdout);
  assert.deepEqual(words.slice(0, 3), ['aws', 'batch', 'submit-job']);
  const flag = (w: string[], name: string): string | undefined => w[w.indexOf(name) + 1];
  assert.match(flag(words, '--job-name') ?? '', /^clay-chips-\d{8}-\d{6}$/);
  assert.deepEqual([flag(words, '--job-queue'), flag(words, '--job-definition'), flag(words, '--array-properties')], ['my-queue', 'clay-chips', 'size=3']);
  assert.deepEqual(JSON.parse(flag(words, '--parameters') ?? ''), { sample: sampleUrl, out: fresh, subset: '0-2' });
  const k = await submit('deploy/kubernetes/submit.sh', [sampleUrl, fresh, 'registry.example/clay:1']);
  assert.equal(k.code, 0, k.stderr);
  const manifest = await parseYaml(k.stdout) as K8sJob;
  const c = manifest.spec.template.spec.containers[0]!;
  const env = Object.fromEntries(c.env.map((e) => [e.name, e.value]));
  assert.deepEqual([manifest.spec.completions, manifest.spec.parallelism, env.CLAY_SUBSET, env.CLAY_SAMPLE, env.CLAY_OUT, c.image], [3, 3, '0-2', sampleUrl, fresh, 'registry.example/clay:1']);
  assert.match(manifest.metadata.name, /^clay-chips-\d{8}-\d{6}$/);
  // The output of the previous test: rows 1 and 2 complete, row 0 left: one row is a plain job, not an array.
  const partial = `s3://${s3.bucket}/clay/chips`;
  const one = await submit('deploy/aws-batch/submit.sh', ['my-queue', sampleUrl, partial]);
  assert.equal(one.code, 0, one.stderr);
  const oneWords = await shellWords(one.stdout);
  assert.equal((JSON.parse(flag(oneWords, '--parameters') ?? '') as { subset: string }).subset, '0');
  assert.ok(!oneWords.includes('--array-properties'));
  const k1 = await parseYaml((await submit('deploy/kubernetes/submit.sh', [sampleUrl, partial])).stdout) as K8sJob;
  assert.deepEqual([k1.spec.completions, k1.spec.template.spec.containers[0]!.image], [1, job.spec.template.spec.containers[0]!.image]);
  // Everything complete: nothing submitted.
  const done = `s3://${s3.bucket}/clay/done`;
  for (const i of [1, 2]) assert.equal((await runCli(['run', '--sample', sampleUrl, '--index', String(i), '--out', done, '--allow-no-data'], engineEnv())).code, 0);
  await (await openStore(done, { env: s3.env })).put('02/status/row-0.json', [new TextEncoder().encode(JSON.stringify({ recordVersion: 1, index: 0, mgrs: '31TGL', planStatus: 'no-data', units: [] }))]);
  const none = await submit('deploy/aws-batch/submit.sh', ['my-queue', sampleUrl, done]);
  assert.equal(none.code, 0, none.stderr);
  assert.equal(none.stdout, '');
  assert.match(none.stderr, /nothing to submit/);
});
