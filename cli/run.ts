/** Process entry of the `clay` command (bin/clay.js loads the compiled copy). */
import { main } from './main.ts';

process.exitCode = await main(process.argv.slice(2));
