/** The S3 store beyond the shared contract: settings from the environment, failures, paging, and the wire. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import pLimit from 'p-limit';
import { isClayError } from '../../../core/errors.ts';
import { openStore } from '../../../core/store/open-store.ts';
import { DEFAULT_S3_MAX_ATTEMPTS, s3Settings } from '../../../core/store/s3-store.ts';
import type { StoreEntry } from '../../../core/store/store.ts';
import { startS3, type S3Server } from '../../helpers/s3.ts';

let s3: S3Server;
before(async () => { s3 = await startS3(); });
after(async () => { await s3.close(); });

async function collect(it: AsyncIterable<StoreEntry>): Promise<StoreEntry[]> {
  const out: StoreEntry[] = [];
  for await (const entry of it) out.push(entry);
  return out;
}

/** A TCP server that accepts connections and never answers; `close` drops them. */
async function silentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => sockets.add(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()); }),
  };
}

/** A port on 127.0.0.1 that nothing listens on (bound by the OS, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

test('settings: endpoint, region and attempts precedence', () => {
  assert.deepEqual(s3Settings({}), { endpoint: undefined, region: 'us-east-1', forcePathStyle: false, maxAttempts: DEFAULT_S3_MAX_ATTEMPTS });
  const both = s3Settings({ AWS_ENDPOINT_URL_S3: 'https://s3.example.org', AWS_ENDPOINT_URL: 'https://all.example.org' });
  assert.equal(both.endpoint, 'https://s3.example.org');
  assert.equal(s3Settings({ AWS_ENDPOINT_URL: 'https://all.example.org' }).endpoint, 'https://all.example.org');
  assert.equal(s3Settings({ AWS_REGION: 'eu-west-1', AWS_DEFAULT_REGION: 'us-west-2' }).region, 'eu-west-1');
  assert.equal(s3Settings({ AWS_DEFAULT_REGION: 'us-west-2' }).region, 'us-west-2');
  assert.equal(s3Settings({ AWS_MAX_ATTEMPTS: '2' }).maxAttempts, 2);
});

test('settings: path-style when forced, or for an IP address or localhost endpoint', () => {
  const path = (env: NodeJS.ProcessEnv): boolean => s3Settings(env).forcePathStyle;
  assert.equal(path({ AWS_ENDPOINT_URL_S3: 'https://s3.example.org' }), false);
  assert.equal(path({ AWS_ENDPOINT_URL_S3: 'https://s3.example.org', AWS_S3_FORCE_PATH_STYLE: 'true' }), true);
  assert.equal(path({ AWS_S3_FORCE_PATH_STYLE: '1' }), true);
  assert.equal(path({ AWS_S3_FORCE_PATH_STYLE: 'false' }), false);
  assert.equal(path({ AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9000' }), true);
  assert.equal(path({ AWS_ENDPOINT_URL: 'http://[::1]:9000' }), true);
  assert.equal(path({ AWS_ENDPOINT_URL_S3: 'http://localhost:9000' }), true);
  assert.equal(path({ AWS_ENDPOINT_URL_S3: 'http://minio.internal:9000' }), false);
});

test('settings: a malformed endpoint or attempt count is BAD_ARGUMENT when the store opens', async () => {
  for (const env of [{ AWS_ENDPOINT_URL_S3: 'not a url' }, { AWS_ENDPOINT_URL: 'ftp://x.org' }, { AWS_MAX_ATTEMPTS: '0' }, { AWS_MAX_ATTEMPTS: 'many' }]) {
    await assert.rejects(openStore('s3://bucket/p', { env }), (err) => isClayError(err, 'BAD_ARGUMENT'));
  }
});

test('objects land at bucket/prefix/key on the server, with their content type', async () => {
  const store = await openStore(`s3://${s3.bucket}/wire/p/`, { env: s3.env });
  assert.equal(store.root, `s3://${s3.bucket}/wire/p`);
  await store.put('a/b.tif', new Uint8Array([4, 5, 6]), { contentType: 'image/tiff' });
  // s3rver serves anonymous GETs: an oracle that does not go through our client.
  const res = await fetch(`${s3.endpoint}/${s3.bucket}/wire/p/a/b.tif`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'image/tiff');
  assert.deepEqual(new Uint8Array(await res.arrayBuffer()), new Uint8Array([4, 5, 6]));
});

test('list and removePrefix page past 1000 objects', async () => {
  const store = await openStore(`s3://${s3.bucket}/paging`, { env: s3.env });
  const keys = Array.from({ length: 1001 }, (_, i) => `many/${String(i).padStart(5, '0')}`);
  const limit = pLimit(16);
  await Promise.all(keys.map((key) => limit(() => store.put(key, new Uint8Array([1])))));
  await store.put('other/x', new Uint8Array([1]));
  assert.deepEqual((await collect(store.list('many/'))).map((e) => e.key), keys);
  assert.equal(await store.removePrefix('many/'), keys.length);
  assert.deepEqual(await collect(store.list('')), [{ key: 'other/x', size: 1 }]);
});

test('an unreachable endpoint is an IO error whose input is the s3:// URL', async () => {
  const env = { ...s3.env, AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${await closedPort()}`, AWS_MAX_ATTEMPTS: '2' };
  const store = await openStore(`s3://${s3.bucket}/p`, { env });
  const io = (url: string) => (err: unknown): boolean => isClayError(err, 'IO') && err.input === url && err.cause !== undefined;
  await assert.rejects(store.put('a/b.tif', new Uint8Array([1])), io(`s3://${s3.bucket}/p/a/b.tif`));
  await assert.rejects(store.get('a/b.tif'), io(`s3://${s3.bucket}/p/a/b.tif`));
  await assert.rejects(store.exists('a/b.tif'), io(`s3://${s3.bucket}/p/a/b.tif`));
  await assert.rejects(collect(store.list('a/')), io(`s3://${s3.bucket}/p/a/`));
});

test('a missing bucket is an IO error for every call, exists included', async () => {
  const store = await openStore('s3://no-such-bucket/p', { env: s3.env });
  const io = (err: unknown): boolean => isClayError(err, 'IO') && (err.input ?? '').startsWith('s3://no-such-bucket/p/');
  await assert.rejects(store.put('k', new Uint8Array([1])), io);
  await assert.rejects(store.get('k'), io);
  await assert.rejects(store.exists('k'), io);
  await assert.rejects(store.remove('k'), io);
  await assert.rejects(collect(store.list('')), io);
  await assert.rejects(store.removePrefix('p/'), io);
});

test('error messages carry no secret', async () => {
  const secret = 'sEcReT-kEy-1234567890';
  const store = await openStore('s3://no-such-bucket/p', { env: { ...s3.env, AWS_SECRET_ACCESS_KEY: secret } });
  await assert.rejects(store.put('k', new Uint8Array([1])), (err: unknown) => {
    assert.ok(isClayError(err, 'IO'));
    assert.ok(!err.message.includes(secret) && !(err.stack ?? '').includes(secret));
    return true;
  });
});

test("a signal that fires mid-request reaches the SDK's send: the abort code, not a hang", async () => {
  const silent = await silentServer();
  try {
    const env = { ...s3.env, AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${silent.port}`, AWS_MAX_ATTEMPTS: '1' };
    const store = await openStore(`s3://${s3.bucket}/p`, { env });
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), 100);
    await assert.rejects(store.get('k', { signal: controller.signal }), (err) => isClayError(err, 'HTTP_ABORTED'));
    clearTimeout(timer);
  } finally {
    await silent.close();
  }
});

test('a child process given only the env vars reaches the server', async () => {
  const entry = fileURLToPath(new URL('../../../core/store/open-store.ts', import.meta.url));
  const script = `import { openStore } from ${JSON.stringify(entry)};
const store = await openStore(process.argv[1]);
await store.put('from-child.txt', new TextEncoder().encode('hello'));`;
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, `s3://${s3.bucket}/child`], {
      env: { ...process.env, ...s3.env }, stdio: ['ignore', 'ignore', 'inherit'],
    });
    child.on('error', reject);
    child.on('close', resolve);
  });
  assert.equal(code, 0);
  const store = await openStore(`s3://${s3.bucket}/child`, { env: s3.env });
  assert.equal(new TextDecoder().decode(await store.get('from-child.txt')), 'hello');
});
