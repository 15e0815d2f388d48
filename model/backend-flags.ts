/**
 * The names of the tfjs backends, with no import of tfjs: the CLI validates `--backend` with these
 * without loading tfjs (~50 MB) for commands that never build a model. model/backend.ts uses them.
 */

/** Backends this package knows; `node` and `node-gpu` both register tfjs's 'tensorflow' backend. */
export type BackendChoice = 'node-gpu' | 'node' | 'webgpu' | 'wasm' | 'cpu';

/** What `--backend` and `CLAY_BACKEND` accept: a backend, or `auto` (the automatic order). */
export type BackendFlag = 'auto' | BackendChoice;

/** Every value of BackendFlag, `auto` first (for flags' help and validation). */
export const BACKEND_FLAGS: readonly BackendFlag[] = ['auto', 'node-gpu', 'node', 'webgpu', 'wasm', 'cpu'];

/** True for a value of BackendFlag. */
export function isBackendFlag(v: string): v is BackendFlag {
  return (BACKEND_FLAGS as readonly string[]).includes(v);
}
