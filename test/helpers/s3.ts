/**
 * An S3-compatible server on loopback for tests: s3rver on 127.0.0.1 with an ephemeral port, its data in a
 * fresh temporary folder, one bucket created before the first request. The returned `env` is what a store
 * (or a child process running the CLI) needs to talk to it: `openStore('s3://<bucket>/prefix', { env })`,
 * or `spawn(..., { env: { ...process.env, ...s3.env } })`. Nothing leaves the machine.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The part of s3rver's API this helper uses (the package ships no types). */
interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}
type S3rverConstructor = new (options: {
  address: string;
  port: number;
  silent: boolean;
  directory: string;
  configureBuckets: { name: string; configs: string[] }[];
}) => S3rverInstance;

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
}

/** Starts s3rver on 127.0.0.1 with an ephemeral port, silent, with one empty bucket. */
export async function startS3(options: StartS3Options = {}): Promise<S3Server> {
  const bucket = options.bucket ?? 'clay-test';
  // s3rver is CommonJS without types: load it through require and describe the little we use.
  const S3rver = createRequire(import.meta.url)('s3rver') as S3rverConstructor;
  const dir = await mkdtemp(join(tmpdir(), 'clay-s3rver-'));
  let server: S3rverInstance;
  let address: AddressInfo;
  try {
    server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: dir, configureBuckets: [{ name: bucket, configs: [] }] });
    // run() resolves with the http server's address(), which carries the port the OS picked for port 0.
    address = await server.run();
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const endpoint = `http://127.0.0.1:${address.port}`;
  const env: Record<string, string> = {
    AWS_ENDPOINT_URL_S3: endpoint,
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_REGION: 'us-east-1',
    AWS_S3_FORCE_PATH_STYLE: 'true',
  };
  let closed = false;
  return {
    endpoint,
    bucket,
    env,
    dir,
    async close() {
      if (closed) return;
      closed = true;
      try {
        await server.close();
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}
