/**
 * A map of a sample as SVG (no dependency): every sampled tile's footprint filled with the colour of the
 * stratum that drew it (ESA's WorldCover legend colour of the class; purple for diversity), over the stats
 * tiles in grey for context, with a legend of the strata and their counts. Plate carrée (lon/lat), north up.
 */
import { footprintBbox, footprintPolygons, type Footprint } from './footprint.ts';
import { WORLDCOVER_CLASSES } from './classes.ts';
import type { SampledTile, StratumKey } from './sample.ts';

/** The fill colour of each stratum. */
export function stratumColor(key: StratumKey): string {
  if (key === 'diversity') return '#6a3d9a';
  return WORLDCOVER_CLASSES.find((c) => c.key === key)?.color ?? '#000000';
}

/** Options of `sampleMapSvg`. */
export interface MapOptions {
  /** Footprints drawn in grey underneath (the stats tiles). */
  background?: Footprint[];
  /** Width of the map area in px (default 1200). */
  width?: number;
  title?: string;
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** The SVG text of the map of `tiles`. */
export function sampleMapSvg(tiles: readonly SampledTile[], options: MapOptions = {}): string {
  const all = [...(options.background ?? []), ...tiles.map((t) => t.footprint)];
  let w = Infinity, s = Infinity, e = -Infinity, n = -Infinity;
  for (const f of all) {
    const [a, b, c, d] = footprintBbox(f);
    w = Math.min(w, a); s = Math.min(s, b); e = Math.max(e, c); n = Math.max(n, d);
  }
  if (!Number.isFinite(w)) [w, s, e, n] = [-180, -90, 180, 90];
  const padX = Math.max((e - w) * 0.03, 0.01);
  const padY = Math.max((n - s) * 0.03, 0.01);
  w -= padX; e += padX; s -= padY; n += padY;
  const width = options.width ?? 1200;
  const scale = width / (e - w);
  const height = Math.max(1, Math.round((n - s) * scale));
  const legendWidth = 230;
  const x = (lon: number): string => ((lon - w) * scale).toFixed(2);
  const y = (lat: number): string => ((n - lat) * scale).toFixed(2);
  const path = (f: Footprint): string => footprintPolygons(f)
    .flatMap((poly) => poly.map((ring) => `M${ring.map(([lon, lat]) => `${x(lon)},${y(lat)}`).join('L')}Z`))
    .join('');
  const counts = new Map<StratumKey, number>();
  for (const t of tiles) counts.set(t.stratum, (counts.get(t.stratum) ?? 0) + 1);
  const lines: string[] = [];
  lines.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width + legendWidth}" height="${Math.max(height, 40 + 22 * counts.size)}" viewBox="0 0 ${width + legendWidth} ${Math.max(height, 40 + 22 * counts.size)}">`);
  lines.push(`<title>${esc(options.title ?? `MGRS sample: ${tiles.length} tiles`)}</title>`);
  lines.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff" stroke="#888888"/>`);
  lines.push('<g id="background" fill="#e5e5e5" stroke="#bbbbbb" stroke-width="0.5" fill-rule="evenodd">');
  for (const f of options.background ?? []) lines.push(`<path d="${path(f)}"/>`);
  lines.push('</g>');
  lines.push('<g id="sample" stroke="#333333" stroke-width="0.6" fill-rule="evenodd">');
  for (const t of tiles) {
    lines.push(`<path data-name="${esc(t.name)}" data-stratum="${t.stratum}" fill="${stratumColor(t.stratum)}" d="${path(t.footprint)}"><title>${esc(t.name)} (${t.stratum})</title></path>`);
  }
  lines.push('</g>');
  lines.push(`<g id="legend" font-family="sans-serif" font-size="13" transform="translate(${width + 14},16)">`);
  let k = 0;
  for (const [key, count] of counts) {
    lines.push(`<rect data-stratum="${key}" x="0" y="${k * 22}" width="16" height="16" fill="${stratumColor(key)}" stroke="#333333"/><text x="24" y="${k * 22 + 13}">${esc(key)} (${count})</text>`);
    k++;
  }
  lines.push('</g>');
  lines.push('</svg>');
  return `${lines.join('\n')}\n`;
}
