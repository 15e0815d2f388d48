/**
 * Faults planted in a copy of the bundled universe, for tests of bad input: a blob replaced (truncated,
 * not a TIFF) or an item edited (a field removed). The miniature Planetary Computer serves in-memory blobs
 * before the blob folder, so a copy with an overridden blob needs no change to the server or the files.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { universeItem, type Universe } from '../../core/mini-pc/universe.ts';

/** The universe key (`account/container/path`) of an Azure blob href. */
export function blobKey(href: string): string {
  const url = new URL(href);
  const account = /^([a-z0-9]+)\.blob\.core\.windows\.net$/i.exec(url.hostname)?.[1];
  if (!account) throw new Error(`not an Azure blob href: ${href}`);
  return `${account}${decodeURIComponent(url.pathname)}`;
}

/** The href of `asset` of item `id`. */
export function assetHref(universe: Universe, id: string, asset: string): string {
  const item = universe.items.find((i) => i.id === id);
  const href = (item?.json.assets as Record<string, { href?: string }> | undefined)?.[asset]?.href;
  if (!href) throw new Error(`no asset ${asset} on item ${id}`);
  return href;
}

/** A copy of `universe` where the blob of `asset` of item `id` is `change(original bytes)`. */
export async function withBlob(universe: Universe, id: string, asset: string, change: (bytes: Uint8Array) => Uint8Array): Promise<Universe> {
  const key = blobKey(assetHref(universe, id, asset));
  const original = universe.blobs?.get(key) ?? new Uint8Array(await readFile(join(universe.blobDir ?? '', key)));
  return { ...universe, blobs: new Map([...(universe.blobs ?? new Map<string, Uint8Array>()), [key, change(original)]]) };
}

/** A copy of `universe` where item `id`'s JSON is edited by `edit` (on a deep copy). */
export function withItem(universe: Universe, id: string, edit: (json: Record<string, unknown>) => void): Universe {
  let found = false;
  const items = universe.items.map((it) => {
    if (it.id !== id) return it;
    found = true;
    const json = structuredClone(it.json);
    edit(json);
    return universeItem(json);
  });
  if (!found) throw new Error(`no item ${id}`);
  return { ...universe, items };
}
