import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { PythonRandom, clayYears } from '../../../pipeline/plan/python-random.ts';

// Test vectors from ../shared/PLANETARY-COMPUTER.md (CPython's random.seed(index); random.shuffle(years)).
const KNOWN: Record<number, number[]> = {
  0: [2021, 2019, 2018, 2017, 2022, 2020, 2023],
  1: [2020, 2023, 2022, 2019, 2017, 2021, 2018],
  2: [2019, 2020, 2018, 2021, 2022, 2017, 2023],
  3: [2017, 2019, 2020, 2023, 2022, 2021, 2018],
  7: [2022, 2023, 2021, 2017, 2020, 2018, 2019],
  42: [2018, 2020, 2021, 2019, 2023, 2017, 2022],
  1000: [2019, 2021, 2018, 2022, 2017, 2020, 2023],
};

test('year orders equal the documented CPython shuffles', () => {
  for (const [index, years] of Object.entries(KNOWN)) assert.deepEqual(clayYears(Number(index)), years, `index ${index}`);
});

function python(): string | undefined {
  for (const exe of ['python3', '/usr/bin/python3']) {
    try {
      execFileSync(exe, ['-c', 'import random'], { stdio: 'ignore' });
      return exe;
    } catch {
      // try the next one
    }
  }
  return undefined;
}

test('agrees with this machine\'s CPython on many seeds, raw outputs, random() and large seeds', (t) => {
  const exe = python();
  if (!exe) {
    // CI images always have python3 (node-gyp needs it); a machine without it still ran the vectors above.
    t.diagnostic('python3 not found: compared with the documented vectors only');
    return;
  }
  const seeds = [...Array.from({ length: 60 }, (_, i) => i), 1203, 65535, 2 ** 32 + 5, 123456789012];
  const script = `
import random, json
out = {}
for s in ${JSON.stringify(seeds)}:
    r = random.Random(s)
    years = list(range(2017, 2024)); r.shuffle(years)
    r2 = random.Random(s)
    out[str(s)] = {"years": years, "bits": [r2.getrandbits(32) for _ in range(5)], "float": random.Random(s).random()}
print(json.dumps(out))`;
  const expected = JSON.parse(execFileSync(exe, ['-c', script], { encoding: 'utf8' })) as Record<string, { years: number[]; bits: number[]; float: number }>;
  for (const s of seeds) {
    const e = expected[String(s)]!;
    assert.deepEqual(new PythonRandom(s).shuffle([2017, 2018, 2019, 2020, 2021, 2022, 2023]), e.years, `seed ${s}`);
    const r = new PythonRandom(s);
    assert.deepEqual(Array.from({ length: 5 }, () => r.getrandbits(32)), e.bits, `seed ${s} bits`);
    assert.equal(new PythonRandom(s).random(), e.float, `seed ${s} random()`);
  }
});
