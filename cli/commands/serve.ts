/** `clay serve`: the miniature Planetary Computer on 127.0.0.1, for trying the tools without internet. */
import type { Command } from 'commander';
import { loadUniverse } from '../../core/mini-pc/universe.ts';
import { startMiniPc } from '../../core/mini-pc/server.ts';
import { createContext, type GlobalOptions } from '../context.ts';
import { parseInteger, parseNumber } from '../parse.ts';
import { samplesDir } from '../samples.ts';

/** Registers `clay serve`. */
export function registerServe(program: Command, globals: () => GlobalOptions): void {
  program
    .command('serve')
    .description('serve the bundled miniature Planetary Computer (STAC, SAS tokens, blobs) on 127.0.0.1 until interrupted')
    .option('--data <dir>', 'generated universe folder (default: data-samples/generated)')
    .option('--port <n>', 'port (default: a free one)', (v) => parseInteger(v, '--port', 0, 65535))
    .option('--fault-rate <p>', 'inject seeded random faults (500/503/429/resets/truncation) at this rate', (v) => parseNumber(v, '--fault-rate', 0, 0.9))
    .option('--fault-seed <n>', 'seed of the fault schedule (default 1)', (v) => parseInteger(v, '--fault-seed', 0))
    .option('--token-ttl <s>', 'lifetime of issued SAS tokens in seconds (default 3600; a few seconds expire them mid-run)', (v) => parseInteger(v, '--token-ttl', 1))
    .option('--no-require-token', 'serve blobs without SAS tokens')
    .action(async (opts: { data?: string; port?: number; faultRate?: number; faultSeed?: number; tokenTtl?: number; requireToken: boolean }) => {
      const ctx = createContext(globals());
      const pc = await startMiniPc({
        universe: await loadUniverse(samplesDir(opts.data)),
        requireToken: opts.requireToken,
        ...(opts.port !== undefined ? { port: opts.port } : {}),
        ...(opts.faultRate ? { faults: { rate: opts.faultRate, seed: opts.faultSeed ?? 1 } } : {}),
        ...(opts.tokenTtl !== undefined ? { tokenTtlSeconds: opts.tokenTtl } : {}),
      });
      const blobHost = new URL(pc.origin).host;
      ctx.out(ctx.json ? JSON.stringify({ stacApi: pc.stacApi, sasApi: pc.sasApi, blobHost }) : `STAC API: ${pc.stacApi}\nSAS API:  ${pc.sasApi}\nexport CLAY_STAC_API=${pc.stacApi} CLAY_SAS_API=${pc.sasApi} CLAY_BLOB_HOSTS=${blobHost}`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await pc.close();
    });
}
