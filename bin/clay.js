#!/usr/bin/env node
// The `clay` command: runs the compiled CLI (built by `npm run build`, which `npm ci` runs through `prepare`).
import '../dist/cli/run.js';
