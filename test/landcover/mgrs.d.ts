/** Types of the `mgrs` package (proj4js' MGRS converter, a dependency of proj4), used here as an independent oracle. */
declare module 'mgrs' {
  /** The MGRS reference of [lon, lat] at `accuracy` digits (0: the 100 km square). */
  export function forward(ll: [number, number], accuracy?: number): string;
}
