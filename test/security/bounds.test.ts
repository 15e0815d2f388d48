/**
 * Bounded against hostile or broken servers (issue 27, point 2): a cap on every decoded body (a gzip bomb),
 * a deadline per request (a server that sends headers, then stalls), `--http-timeout`, and failures no retry
 * can fix (not a URL, not http, a `file:` href) reported at once. Servers on 127.0.0.1 only.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { HttpClient } from '../../core/http.ts';
import { isClayError } from '../../core/errors.ts';
import { startMiniPc } from '../../core/mini-pc/server.ts';
import { PcSigner } from '../../core/stac/pc-signer.ts';
import { RangeReader } from '../../pipeline/read/range-reader.ts';
import { BUNDLED_DIR, assertBundled } from '../helpers/bundled.ts';
import { runCli } from '../helpers/cli.ts';
import { gzipBomb, startHostile, type Handler, type Hostile } from './hostile-server.ts';

const fast = { baseDelayMs: 1, maxDelayMs: 5, random: () => 0.5 };
const MiB = 1024 * 1024;
const sample = join(BUNDLED_DIR, 'mgrs_sample.fgb');

async function withServer<T>(handler: Handler, fn: (s: Hostile) => Promise<T>): Promise<T> {
  const s = await startHostile(handler);
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

/** 1 GiB of zeros in about 1 MB of gzip, as a STAC search reply. */
const bomb = gzipBomb(1024);
const bombHandler: Handler = (_req, res) => {
  res.writeHead(200, { 'content-type': 'application/geo+json', 'content-encoding': 'gzip', 'content-length': String(bomb.byteLength) });
  res.end(bomb);
};

/** Headers, the first bytes of a body, then nothing. */
const stallHandler: Handler = (_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
  res.write('{"type":');
};

test('a gzip bomb (1 MB -> 1 GiB) is HTTP_TOO_LARGE at the default cap, not retried, at bounded memory', async () => {
  await withServer(bombHandler, async (s) => {
    const http = new HttpClient(fast);
    const before = process.resourceUsage().maxRSS;
    await assert.rejects(http.json(`${s.origin}/api/stac/v1/search`, { method: 'POST', body: '{}', idempotent: true, errorCode: 'STAC_HTTP' }), (err: unknown) => isClayError(err, 'HTTP_TOO_LARGE'));
    const grewMiB = (process.resourceUsage().maxRSS - before) / 1024;
    // The cap is 64 MiB of decoded bytes; the whole body would be 1024 MiB (3.2 GB of RSS before the cap).
    assert.ok(grewMiB < 400, `peak RSS grew by ${grewMiB.toFixed(0)} MiB`);
    assert.equal(s.seen.length, 1);
    assert.equal(http.stats.retries, 0);
  });
});

test('the cap is configurable per client and per request, counts decoded bytes, and refuses a declared size past it unread', async () => {
  const big = Buffer.alloc(2 * MiB, 0x20);
  await withServer((req, res) => {
    if (req.url === '/declared') {
      res.writeHead(200, { 'content-length': String(10 * MiB) });
      return void res.end(); // the length is a lie: a reader that trusted it would wait, ours refuses at once
    }
    res.writeHead(200, { 'content-type': 'application/json' }); // chunked: no length to trust
    res.end(req.url === '/small' ? big.subarray(0, MiB - 1) : big);
  }, async (s) => {
    const http = new HttpClient({ ...fast, maxBodyBytes: MiB });
    await assert.rejects(http.request(`${s.origin}/big`), (err: unknown) => isClayError(err, 'HTTP_TOO_LARGE'));
    await assert.rejects(http.request(`${s.origin}/declared`), (err: unknown) => isClayError(err, 'HTTP_TOO_LARGE'));
    assert.equal((await http.request(`${s.origin}/small`)).body.byteLength, MiB - 1);
    assert.equal((await http.request(`${s.origin}/big`, { maxBytes: 4 * MiB })).body.byteLength, 2 * MiB);
    await assert.rejects(new HttpClient(fast).request(`${s.origin}/big`, { maxBytes: MiB }), (err: unknown) => isClayError(err, 'HTTP_TOO_LARGE'));
  });
});

test('clay search against a STAC API that sends a gzip bomb: exit 1, HTTP_TOO_LARGE', async () => {
  assertBundled();
  await withServer(bombHandler, async (s) => {
    const r = await runCli(['--stac-api', `${s.origin}/api/stac/v1`, 'search', '--sample', sample, '--index', '0', '--year', '2021']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^error HTTP_TOO_LARGE: /m);
    assert.equal(s.seen.length, 1, 'not retried');
  });
});

test('a server that sends headers, then stalls: the request deadline ends the retries before the attempt cap', async () => {
  await withServer(stallHandler, async (s) => {
    const http = new HttpClient({ ...fast, maxAttempts: 6, timeoutMs: 300, deadlineMs: 1000 });
    await assert.rejects(http.json(`${s.origin}/api/stac/v1/search`, { method: 'POST', body: '{}', idempotent: true, errorCode: 'STAC_HTTP' }), (err: unknown) => isClayError(err, 'STAC_HTTP'));
    // Each attempt lasts its 300 ms timeout, so at most 4 fit in the 1000 ms deadline: never the 6 allowed.
    assert.ok(s.seen.length >= 1 && s.seen.length <= 4, `${s.seen.length} attempts`);
    assert.equal(http.stats.retryReasons.timeout, s.seen.length - 1);
  });
});

test('--http-timeout sets the timeout of each attempt (a stalled STAC API fails with STAC_HTTP after the 6 attempts); a bad value is exit 2', async () => {
  assertBundled();
  await withServer(stallHandler, async (s) => {
    // At the default 60 s, two attempts would fit in the 120 s deadline; at 0.2 s all six are made.
    const r = await runCli(['--http-timeout', '0.2', '--stac-api', `${s.origin}/api/stac/v1`, 'search', '--sample', sample, '--index', '0', '--year', '2021'], { CLAY_HTTP_BASE_DELAY_MS: '1' });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^error STAC_HTTP: /m);
    assert.equal(s.seen.length, 6);
  });
  for (const value of ['0', 'abc', '-1']) {
    const r = await runCli(['--http-timeout', value, 'search', '--sample', sample, '--index', '0']);
    assert.equal(r.code, 2, `${value}: ${r.stderr}`);
    assert.match(r.stderr, /^error BAD_ARGUMENT: /m);
  }
});

test('what no retry can fix fails at once: not a URL, not http(s), a file: href (HTTP_BAD_URL, no attempt made)', async () => {
  const http = new HttpClient(fast);
  for (const url of ['notaurl', 'ftp://x/y', 'file:///etc/passwd']) {
    await assert.rejects(http.request(url), (err: unknown) => isClayError(err, 'HTTP_BAD_URL'), url);
  }
  assert.equal(http.stats.attempts, 0);
  // A file: asset href through a signed range read: no token asked for, no attempt, coded.
  const pc = await startMiniPc({ universe: { collections: [], items: [] } });
  try {
    const signer = new PcSigner({ http, sasApi: pc.sasApi });
    await assert.rejects(new RangeReader('file:///etc/passwd', { http, signer, collection: 'sentinel-2-l2a' }).read(0, 100), (err: unknown) => isClayError(err, 'HTTP_BAD_URL'));
    assert.equal(signer.stats.tokenRequests, 0);
    assert.equal(http.stats.attempts, 0);
  } finally {
    await pc.close();
  }
});

test('clay with an API root that is not an http(s) URL: exit 2, BAD_ARGUMENT, before any request', async () => {
  assertBundled();
  const search = ['search', '--sample', sample, '--index', '0', '--year', '2021'];
  for (const [args, env] of [
    [['--stac-api', 'notaurl', ...search], {}],
    [['--stac-api', 'ftp://x/y', ...search], {}],
    [['--sas-api', 'notaurl', ...search], {}],
    [search, { CLAY_STAC_API: 'notaurl' }],
  ] as [string[], Record<string, string>][]) {
    const r = await runCli(args, env);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^error BAD_ARGUMENT: /m);
    assert.doesNotMatch(r.stderr, /Http:Retry/);
  }
});
