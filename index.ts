/**
 * clay-pipeline's programmatic API: the stages as typed async functions, and the clients they use.
 * Everything the CLI does is reachable from here without the CLI.
 */
export { ClayError, isClayError, type ErrorCode } from './core/errors.ts';
export { createLogger, silentLogger, type Logger, type LogLevel } from './core/log.ts';
export { redactUrl } from './core/redact.ts';
export { HttpClient, HttpStatusError, type HttpClientOptions, type HttpRequest, type HttpResponse, type HttpStats } from './core/http.ts';
export { StacClient, type SearchBody, type Cql2 } from './core/stac/stac-client.ts';
export { asStacItem, type StacItem, type Affine } from './core/stac/stac-item.ts';
export { asS2Item, asS1Item, asDemItem, asWorldCoverItem, COLLECTIONS, S2_ASSETS, type S2Item, type S1Item, type DemItem, type WorldCoverItem } from './core/stac/pc-items.ts';
export { PcSigner, PC_SAS_API, blobLocation, isSigned } from './core/stac/pc-signer.ts';
export { area, bboxPolygon, centroid, intersects, type Bbox, type GeoJsonGeometry } from './core/geometry.ts';
export { startMiniPc, type MiniPc, type MiniPcOptions } from './core/mini-pc/server.ts';
export { loadUniverse, type Universe } from './core/mini-pc/universe.ts';
export { readSampleFile, readSampleRow, type SampleRow } from './pipeline/sample-file.ts';
export { listItems, type ItemSummary } from './pipeline/search/list-items.ts';
export { s2Query, s1Query, demQuery, yearInterval, dayWindow, S2_LIMITS } from './pipeline/search/queries.ts';
export { boxCoverage, type BoxCoverage } from './core/coverage.ts';
export { writeFileAtomic, isPartialName, type WriteFileAtomicOptions } from './core/atomic-file.ts';
// outputs: a local folder or an s3:// prefix behind one interface (the AWS SDK loads only for s3://)
export { openStore, type OpenStoreOptions } from './core/store/open-store.ts';
export { LocalStore } from './core/store/local-store.ts';
export type { S3Store, S3Settings } from './core/store/s3-store.ts';
export type { ObjectStore, StoreEntry, StoreCallOptions } from './core/store/store.ts';
export { PythonRandom, clayYears } from './pipeline/plan/python-random.ts';
export { plan, type PlanOptions } from './pipeline/plan/plan.ts';
export { selectS1, rankScenes, type S1Selection, type S1CoverageRule, type RankedScene } from './pipeline/plan/select-s1.ts';
export { plannedGrid, chipLayout, estimateBytes } from './pipeline/plan/plan-grid.ts';
export type {
  ScenePlan, PlanMode, PlanStatus, PlannedDate, PlannedGrid, PlannedItem, PlannedScene, YearRecord, YearOutcome,
  AttemptRecord, AttemptOutcome, ByteEstimate,
} from './pipeline/plan/plan-types.ts';
// read + warp (issue 5)
export {
  fromStacAffine, toStacAffine, fullWindow, intersectWindows, invertTransform, pixelCentre, pixelToWorld, worldToPixel,
  pointToArea, sameGrid, subGrid, windowBounds, gridBounds, windowOfBounds, type GeoTransform, type Grid, type Window, type Bounds,
} from './core/grid.ts';
export { Cog, type CogOptions, type CachedTile, type TileDecoder } from './pipeline/read/cog.ts';
export { TileCache, type TileCacheStats } from './pipeline/read/tile-cache.ts';
export { newReadStats, type ReadStats, type BlobAccess } from './pipeline/read/range-reader.ts';
export { coalesceRanges, type ByteRange, type RangeGroup, type CoalesceOptions } from './pipeline/read/ranges.ts';
export type { DType, Raster } from './pipeline/read/raster.ts';
export { pointTransform, projDefinition, isSupportedEpsg, type PointTransform } from './pipeline/warp/proj.ts';
export { coordField, type CoordField, type CoordFieldOptions } from './pipeline/warp/transformer.ts';
export { warpInto, warpMosaic, mosaicOrder, FieldCache, type Resampling, type RasterSource, type WarpOptions, type WarpResult } from './pipeline/warp/warp.ts';
// outputs: GeoParquet, the chip index, its STAC collection (issue 6)
export { encodePolygonWkb, decodePolygonWkb, type Position, type Ring, type RingInput } from './core/wkb.ts';
export {
  writeGeoParquet, readGeoParquet, GEOPARQUET_VERSION, type Column, type ColumnType, type GeoTable, type GeoMetadata, type GeoColumnMetadata,
  type GeoParquetFile, type ParquetCompression, type WriteGeoParquetOptions, type ReadGeoParquetOptions,
} from './core/geoparquet.ts';
export {
  writeChipIndex, readChipIndex, mergeChipIndexes, compareChipRows, CHIP_INDEX_COLUMNS, CHIP_INDEX_VERSION, CHIP_INDEX_VERSION_KEY,
  type ChipIndexRow,
} from './pipeline/index/chip-index.ts';
export {
  chipCollection, CHIP_COLLECTION_KEY, CHIP_EO_BANDS, type ChipCatalog, type ChipCollection, type ChipCollectionOptions, type ChipItem,
  type ChipAsset, type ChipSources, type EoBand, type RasterBand, type StacFile, type StacLink,
} from './pipeline/index/chip-stac.ts';
