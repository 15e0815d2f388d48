/**
 * The `clay` command line. Parses flags (commander), builds the inputs, calls the stages, prints.
 * Errors become one line `error CODE: message` on stderr (the stack with --verbose) and a non-zero exit:
 * 2 for bad arguments or inputs, 1 for other failures; 3 when a command found no matching data (a result,
 * not a failure); 4 when `clay status` finds rows that are not complete.
 */
import { Command, CommanderError } from 'commander';
import { ClayError, errorMessage } from '../core/errors.ts';
import { redactText } from '../core/redact.ts';
import type { GlobalOptions } from './context.ts';
import { parseNumber } from './parse.ts';
import { registerDemo } from './commands/demo.ts';
import { registerEmbed } from './commands/embed.ts';
import { registerLandcover } from './commands/landcover.ts';
import { registerPack } from './commands/pack.ts';
import { registerPlan } from './commands/plan.ts';
import { registerReconstruct } from './commands/reconstruct.ts';
import { registerRun } from './commands/run.ts';
import { registerSearch } from './commands/search.ts';
import { registerServe } from './commands/serve.ts';
import { registerTrain } from './commands/train.ts';
import { registerStatus } from './commands/status.ts';

/** Exit codes of the CLI. */
export const EXIT = { ok: 0, failure: 1, badInput: 2, noData: 3, notComplete: 4 } as const;

const BAD_INPUT_CODES = new Set(['BAD_ARGUMENT', 'BAD_OUTPUT', 'BAD_SAMPLE_FILE', 'BAD_INDEX', 'CHECKPOINT_MISSING', 'CHECKPOINT_INVALID', 'WEIGHTS_INVALID', 'CHIP_CORRUPT', 'SHARDS_INVALID']);

/** Runs the CLI with `argv` (without node and script); resolves with the exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = new Command();
  program
    .name('clay')
    .description('Earth-observation training data from the Planetary Computer, and the Clay foundation model')
    .option('--stac-api <url>', 'STAC API root (env CLAY_STAC_API; default: the Planetary Computer)')
    .option('--sas-api <url>', 'SAS token API root (env CLAY_SAS_API; default: the Planetary Computer)')
    .option('--http-timeout <s>', 'timeout of one HTTP attempt in seconds (default 60); a request with its retries gets twice that, at least 30 s', (v) => parseNumber(v, '--http-timeout', 0.001, 86_400))
    .option('--json', 'print results as JSON even on a TTY')
    .option('-v, --verbose', 'debug logs, and stacks with errors')
    .exitOverride()
    // commander's own errors (unknown command, missing option) are printed below, in the `error CODE:` form.
    .configureOutput({ writeErr: (s) => process.stderr.write(s), outputError: () => undefined });
  const globals = (): GlobalOptions => program.opts<GlobalOptions>();
  let exitCode: number = EXIT.ok;
  registerSearch(program, globals);
  registerPlan(program, globals, (code) => (exitCode = code));
  registerRun(program, globals, (code) => (exitCode = code));
  registerStatus(program, globals, (code) => (exitCode = code));
  registerServe(program, globals);
  registerTrain(program, globals);
  registerPack(program, globals);
  registerDemo(program, globals);
  registerLandcover(program, globals, (code) => (exitCode = code));
  registerEmbed(program, globals, (code) => (exitCode = code));
  registerReconstruct(program, globals);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return EXIT.ok;
      // 'commander.help': no (sub)command given; the help went to stderr and its message is a placeholder.
      const message = err.code === 'commander.help' ? 'a command is required (see the help above)' : err.message.replace(/^error: /, '');
      process.stderr.write(`error BAD_ARGUMENT: ${redactText(message)}\n`);
      return EXIT.badInput;
    }
    const verbose = argv.includes('--verbose') || argv.includes('-v');
    const code = err instanceof ClayError ? err.code : 'INTERNAL';
    process.stderr.write(`error ${code}: ${redactText(errorMessage(err))}\n`);
    if (verbose && err instanceof Error && err.stack) process.stderr.write(redactText(err.stack) + '\n');
    return err instanceof ClayError && BAD_INPUT_CODES.has(err.code) ? EXIT.badInput : EXIT.failure;
  }
}
