/**
 * The S3 `ObjectStore`: a key is an object under `s3://bucket/prefix/`. The only file that imports the AWS
 * SDK. Settings come from the usual AWS environment (see `s3Settings`); retries are the SDK's (standard
 * mode: exponential backoff with jitter on throttling, 5xx and network errors), which is the one retrying
 * layer for S3 calls, so this file does not retry on its own.
 */
import { isIP } from 'node:net';
import {
  DeleteObjectCommand, DeleteObjectsCommand, GetObjectCommand, HeadBucketCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { ClayError, errorMessage } from '../errors.ts';
import { checkKey, checkPrefix, checkRange, isValidKey } from './keys.ts';
import type { ObjectStore, StoreCallOptions, StoreEntry, VersionedObject } from './store.ts';

/** The S3 client settings read from the environment. */
export interface S3Settings {
  /** `AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL`; undefined means AWS itself. */
  endpoint: string | undefined;
  /** `AWS_REGION`, else `AWS_DEFAULT_REGION`, else `us-east-1`. */
  region: string;
  /** `AWS_S3_FORCE_PATH_STYLE` is `true`/`1`, or the endpoint's host is an IP address or `localhost`. */
  forcePathStyle: boolean;
  /** Attempts per request, first one included: `AWS_MAX_ATTEMPTS`, else 5. */
  maxAttempts: number;
}

/** Attempts per S3 request when `AWS_MAX_ATTEMPTS` is unset (the SDK's own default is 3). */
export const DEFAULT_S3_MAX_ATTEMPTS = 5;

/** Reads `S3Settings` from `env`; a malformed endpoint or attempt count is `ClayError('BAD_ARGUMENT')`. */
export function s3Settings(env: NodeJS.ProcessEnv): S3Settings {
  const endpointVar = env.AWS_ENDPOINT_URL_S3 ? 'AWS_ENDPOINT_URL_S3' : env.AWS_ENDPOINT_URL ? 'AWS_ENDPOINT_URL' : undefined;
  const endpoint = endpointVar && env[endpointVar];
  let host: string | undefined;
  if (endpoint) {
    try {
      const url = new URL(endpoint);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`unsupported protocol ${url.protocol}`);
      host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    } catch (err) {
      // The variable's name, not its value: an endpoint URL may carry credentials.
      throw new ClayError('BAD_ARGUMENT', `${endpointVar} is not an http(s) URL: ${errorMessage(err)}`, { input: endpointVar, cause: err });
    }
  }
  const attempts = env.AWS_MAX_ATTEMPTS?.trim();
  const maxAttempts = attempts ? Number(attempts) : DEFAULT_S3_MAX_ATTEMPTS;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
    throw new ClayError('BAD_ARGUMENT', `AWS_MAX_ATTEMPTS must be a whole number >= 1, not ${JSON.stringify(attempts)}`, { input: 'AWS_MAX_ATTEMPTS' });
  }
  const forced = /^(true|1)$/i.test(env.AWS_S3_FORCE_PATH_STYLE?.trim() ?? '');
  return {
    endpoint: endpoint || undefined,
    region: env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1',
    // Virtual-hosted addressing needs a DNS name per bucket, which an IP address or localhost cannot give.
    forcePathStyle: forced || (host !== undefined && (isIP(host) !== 0 || host === 'localhost')),
    maxAttempts,
  };
}

/** An `ObjectStore` over `s3://bucket/prefix`. */
export class S3Store implements ObjectStore {
  readonly kind = 's3';
  /** `s3://bucket` or `s3://bucket/prefix`, no trailing slash. */
  readonly root: string;
  /** The bucket name. */
  readonly bucket: string;
  /** The key prefix inside the bucket: '' or a folder ending in '/'. */
  readonly prefix: string;
  readonly #client: S3Client;
  #bucketChecked: Promise<void> | undefined;

  /**
   * `prefix` is '' or a folder ending in '/' (`openStore` also checks the bucket name). Credentials: `AWS_ACCESS_KEY_ID`
   * + `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`) in `env`, else the SDK's default chain (process
   * environment, `AWS_PROFILE` / shared config files, SSO, web identity, container and instance roles).
   */
  constructor(bucket: string, prefix: string, env: NodeJS.ProcessEnv = process.env) {
    checkPrefix(prefix, true);
    this.bucket = bucket;
    this.prefix = prefix;
    this.root = `s3://${bucket}${prefix ? `/${prefix.slice(0, -1)}` : ''}`;
    this.#client = new S3Client(clientConfig(s3Settings(env), env));
  }

  /** The `s3://bucket/prefix/key` URL of `key`. */
  url(key: string): string {
    checkKey(key);
    return `${this.root}/${key}`;
  }

  /** One PutObject with the whole body: S3 makes it atomic. */
  async put(key: string, body: Uint8Array | readonly Uint8Array[], options: StoreCallOptions & { contentType?: string } = {}): Promise<number> {
    const url = this.url(key);
    const bytes = body instanceof Uint8Array ? body : concat(body);
    await this.#send('put', url, options.signal, () => this.#client.send(new PutObjectCommand({
      Bucket: this.bucket, Key: this.prefix + key, Body: bytes, ContentLength: bytes.byteLength,
      ...(options.contentType ? { ContentType: options.contentType } : {}),
    }), sendOptions(options.signal)));
    return bytes.byteLength;
  }

  /**
   * PutObject with `If-None-Match: *`. 412: the key exists; 409: another conditional write of it is in
   * flight (S3's ConditionalRequestConflict). A 412 after the SDK retried may answer this call's own first
   * attempt, whose reply was lost: the object is then read, and holding exactly `body` it is this call's.
   */
  async create(key: string, body: Uint8Array, options: StoreCallOptions = {}): Promise<string | undefined> {
    const url = this.url(key);
    const retried = await this.#send('put', url, options.signal, async () => {
      try {
        const res = await this.#client.send(new PutObjectCommand({
          Bucket: this.bucket, Key: this.prefix + key, Body: body, ContentLength: body.byteLength, IfNoneMatch: '*',
        }), sendOptions(options.signal));
        return { version: etagOf(res.ETag, url) };
      } catch (err) {
        const status = httpStatus(err);
        if (status === 412 || status === 409) return { retried: attempts(err) > 1 };
        throw err;
      }
    });
    if ('version' in retried) return retried.version;
    return retried.retried ? this.#ownVersion(key, body, options) : undefined;
  }

  /** GetObject: the bytes, the ETag and LastModified. */
  async getVersioned(key: string, options: StoreCallOptions = {}): Promise<VersionedObject | undefined> {
    const url = this.url(key);
    return this.#send('get', url, options.signal, async () => {
      try {
        const res = await this.#client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }), sendOptions(options.signal));
        if (!res.Body) throw new Error('response without a body');
        const body = await res.Body.transformToByteArray();
        return { body, version: etagOf(res.ETag, url), modified: res.LastModified ?? new Date(0) };
      } catch (err) {
        if (errorName(err) === 'NoSuchKey') return undefined;
        throw err;
      }
    });
  }

  /**
   * PutObject with `If-Match: version` (AWS S3 since 2024-11). 412: another version; 404: gone; 409:
   * another conditional write in flight. As with `create`, a refusal after a retry is checked against the
   * bytes now there.
   */
  async replaceIf(key: string, version: string, body: Uint8Array, options: StoreCallOptions = {}): Promise<string | undefined> {
    const url = this.url(key);
    const out = await this.#send('put', url, options.signal, async () => {
      try {
        const res = await this.#client.send(new PutObjectCommand({
          Bucket: this.bucket, Key: this.prefix + key, Body: body, ContentLength: body.byteLength, IfMatch: version,
        }), sendOptions(options.signal));
        return { version: etagOf(res.ETag, url) };
      } catch (err) {
        const status = httpStatus(err);
        if (status === 412 || status === 409 || status === 404) return { retried: attempts(err) > 1 };
        throw err;
      }
    });
    if ('version' in out) return out.version;
    return out.retried ? this.#ownVersion(key, body, options) : undefined;
  }

  /**
   * DeleteObject with `If-Match: version` (AWS S3 since 2025-09). 412: another version; 404: gone (after a
   * retry, most likely by this call's own first attempt).
   */
  async removeIf(key: string, version: string, options: StoreCallOptions = {}): Promise<boolean> {
    const url = this.url(key);
    return this.#send('remove', url, options.signal, async () => {
      try {
        await this.#client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.prefix + key, IfMatch: version }), sendOptions(options.signal));
        return true;
      } catch (err) {
        const status = httpStatus(err);
        if (status === 404) return attempts(err) > 1;
        if (status === 412 || status === 409) return false;
        throw err;
      }
    });
  }

  /** The version of the object at `key` if it holds exactly `body`. */
  async #ownVersion(key: string, body: Uint8Array, options: StoreCallOptions): Promise<string | undefined> {
    const now = await this.getVersioned(key, options);
    return now && Buffer.compare(now.body, body) === 0 ? now.version : undefined;
  }

  async get(key: string, options: StoreCallOptions = {}): Promise<Uint8Array | undefined> {
    const url = this.url(key);
    return this.#send('get', url, options.signal, async () => {
      try {
        const res = await this.#client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }), sendOptions(options.signal));
        if (!res.Body) throw new Error('response without a body');
        return await res.Body.transformToByteArray();
      } catch (err) {
        if (errorName(err) === 'NoSuchKey') return undefined;
        throw err;
      }
    });
  }

  /** GetObject with `Range: bytes=offset-(offset+length-1)`. */
  async getRange(key: string, offset: number, length: number, options: StoreCallOptions = {}): Promise<Uint8Array | undefined> {
    const url = this.url(key);
    checkRange(url, offset, length);
    const bytes = await this.#send('get', url, options.signal, async () => {
      try {
        const res = await this.#client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.prefix + key, Range: `bytes=${offset}-${offset + length - 1}` }), sendOptions(options.signal));
        if (!res.Body) throw new Error('response without a body');
        return await res.Body.transformToByteArray();
      } catch (err) {
        if (errorName(err) === 'NoSuchKey') return undefined;
        // 416: the range starts past the end.
        if (httpStatus(err) === 416) return new Uint8Array(0);
        throw err;
      }
    });
    if (bytes !== undefined && bytes.length !== length) throw new ClayError('IO', `${url}: bytes ${offset}-${offset + length - 1} asked, ${bytes.length} came back (the object is shorter)`, { input: url });
    return bytes;
  }

  /** HeadObject. A 404 cannot tell a missing key from a missing bucket, so the first 404 checks the bucket once. */
  async exists(key: string, options: StoreCallOptions = {}): Promise<boolean> {
    const url = this.url(key);
    return this.#send('check', url, options.signal, async () => {
      try {
        await this.#client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }), sendOptions(options.signal));
        return true;
      } catch (err) {
        if (httpStatus(err) !== 404) throw err;
      }
      await this.#bucketExists();
      return false;
    });
  }

  /** ListObjectsV2, page by page, in S3's key order (UTF-8 bytes); keys other tools wrote that are not valid store keys (folder markers ending in '/', '//') are skipped. */
  async *list(prefix: string, options: StoreCallOptions = {}): AsyncGenerator<StoreEntry> {
    checkPrefix(prefix, true);
    yield* this.#listRaw(prefix, options.signal, (key) => isValidKey(key));
  }

  async remove(key: string, options: StoreCallOptions = {}): Promise<void> {
    const url = this.url(key);
    // DeleteObject of a missing key succeeds in S3; a missing bucket is an error, as it should be.
    await this.#send('remove', url, options.signal, () => this.#client.send(new DeleteObjectCommand({
      Bucket: this.bucket, Key: this.prefix + key,
    }), sendOptions(options.signal)));
  }

  /** Lists every object under `prefix` (folder markers and odd keys too) and deletes them, one DeleteObjects per listed page of at most 1000. */
  async removePrefix(prefix: string, options: StoreCallOptions = {}): Promise<number> {
    checkPrefix(prefix, false);
    const url = `${this.root}/${prefix}`;
    let batch: string[] = [];
    let count = 0;
    const flush = async (): Promise<void> => {
      const keys = batch;
      batch = [];
      await this.#send('remove', url, options.signal, () => this.#client.send(new DeleteObjectsCommand({
        Bucket: this.bucket, Delete: { Objects: keys.map((k) => ({ Key: this.prefix + k })), Quiet: true },
      }), sendOptions(options.signal)).then(deleteErrors));
      count += keys.length;
    };
    // S3 continuation tokens name the last key returned, so deleting behind the listing is safe.
    for await (const entry of this.#listRaw(prefix, options.signal, () => true)) {
      batch.push(entry.key);
      if (batch.length === 1000) await flush();
    }
    if (batch.length > 0) await flush();
    return count;
  }

  async *#listRaw(prefix: string, signal: AbortSignal | undefined, keep: (key: string) => boolean): AsyncGenerator<StoreEntry> {
    const url = `${this.root}/${prefix}`;
    let token: string | undefined;
    do {
      const page = await this.#send('list', url, signal, () => this.#client.send(new ListObjectsV2Command({
        Bucket: this.bucket, Prefix: this.prefix + prefix, ...(token ? { ContinuationToken: token } : {}),
      }), sendOptions(signal)));
      for (const object of page.Contents ?? []) {
        const key = object.Key?.slice(this.prefix.length);
        if (key && keep(key)) yield { key, size: object.Size ?? 0 };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /** HeadBucket, once per store while it succeeds; shared by concurrent callers, so it takes no caller's signal. */
  #bucketExists(): Promise<void> {
    this.#bucketChecked ??= this.#client.send(new HeadBucketCommand({ Bucket: this.bucket })).then(
      () => undefined,
      (err: unknown) => {
        this.#bucketChecked = undefined; // a failed check (network, missing bucket) is redone by the next call
        if (httpStatus(err) === 404) throw new Error(`NoSuchBucket: the bucket ${this.bucket} does not exist`, { cause: err });
        throw err;
      },
    );
    return this.#bucketChecked;
  }

  /** Runs one SDK call; every failure becomes `ClayError('IO')` for `url` (the abort code when `signal` fired). */
  async #send<T>(action: string, url: string, signal: AbortSignal | undefined, call: () => Promise<T>): Promise<T> {
    if (signal?.aborted) throw aborted(action, url, signal);
    try {
      return await call();
    } catch (err) {
      if (signal?.aborted) throw aborted(action, url, signal);
      // SDK messages name the operation and the server's reason; they carry no credentials.
      const name = errorName(err);
      const reason = name && name !== 'Error' && !errorMessage(err).includes(name) ? `${name}: ${errorMessage(err)}` : errorMessage(err);
      throw new ClayError('IO', `cannot ${action} ${url}: ${reason}`, { input: url, cause: err });
    }
  }
}

function clientConfig(settings: S3Settings, env: NodeJS.ProcessEnv): S3ClientConfig {
  const { AWS_ACCESS_KEY_ID: id, AWS_SECRET_ACCESS_KEY: secret, AWS_SESSION_TOKEN: token, AWS_PROFILE: profile } = env;
  return {
    region: settings.region,
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    forcePathStyle: settings.forcePathStyle,
    maxAttempts: settings.maxAttempts,
    // Explicit keys win; otherwise the SDK's default chain (which reads process.env, not `env`).
    ...(id && secret ? { credentials: { accessKeyId: id, secretAccessKey: secret, ...(token ? { sessionToken: token } : {}) } } : {}),
    ...(profile ? { profile } : {}),
    // A bucket in another region answers 301; follow it instead of failing.
    followRegionRedirects: true,
    // Newer SDKs add CRC32 checksums to every PUT and validate them on GET; S3-compatible servers that
    // predate that (s3rver, older MinIO/Ceph) choke on them. Checksums stay where the API requires them.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // No timeouts by default in the SDK: a dead connection would hang the job forever.
    requestHandler: { connectionTimeout: 10_000, socketTimeout: 120_000 },
  };
}

function sendOptions(signal: AbortSignal | undefined): { abortSignal?: AbortSignal } {
  return signal ? { abortSignal: signal } : {};
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  if (chunks.length === 1 && chunks[0]) return chunks[0];
  return Buffer.concat(chunks);
}

/** DeleteObjects answers 200 with per-key errors; those are failures too. */
function deleteErrors(res: { Errors?: { Key?: string; Code?: string; Message?: string }[] }): void {
  const first = res.Errors?.[0];
  if (first) throw new Error(`${res.Errors?.length} object(s) not deleted, first ${first.Key}: ${first.Code ?? ''} ${first.Message ?? ''}`.trim());
}

function errorName(err: unknown): string {
  return err instanceof Error ? err.name : '';
}

function httpStatus(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null || !('$metadata' in err)) return undefined;
  const meta = err.$metadata;
  return typeof meta === 'object' && meta !== null && 'httpStatusCode' in meta && typeof meta.httpStatusCode === 'number' ? meta.httpStatusCode : undefined;
}

/** How many attempts the SDK made for the call that failed with `err` (1 when it does not say). */
function attempts(err: unknown): number {
  if (typeof err !== 'object' || err === null || !('$metadata' in err)) return 1;
  const meta = err.$metadata;
  return typeof meta === 'object' && meta !== null && 'attempts' in meta && typeof meta.attempts === 'number' ? meta.attempts : 1;
}

/** The ETag of a response: the version the conditional calls send back. */
function etagOf(etag: string | undefined, url: string): string {
  if (!etag) throw new ClayError('IO', `${url}: the S3 server answered without an ETag`, { input: url });
  return etag;
}

function aborted(action: string, url: string, signal: AbortSignal): ClayError {
  return new ClayError('HTTP_ABORTED', `${action} of ${url} aborted`, { input: url, cause: signal.reason });
}
