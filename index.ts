/**
 * clay-pipeline's programmatic API: the stages as typed async functions, and the clients they use.
 * Everything the CLI does is reachable from here without the CLI.
 */
export { ClayError, isClayError, type ErrorCode } from './core/errors.ts';
export { createLogger, silentLogger, type Logger, type LogLevel } from './core/log.ts';
export { redactUrl } from './core/redact.ts';
export { HttpClient, HttpStatusError, RETRY_CAUSES, httpCounts, snapshotStats, type HttpClientOptions, type HttpCounts, type HttpRequest, type HttpResponse, type HttpStats, type RetryCause } from './core/http.ts';
export { StacClient, type SearchBody, type Cql2 } from './core/stac/stac-client.ts';
export { asStacItem, type StacItem, type Affine } from './core/stac/stac-item.ts';
export { asS2Item, asS1Item, asDemItem, asWorldCoverItem, COLLECTIONS, S2_ASSETS, type S2Item, type S1Item, type DemItem, type WorldCoverItem } from './core/stac/pc-items.ts';
export { PcSigner, PC_SAS_API, PC_BLOB_HOSTS, blobLocation, isSigned } from './core/stac/pc-signer.ts';
export { DEFAULT_MAX_BODY_BYTES } from './core/http-body.ts';
export { area, bboxPolygon, centroid, intersects, type Bbox, type GeoJsonGeometry } from './core/geometry.ts';
export { startMiniPc, type MiniPc, type MiniPcOptions } from './core/mini-pc/server.ts';
export { loadUniverse, type Universe } from './core/mini-pc/universe.ts';
export { readSampleFile, readSampleRow, type SampleRow } from './pipeline/sample-file.ts';
export { listItems, type ItemSummary } from './pipeline/search/list-items.ts';
export { s2Query, s1Query, demQuery, yearInterval, dayWindow, S2_LIMITS } from './pipeline/search/queries.ts';
export { boxCoverage, type BoxCoverage } from './core/coverage.ts';
export { writeFileAtomic, isPartialName, type WriteFileAtomicOptions } from './core/atomic-file.ts';
// outputs: a local folder or an s3:// prefix behind one interface (the AWS SDK loads only for s3://)
export { openStore, openStoreFile, type OpenStoreOptions } from './core/store/open-store.ts';
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
export type { DType, Raster, TileSet } from './pipeline/read/raster.ts';
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
// landcover (issue 7)
export { WORLDCOVER_CLASSES, WORLDCOVER_NODATA, WORLDCOVER_WATER, type WorldCoverClass, type ClassKey } from './landcover/classes.ts';
export { footprintBbox, partBboxes, toMultiPolygon, type Footprint, type GridTile } from './landcover/footprint.ts';
export { computeGrid, squareLetters, tileCorner, bandLatitudes, zoneLongitudes, S2_TILE_SIZE, type ComputedTile, type GridOptions } from './landcover/mgrs-grid.ts';
export { readGridFile, readKml, type GridFile } from './landcover/grid-file.ts';
export { listWorldCover, WorldCoverIndex, DEFAULT_WORLDCOVER_YEAR, type WorldCoverSource } from './landcover/worldcover.ts';
export { accumulateFootprint, type FootprintMode } from './landcover/tile-stats.ts';
export { rowSpans, toPixelSpace, type PixelPolygon } from './landcover/rasterize.ts';
export { computeStats, histogramEntry, DEFAULT_OVERVIEW, type StatsOptions, type StatsSummary, type TileFailure } from './landcover/stats.ts';
export { StatsJournal, type JournalEntry, type StatsSettings, type DropReason } from './landcover/stats-journal.ts';
export { readStatsFile, writeStatsFile, type StatsRow, type ClassCounts } from './landcover/stats-file.ts';
export { drawSample, parseStratum, withOverrides, classFractions, CLAY_V0_STRATA, CLAY_V0_SEED, STRATUM_KEYS, type Stratum, type StratumKey, type SampledTile, type SampleResult, type StratumReport } from './landcover/sample.ts';
export { writeSampleFile } from './landcover/sample-file.ts';
export { sampleMapSvg, stratumColor, type MapOptions } from './landcover/sample-map.ts';
export { NumpyRandomState, sampleIndices } from './landcover/numpy-random.ts';
// the chip stage and the main job (issue 6)
export { CHIP_BANDS, SCL_BAND, BAND_INDEX, BOA_OFFSET, hasBoaOffset, type BandSpec, type BandSource, type S2ChipAsset } from './pipeline/chip/bands.ts';
export { assessChip, CLOUDY_SCL, CLOUD_THRESHOLD, type ChipQuality, type QualityInput, type RejectReason } from './pipeline/chip/quality.ts';
export { CHIP_VERSION, DEFAULT_ENCODING, CLAY_V0_ENCODING, unitPrefix, chipFileName, chipTransform, chipTiffOptions, encodeChip, type ChipEncoding, type Georeferencing } from './pipeline/chip/chip-file.ts';
export { openChipSources, stackChip, harmonizeStack, plane, type ChipSources as ChipStackSources, type ChipStack, type StackOptions, type SourceAccess, type StackBuffers } from './pipeline/chip/stack.ts';
export { chipUnit, chipWindows, sha256, type UnitOptions } from './pipeline/chip/chip-unit.ts';
export { MANIFEST_NAME, parseManifest, type UnitManifest, type ChipRecord, type FileRecord, type UnitSettings, type UnitRun } from './pipeline/chip/manifest.ts';
export { indexRows, UNIT_INDEX_NAME } from './pipeline/chip/unit-index.ts';
export { runIndex, newRunState, runIndexKey, writeRunIndex, type RunOptions, type RunState, type IndexResult, type UnitOutcome } from './pipeline/run/run-index.ts';
export { recordRowDone, recordRowFailure, parseRowDone, parseRowFailed, rowDoneKey, rowFailedKey, rowStatusPrefix, type RowDone, type RowFailed } from './pipeline/run/row-record.ts';
export { sampleStatus, rowStatus, formatIndices, ROW_STATES, type RowState, type RowStatus, type SampleStatus, type SampleStatusOptions } from './pipeline/run/sample-status.ts';
// the chip stream: chips -> batches for training and embedding (issue 8)
export { parseChipFileName, type ChipName } from './pipeline/chip/chip-file.ts';
export { decodeChip, type DecodeChipOptions } from './model/data/read-chip.ts';
export { CLAY_V0_MEAN, CLAY_V0_STD, normalizeLatlon, normalizeTimestamp, normalizePixelBits } from './model/data/normalize.ts';
export { listChips, type ListChipsOptions, type ListMode } from './model/data/list-chips.ts';
export { splitByTile, tileRank, type ChipSplit, type SplitOptions } from './model/data/split.ts';
export { epochOrder, type OrderOptions } from './model/data/order.ts';
export { DecodePool, type Decoded } from './model/data/decode-pool.ts';
export { chipStream, defaultWorkers, type ChipStream, type ChipStreamOptions, type ChipStreamStats } from './model/data/stream.ts';
export type { ChipRef, ChipPlace, ChipSample, ChipBatch } from './model/data/types.ts';
