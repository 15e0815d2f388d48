/**
 * The model's programmatic API, `clay-pipeline/model`: Clay v0's masked autoencoder in TensorFlow.js, its
 * training pieces, weights in PyTorch's names, checkpoints, embeddings and reconstructions. A subpath of
 * its own because it loads TensorFlow.js (about 0.5 s and 50 MB): `import 'clay-pipeline'` (the pipeline
 * and the chip stream) never does. Call `initBackend()` before building a model.
 */
export { BAND_GROUPS, NUM_BANDS, EMBEDDING_RULE, MODEL_SIZES, clayConfig, derive, validateConfig, type ModelSize, type BandGroup, type ClayConfig, type DerivedSizes } from './config.ts';
export { initBackend, currentBackend, memoryLimitOf, WASM_MEMORY_LIMIT_BYTES, BACKEND_FLAGS, type BackendChoice, type BackendFlag, type BackendEvent, type BackendInfo, type BackendOptions } from './backend.ts';
export { type GpuAdapterDescription, type GpuLimits } from './webgpu.ts';
export { ClayModel } from './clay.ts';
export { paramSpecs, initParams, disposeParams, countParams, randn, type ClayParams, type ParamSpec } from './params.ts';
export { maskFromNoise, randomMask, type Mask } from './masking.ts';
export { prepareInputs, disposeInputs, patchifyCube, type ClayBatch, type PreparedInputs } from './inputs.ts';
export { AdamW, type AdamWOptions, type Moments } from './adamw.ts';
export { cosineWarmRestartsLr, type WarmRestartsOptions } from './schedule.ts';
export { encodeSafetensors, decodeSafetensors, type NamedTensor, type SafetensorsFile, type SafetensorsDtype } from './safetensors.ts';
export { stateDict, paramsFromStateDict, saveWeights, loadWeights } from './weights.ts';
export { saveCheckpoint, loadCheckpoint, resolveCheckpoint, readCheckpointMeta, type CheckpointMeta, type LoadedCheckpoint } from './checkpoint.ts';
export { loadModelForInference, type InferenceModel, type InferenceOverrides } from './checkpoint-load.ts';
export { estimateFootprint, assertFits, largestFittingBatch, largestTensor, type Footprint, type FootprintMode, type LargestTensor } from './footprint.ts';
export { modelSpec, type ModelSpec } from './model-spec.ts';
export { trainRun, cropBatch, type TrainData, type TrainRunOptions, type TrainResult, type StepEvent, type BatchStream } from './train-run.ts';
export { syntheticTrainData, type SyntheticDataOptions } from './data/synthetic.ts';
export { openChipTrainData, type ChipTrainData, type ChipTrainDataOptions } from './data/train-data.ts';
export { embed, type EmbedOptions } from './embed.ts';
export { embedChips, encodeEmbeddings, embeddingsTable, embeddingsTarget, EMBEDDING_METADATA_KEY, type Embeddings, type EmbeddingInfo } from './embed-file.ts';
export { reconstruct, reconstructionPicture, reconstructionPng, type Reconstruction, type ReconstructionPicture, type VisiblePatches } from './reconstruct.ts';
