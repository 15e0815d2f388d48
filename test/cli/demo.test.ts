import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from '../helpers/cli.ts';
import { bundledCases } from '../helpers/bundled.ts';

test('clay demo runs on the bundled universe: searches, a signed read and the plan of row 0', async () => {
  const cases = await bundledCases();
  const r = await runCli(['demo']);
  assert.equal(r.code, 0, r.stderr);
  const done = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { event: string; plan: { dates: string[]; chips: number }; signedBytesRead: number; tokenRequests: number };
  assert.equal(done.event, 'Demo:Done');
  assert.deepEqual(done.plan.dates, cases.rows[0]!.expected!.default.map((d) => d.datetime.slice(0, 10)));
  assert.equal(done.plan.chips, 60);
  assert.equal(done.signedBytesRead, 16384);
  assert.equal(done.tokenRequests, 1);
});
