/**
 * Test helper: the golden model (the original's parameters, inputs and mask) on a chosen backend.
 */
import { initBackend, type BackendChoice } from '../../model/backend.ts';
import { ClayModel } from '../../model/clay.ts';
import { disposeInputs, prepareInputs, type PreparedInputs } from '../../model/inputs.ts';
import { maskFromNoise, type Mask } from '../../model/masking.ts';
import { disposeParams, paramsFromTorch, type ClayParams } from '../../model/params.ts';
import type { Golden } from './golden.ts';

/** Backends the model tests run on (both are available everywhere, CI included). */
export const TEST_BACKENDS: readonly BackendChoice[] = ['wasm', 'cpu'];

/** A model built from the golden parameters, with the golden batch and mask. */
export interface GoldenSetup {
  readonly params: ClayParams;
  readonly model: ClayModel;
  readonly inputs: PreparedInputs;
  readonly mask: Mask;
  dispose(): void;
}

/** Builds the golden setup on `backend` (selected quietly). */
export async function goldenSetup(golden: Golden, backend: BackendChoice, params?: ClayParams): Promise<GoldenSetup> {
  await initBackend({ prefer: backend, log: () => {} });
  const cfg = golden.config();
  const p = params ?? paramsFromTorch(cfg, (s) => golden.get(`param/${s.name}`));
  const model = new ClayModel(p);
  const batch = golden.batch();
  const inputs = prepareInputs(cfg, batch);
  const mask = maskFromNoise(cfg, batch.batch, golden.get('mask/noise'));
  return {
    params: p, model, inputs, mask,
    dispose() {
      model.dispose();
      disposeInputs(inputs);
      disposeParams(p);
    },
  };
}
