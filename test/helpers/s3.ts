/**
 * An S3-compatible server on loopback for tests: s3rver on 127.0.0.1 with an ephemeral port, its data in a
 * fresh temporary folder, one bucket created before the first request, and conditional writes (PUT with
 * `If-None-Match: *` or `If-Match`, DELETE with `If-Match`: s3rver ignores them) answered as S3 answers them. The returned `env` is what a store
 * (or a child process running the CLI) needs to talk to it: `openStore('s3://<bucket>/prefix', { env })`,
 * or `spawn(..., { env: { ...process.env, ...s3.env } })`. Nothing leaves the machine.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The server process: s3rver (CommonJS, untyped) started from argv's JSON options; it prints its address
 * as one JSON line, and exits at once on SIGTERM or when its stdin closes (a test runner that dies takes
 * it along; its data folder is the parent's to remove). It runs in a child because s3rver signs ListObjectsV2 continuation tokens with DES, which
 * OpenSSL 3 (Node >= 17) only offers behind --openssl-legacy-provider: in-process, any listing longer
 * than one page (1000 keys) fails with a 500.
 */
const SERVER = `
const S3rver = require(process.argv[1]);
const server = new S3rver(JSON.parse(process.argv[2]));
// s3rver answers If-None-Match and If-Match only on GET. Conditional writes as S3 does them: a PUT with
// If-None-Match: * is refused (412) when the key exists; a PUT or DELETE with If-Match: <etag> is refused
// (412) when the object's ETag is another, 404 NoSuchKey when there is no object. Conditional requests of one
// key run one at a time, so of racing writers exactly one passes its check.
const chains = new Map();
const fail = (ctx, status, code, message) => {
  ctx.status = status;
  ctx.type = 'application/xml';
  ctx.body = '<?xml version="1.0" encoding="UTF-8"?><Error><Code>' + code + '</Code><Message>' + message + '</Message></Error>';
};
const bare = (etag) => etag.replace(/^W[/]/, "").replace(/^"|"$/g, "");
if (process.argv[3] !== 'plain') server.middleware.unshift(async (ctx, next) => {
  const ifNoneMatch = ctx.method === 'PUT' ? ctx.get('if-none-match') : '';
  const ifMatch = ctx.method === 'PUT' || ctx.method === 'DELETE' ? ctx.get('if-match') : '';
  const [bucket, ...rest] = new URL(ctx.url, 'http://x').pathname.slice(1).split('/').map(decodeURIComponent);
  const key = rest.join('/');
  // S3 replaces an object atomically; s3rver writes its file in place, so a GET during a PUT can read half
  // of the new body. A read of a key waits for the conditional writes of that key in flight.
  if ((ctx.method === 'GET' || ctx.method === 'HEAD') && key && chains.has(bucket + '/' + key)) {
    await chains.get(bucket + '/' + key);
    return next();
  }
  if ((!ifNoneMatch && !ifMatch) || ctx.get('x-amz-copy-source') || ctx.querystring.includes('uploadId')) return next();
  const id = bucket + '/' + key;
  const before = chains.get(id) || Promise.resolve();
  let release;
  const mine = new Promise((r) => (release = r));
  const tail = before.then(() => mine);
  chains.set(id, tail);
  await before;
  try {
    const exists = await server.store.existsObject(bucket, key);
    if (ifNoneMatch) {
      if (ifNoneMatch !== '*') return fail(ctx, 501, 'NotImplemented', 'If-None-Match other than * on PUT');
      if (exists) return fail(ctx, 412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');
    }
    if (ifMatch) {
      if (!exists) return fail(ctx, 404, 'NoSuchKey', 'The specified key does not exist.');
      const etag = (await server.store.getMetadata(bucket, key)).etag;
      if (ifMatch !== '*' && bare(ifMatch) !== bare(etag)) return fail(ctx, 412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');
    }
    await next();
  } finally {
    release();
    if (chains.get(id) === tail) chains.delete(id);
  }
});
const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.stdin.on('end', stop).resume();
server.run().then((a) => process.stdout.write(JSON.stringify({ port: a.port }) + '\\n'), (e) => { console.error(e); process.exit(1); });
`;

/** A running s3rver. */
export interface S3Server {
  /** `http://127.0.0.1:<port>`. */
  endpoint: string;
  /** The bucket created at start. */
  bucket: string;
  /** AWS environment variables pointing the SDK (and our store) at this server, path-style, with its fixed credentials. */
  env: Record<string, string>;
  /** The server's data folder (objects are files under `<dir>/<bucket>/`). */
  dir: string;
  /** Stops the server and removes its data folder. */
  close(): Promise<void>;
}

/** Options of `startS3`. */
export interface StartS3Options {
  /** Bucket name; default `clay-test`. */
  bucket?: string;
  /**
   * `false`: plain s3rver, which ignores the conditions of conditional writes (answers 200 where S3 answers
   * 412), as some older S3-compatible servers do. Default true.
   */
  conditionalWrites?: boolean;
}

/** Starts s3rver on 127.0.0.1 with an ephemeral port, silent, with one empty bucket. */
export async function startS3(options: StartS3Options = {}): Promise<S3Server> {
  const bucket = options.bucket ?? 'clay-test';
  const dir = await mkdtemp(join(tmpdir(), 'clay-s3rver-'));
  const serverOptions = { address: '127.0.0.1', port: 0, silent: true, directory: dir, configureBuckets: [{ name: bucket, configs: [] }] };
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '-e', SERVER, createRequire(import.meta.url).resolve('s3rver'), JSON.stringify(serverOptions), options.conditionalWrites === false ? 'plain' : 'conditional'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let port: number;
  try {
    port = await readPort(child);
  } catch (err) {
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const endpoint = `http://127.0.0.1:${port}`;
  const env: Record<string, string> = {
    AWS_ENDPOINT_URL_S3: endpoint,
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_REGION: 'us-east-1',
    AWS_S3_FORCE_PATH_STYLE: 'true',
  };
  const exited = new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', () => resolve())));
  let closing: Promise<void> | undefined;
  return {
    endpoint,
    bucket,
    env,
    dir,
    close() {
      closing ??= (async () => {
        child.kill('SIGTERM');
        await exited;
        await rm(dir, { recursive: true, force: true });
      })();
      return closing;
    },
  };
}

/** Resolves with the port the server prints once listening; rejects if it exits first. */
function readPort(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (chunk: Buffer): void => {
      out += chunk.toString('utf8');
      const line = out.split('\n')[0];
      if (line === undefined || !out.includes('\n')) return;
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      const port: unknown = (JSON.parse(line) as { port?: unknown }).port;
      if (typeof port === 'number') resolve(port);
      else reject(new Error(`s3rver printed no port: ${line}`));
    };
    const onExit = (code: number | null): void => reject(new Error(`s3rver exited (code ${code}) before listening`));
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
    child.once('error', reject);
  });
}
