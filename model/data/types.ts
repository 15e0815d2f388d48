/**
 * The contracts of the chip stream (`model/data/`): what a chip looks like once read and normalised, and
 * what the trainer, `clay embed` and `clay reconstruct` receive. The stream's own options live in
 * stream.ts; this file only holds shapes that several stages share.
 */
import type { GeoTransform } from '../../core/grid.ts';
import type { ClayBatch } from '../inputs.ts';

/** A chip found by a listing: where it is, and the MGRS tile and date its name carries. */
export interface ChipRef {
  /** Full location: an absolute file path or `s3://bucket/key`. */
  readonly url: string;
  /** Path relative to the listed root (`02/31TGL/2021-06-15/claytile_31TGL_20210615_v02_0003.tif`). */
  readonly key: string;
  /** MGRS tile (`31TGL`), from the file name. */
  readonly mgrs: string;
  /** Acquisition date `YYYY-MM-DD`, from the file name (the file's own `date` tag is checked on read). */
  readonly date: string;
  /**
   * A chip packed into a training shard (`clay pack`): its record's bytes in the shard. `url` is then
   * `{shard url}#{member key}` and `key` the chip's id (its key in the chip store it was packed from).
   */
  readonly span?: ShardSpan;
}

/** Where a packed chip's record lies: the shard's key (relative to the shard set's root) and a byte range. */
export interface ShardSpan {
  readonly shard: string;
  readonly offset: number;
  readonly length: number;
}

/** Where a chip lies: its grid and its footprint on the ground. */
export interface ChipPlace extends ChipRef {
  readonly epsg: number;
  /** GDAL geotransform of the chip (corner based, true georeferencing). */
  readonly transform: GeoTransform;
  readonly width: number;
  readonly height: number;
  /** Centre of the chip in EPSG:4326 (what rasterio's `lnglat()` gives in Clay v0's datamodule). */
  readonly lon: number;
  readonly lat: number;
  /** Footprint in EPSG:4326: a closed ring of [lon, lat], counter-clockwise (the chip's edges, densified). */
  readonly footprint: readonly (readonly [number, number])[];
}

/** One chip read and normalised as Clay v0's datamodule does it. */
export interface ChipSample extends ChipPlace {
  /** `[13, H, W]`, band order B02..B12, vh, vv, dem; normalised with v0's per-band mean/std. */
  readonly pixels: Float32Array;
  /** v0's normalize_latlon, in the order v0 stacks it: [lat, lon]. */
  readonly latlon: readonly [number, number];
  /** v0's normalize_timestamp: [year, month, day]. */
  readonly timestep: readonly [number, number, number];
}

/** A batch for the model plus what it was made of (in batch order). */
export interface ChipBatch extends ClayBatch {
  readonly chips: readonly ChipPlace[];
  /**
   * The chip stream's epoch position after this batch: pass it as the stream's `skip` to resume right
   * after it (absent on batches made elsewhere).
   */
  readonly resumeAt?: number;
}
