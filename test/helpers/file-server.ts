/**
 * Test helper: a folder served over HTTP on 127.0.0.1 with single byte ranges (206, or 416 past the end),
 * as a blob store answers a COG reader. Files are read per request, so tests may write them while it runs.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { open } from 'node:fs/promises';
import { join, normalize } from 'node:path';

/** A running file server. */
export interface FileServer {
  /** `http://127.0.0.1:PORT/` (ends with a slash): file `a/b.tif` is at `${base}a/b.tif`. */
  base: string;
  close(): Promise<void>;
}

/** Serves `dir` (only paths inside it) until `close()`. */
export async function serveFolder(dir: string): Promise<FileServer> {
  const server = createServer((req, res) => void answer(dir, req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}/`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

async function answer(dir: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(/^[/\\]+/, '');
  if (path.startsWith('..')) return void res.writeHead(403).end();
  let file;
  try {
    file = await open(join(dir, path), 'r');
  } catch {
    return void res.writeHead(404).end();
  }
  try {
    const size = (await file.stat()).size;
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    const start = m ? Number(m[1]) : 0;
    const end = m && m[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
    if (m && start >= size) return void res.writeHead(416, { 'content-range': `bytes */${size}`, 'content-length': '0' }).end();
    const body = Buffer.alloc(Math.max(0, end - start + 1));
    await file.read(body, 0, body.length, start);
    const headers: Record<string, string> = { 'content-type': 'image/tiff', 'content-length': String(body.length) };
    if (m) headers['content-range'] = `bytes ${start}-${end}/${size}`;
    res.writeHead(m ? 206 : 200, headers).end(body);
  } finally {
    await file.close();
  }
}
