/**
 * The distributed-training deploy files: the Kubernetes headless Service + Indexed Job
 * (deploy/kubernetes/train-job.yaml, parsed by PyYAML) and the AWS Batch multi-node parallel job definition
 * (deploy/aws-batch/train-job-definition.json), checked field by field; then each one's container command
 * run as its platform would run it, for two nodes on loopback (`$(VAR)` / `Ref::name` substituted, the node
 * index in JOB_COMPLETION_INDEX / AWS_BATCH_JOB_NODE_INDEX, CPU ranks on gloo, a tiny model and two steps
 * added), ending with one checkpoint in the shared --out; and both submit scripts in dry-run mode.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { bundledChips } from '../helpers/chips.ts';
import { runCli } from '../helpers/cli.ts';
import { freePort } from '../helpers/procs.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const run = promisify(execFile);

async function loadYamlAll(path: string): Promise<unknown[]> {
  const script = 'import json, sys, yaml\njson.dump(list(yaml.safe_load_all(open(sys.argv[1]))), sys.stdout)';
  return JSON.parse((await run('python3', ['-c', script, path])).stdout) as unknown[];
}

interface EnvVar { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string }; secretKeyRef?: { name: string; key: string } } }
interface Service { kind: string; metadata: { name: string }; spec: { clusterIP: string; publishNotReadyAddresses: boolean; selector: Record<string, string>; ports: { port: number }[] } }
interface Job {
  kind: string;
  metadata: { name: string };
  spec: {
    completionMode: string; completions: number; parallelism: number;
    template: { metadata: { labels: Record<string, string> }; spec: { subdomain: string; containers: { args: string[]; env: EnvVar[]; resources: { requests: Record<string, string> }; volumeMounts: { name: string; mountPath: string }[] }[] } };
  };
}

/** What both platforms' runs add for a CPU test: a tiny model, two steps. */
const QUICK = ['--image-size', '64', '--patch-size', '16', '--steps', '2', '--checkpoint-every', '2', '--seed', '5', '--rdzv-timeout', '120'];

test('Kubernetes: a headless Service naming pod 0 for the rendezvous, an Indexed Job of one pod per node; its args train on two nodes here', async () => {
  const [svc, job] = (await loadYamlAll(join(ROOT, 'deploy/kubernetes/train-job.yaml'))) as [Service, Job];
  assert.equal(svc.kind, 'Service');
  assert.equal(svc.spec.clusterIP, 'None');
  assert.equal(svc.spec.publishNotReadyAddresses, true, 'pods are found by name before they are ready');
  assert.equal(job.kind, 'Job');
  const spec = job.spec;
  assert.equal(spec.completionMode, 'Indexed');
  assert.equal(spec.template.spec.subdomain, svc.metadata.name);
  assert.deepEqual(svc.spec.selector, spec.template.metadata.labels);
  const c = spec.template.spec.containers[0]!;
  const env = new Map(c.env.map((e) => [e.name, e.value]));
  assert.equal(spec.completions, Number(env.get('CLAY_NODES')));
  assert.equal(spec.parallelism, spec.completions, 'every node at once: a rendezvous waits for all');
  assert.equal(c.resources.requests['nvidia.com/gpu'], env.get('CLAY_GPUS'));
  const flag = (name: string): string => c.args[c.args.indexOf(name) + 1]!;
  assert.equal(flag('--node-rank'), '$(JOB_COMPLETION_INDEX)');
  assert.equal(flag('--nnodes'), '$(CLAY_NODES)');
  assert.equal(flag('--nproc'), '$(CLAY_GPUS)');
  assert.equal(flag('--rdzv-endpoint'), `${job.metadata.name}-0.${svc.metadata.name}:${svc.spec.ports[0]!.port}`);
  assert.ok(c.args.includes('--resume'), 'a replacement pod resumes');
  const mount = c.volumeMounts.find((m) => m.name === 'runs')!;
  assert.ok(env.get('CLAY_OUT')!.startsWith(`${mount.mountPath}/`), 'checkpoints on the shared volume');

  // The args as the kubelet expands them, for two pods on this machine (pod 0's name does not resolve
  // here: the endpoint is loopback).
  const chips = await bundledChips();
  const dir = await mkdtemp(join(tmpdir(), 'clay-k8s-train-'));
  try {
    const port = await freePort();
    const values: Record<string, string> = {
      CLAY_DATA: chips, CLAY_OUT: join(dir, 'runs'), CLAY_MODEL: 'tiny', CLAY_BATCH: '1', CLAY_DEVICE: 'cpu', CLAY_PRECISION: 'fp32', CLAY_GPUS: '1', CLAY_NODES: '2',
    };
    const podArgs = (index: number): string[] => c.args
      .map((a) => a.replace(/\$\((\w+)\)/g, (_, v: string) => (v === 'JOB_COMPLETION_INDEX' ? String(index) : values[v] ?? `$(${v})`)))
      .map((a) => (a === flag('--rdzv-endpoint') ? `127.0.0.1:${port}` : a)).concat(QUICK);
    for (const a of podArgs(0)) assert.ok(!a.includes('$('), `unexpanded ${a}`);
    const [a, b] = await Promise.all([runCli(podArgs(0)), runCli(podArgs(1))]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    assert.deepEqual(await readdir(join(dir, 'runs', 'checkpoints')), ['latest.json', 'step-00000002']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

interface MultiNode {
  type: string;
  parameters: Record<string, string>;
  nodeProperties: { numNodes: number; mainNode: number; nodeRangeProperties: { targetNodes: string; container: { command: string[]; resourceRequirements: { type: string; value: string }[]; mountPoints: { containerPath: string }[] } }[] };
}

test('AWS Batch: a multi-node parallel job whose nodes find their rank and the main node in the environment; its command trains on two nodes here', async () => {
  const def = JSON.parse(await readFile(join(ROOT, 'deploy/aws-batch/train-job-definition.json'), 'utf8')) as MultiNode;
  assert.equal(def.type, 'multinode');
  assert.equal(def.nodeProperties.mainNode, 0);
  assert.equal(String(def.nodeProperties.numNodes), def.parameters['nodes']);
  const range = def.nodeProperties.nodeRangeProperties;
  assert.deepEqual(range.map((r) => r.targetNodes), ['0:'], 'one container spec for every node');
  const ct = range[0]!.container;
  assert.equal(ct.resourceRequirements.find((r) => r.type === 'GPU')?.value, def.parameters['gpus']);
  assert.ok(def.parameters['out']!.startsWith(`${ct.mountPoints[0]!.containerPath}/`), 'checkpoints on the shared volume');
  assert.ok(!ct.command.includes('--node-rank') && !ct.command.includes('--rdzv-endpoint'), 'taken from the environment');

  const chips = await bundledChips();
  const dir = await mkdtemp(join(tmpdir(), 'clay-batch-train-'));
  try {
    const params: Record<string, string> = { ...def.parameters, data: chips, out: join(dir, 'runs'), model: 'tiny', batch: '1', gpus: '1', nodes: '2' };
    const command = ct.command.map((a) => (a.startsWith('Ref::') ? params[a.slice(5)]! : a)).map((a) => (a === 'cuda' ? 'cpu' : a === 'bf16' ? 'fp32' : a)).concat(QUICK);
    // AWS Batch sets these; the main node's own address is not given to the main node.
    const main = { AWS_BATCH_JOB_NODE_INDEX: '0', AWS_BATCH_JOB_MAIN_NODE_INDEX: '0', AWS_BATCH_JOB_NUM_NODES: '2' };
    const child = { AWS_BATCH_JOB_NODE_INDEX: '1', AWS_BATCH_JOB_MAIN_NODE_INDEX: '0', AWS_BATCH_JOB_NUM_NODES: '2', AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS: '127.0.0.1' };
    const [a, b] = await Promise.all([runCli(command, main), runCli(command, child)]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    assert.deepEqual(await readdir(join(dir, 'runs', 'checkpoints')), ['latest.json', 'step-00000002']);
    assert.ok(a.stderr.includes('"Train:Step"') !== b.stderr.includes('"Train:Step"'), 'one node reports the steps');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('submit scripts (dry run): sizes from NODES and GPUS; an --out off the shared volume is refused', async () => {
  const k8s = await run(join(ROOT, 'deploy/kubernetes/submit-train.sh'), ['s3://b/shards', '/runs/r1', 'img:2'], { env: { ...process.env, DRY_RUN: '1', NODES: '4', GPUS: '2' } });
  assert.match(k8s.stdout, /^ {2}completions: 4$/m);
  assert.match(k8s.stdout, /^ {2}parallelism: 4$/m);
  assert.match(k8s.stdout, /- name: CLAY_NODES\n\s+value: "4"/);
  assert.match(k8s.stdout, /nvidia.com\/gpu: "2"/);
  assert.match(k8s.stdout, /image: img:2/);
  const batch = await run(join(ROOT, 'deploy/aws-batch/submit-train.sh'), ['queue', 's3://b/shards', '/runs/r2'], { env: { ...process.env, DRY_RUN: '1', NODES: '3', GPUS: '4' } });
  assert.match(batch.stdout, /--job-definition clay-train/);
  assert.match(batch.stdout, /nodes=3/);
  assert.match(batch.stdout.replace(/\\/g, ''), /"numNodes":3,"nodePropertyOverrides":\[\{"targetNodes":"0:","containerOverrides":\{"resourceRequirements":\[\{"type":"GPU","value":"4"\}\]/);
  for (const script of ['deploy/kubernetes/submit-train.sh', 'deploy/aws-batch/submit-train.sh']) {
    const argv = script.includes('aws') ? ['q', 's3://b/s', '/tmp/x'] : ['s3://b/s', '/tmp/x'];
    await assert.rejects(run(join(ROOT, script), argv, { env: { ...process.env, DRY_RUN: '1' } }), (e: unknown) => (e as { code: number; stderr: string }).code === 2 && /must be under \/runs/.test((e as { stderr: string }).stderr));
  }
});
