/**
 * Where the generator writes: an output root, atomic file writes, and a tally of bytes per file.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { writeTiff } from '../../pipeline/write/tiff-writer.ts';
import type { TiffImage, TiffOptions } from '../../pipeline/write/tiff-writer.ts';
import type { Blob } from './stac.ts';

/** Output sink shared by the spec modules. */
export class GenContext {
  /** Relative path -> bytes written. */
  readonly files = new Map<string, number>();

  /**
   * `noise`: per-pixel sensor-like noise on every band (S2 reflectance noise, S1 speckle, DEM roughness),
   * for benchmarks that must see real work: such pixels compress like real data, the smooth ones do not.
   * The design (kept and rejected chips, planted pixels) is the same either way.
   */
  constructor(readonly root: string, readonly noise = false) {}

  /** Encodes and writes a COG for a blob (idempotent per path: a shared blob is written once). */
  async writeCog(b: Blob, img: TiffImage, options: TiffOptions): Promise<void> {
    if (this.files.has(b.file)) return;
    const path = join(this.root, b.file);
    await mkdir(dirname(path), { recursive: true });
    this.files.set(b.file, await writeTiff(path, img, options));
  }

  /** True when a blob has already been written. */
  has(b: Blob): boolean {
    return this.files.has(b.file);
  }

  /** Writes pretty JSON (stable key order as given). */
  async writeJson(rel: string, value: unknown): Promise<void> {
    await this.writeBytes(rel, Buffer.from(`${JSON.stringify(value, null, 2)}\n`));
  }

  /** Writes raw bytes. */
  async writeBytes(rel: string, data: Uint8Array): Promise<void> {
    const path = join(this.root, rel);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, data);
    this.files.set(rel, data.length);
  }

  /** Total bytes written. */
  get totalBytes(): number {
    let n = 0;
    for (const v of this.files.values()) n += v;
    return n;
  }
}
