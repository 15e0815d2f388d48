/**
 * Train/validation split by MGRS tile: every chip of a tile goes to the same side, so validation measures
 * tiles the model has not seen (Clay v0 split chips at random, which puts overlapping neighbours and other
 * dates of the same place on both sides).
 *
 * The rule: each distinct tile gets a 32-bit rank, a hash of (`seed`, tile name); tiles sorted by rank (name
 * breaks ties) and the first `round(valFraction * tiles)` go to validation, clamped to at least one tile on
 * each side when there are two tiles or more and 0 < valFraction < 1. A tile's rank depends only on its
 * name and the seed, so adding tiles to a dataset moves few tiles across; the result does not depend on
 * the order of `refs` or on how many chips a tile has (the fraction is of tiles, not chips).
 */
import type { ChipRef } from './types.ts';

/** Options of `splitByTile`. */
export interface SplitOptions {
  /** Fraction of the tiles that go to validation, 0..1 (default 0.2). */
  valFraction?: number;
  /** Changes which tiles are drawn (default 0). */
  seed?: number;
}

/** The two sides of a split, each in the order of the input refs. */
export interface ChipSplit<T extends ChipRef = ChipRef> {
  train: T[];
  val: T[];
  /** The validation tiles, sorted. */
  valTiles: string[];
}

/** Splits chips by MGRS tile; see the file comment for the rule. */
export function splitByTile<T extends ChipRef>(refs: readonly T[], options: SplitOptions = {}): ChipSplit<T> {
  const fraction = options.valFraction ?? 0.2;
  if (!(fraction >= 0 && fraction <= 1)) throw new RangeError(`valFraction ${fraction} is not in [0, 1]`);
  const seed = options.seed ?? 0;
  const tiles = [...new Set(refs.map((r) => r.mgrs))];
  const ranked = tiles.map((tile) => ({ tile, rank: tileRank(tile, seed) }));
  ranked.sort((a, b) => a.rank - b.rank || (a.tile < b.tile ? -1 : a.tile > b.tile ? 1 : 0));
  let n = Math.round(fraction * tiles.length);
  if (tiles.length >= 2 && fraction > 0 && fraction < 1) n = Math.min(tiles.length - 1, Math.max(1, n));
  const valTiles = new Set(ranked.slice(0, n).map((r) => r.tile));
  return {
    train: refs.filter((r) => !valTiles.has(r.mgrs)),
    val: refs.filter((r) => valTiles.has(r.mgrs)),
    valTiles: [...valTiles].sort(),
  };
}

/** FNV-1a over the seed's 4 bytes and the tile name's UTF-16 code units, then murmur3's finaliser. */
export function tileRank(tile: string, seed: number): number {
  let h = 0x811c9dc5;
  const s = seed >>> 0;
  for (let i = 0; i < 4; i++) h = Math.imul(h ^ ((s >>> (8 * i)) & 0xff), 0x01000193);
  for (let i = 0; i < tile.length; i++) h = Math.imul(h ^ tile.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
