/**
 * A small pool of `node:worker_threads` workers for CPU work the main thread should not do: each request
 * goes to the worker with the fewest pending requests; replies come back by id. Idle workers do not keep the
 * process alive. The worker side is `serveRequests` in the worker's own module.
 *
 * Under tsx (the tests, `node --import tsx`) a worker is started from its `.ts` file with tsx registered
 * inside it first: Node 20 does not pass the parent's `--import tsx` on to workers.
 */
import { parentPort, Worker, type TransferListItem } from 'node:worker_threads';
import { ClayError } from './errors.ts';

interface Job<Res> {
  resolve: (out: Res) => void;
  reject: (err: unknown) => void;
  cost: number;
}

interface Slot<Res> {
  worker: Worker;
  pending: Map<number, Job<Res>>;
  /** The summed cost of its pending requests. */
  load: number;
}

/** Workers running `moduleUrl` (a `.ts` file beside its built `.js` one), at most `size` of them, started on demand. */
export class WorkerPool<Req extends object, Res> {
  private readonly slots: Slot<Res>[] = [];
  private ids = 0;

  constructor(private readonly moduleUrl: URL, private readonly size: number, private readonly name: string) {}

  /**
   * Sends `request` (with `transfer` moved, not copied) to the least loaded worker (`cost`: its share of work, in any unit
   * the pool's callers agree on); resolves with its reply.
   * Rejects with an Error carrying the handler's message, or ClayError INTERNAL when the worker stopped.
   */
  run(request: Req, transfer: readonly TransferListItem[] = [], cost = 1): Promise<Res> {
    const slot = this.pick();
    const id = this.ids++;
    return new Promise<Res>((resolve, reject) => {
      slot.pending.set(id, { resolve, reject, cost });
      slot.load += cost;
      slot.worker.ref();
      slot.worker.postMessage({ ...request, id }, [...transfer]);
    });
  }

  private pick(): Slot<Res> {
    let best: Slot<Res> | undefined;
    for (const s of this.slots) if (best === undefined || s.load < best.load) best = s;
    if (best !== undefined && (best.pending.size === 0 || this.slots.length >= this.size)) return best;
    const slot = this.start();
    this.slots.push(slot);
    return slot;
  }

  private start(): Slot<Res> {
    const href = this.moduleUrl.href;
    const worker = import.meta.url.endsWith('.ts')
      ? new Worker(`import('tsx/esm/api').then((api) => { api.register(); return import(${JSON.stringify(href)}); });`, { eval: true })
      : new Worker(new URL(href.replace(/\.ts$/, '.js')));
    const slot: Slot<Res> = { worker, pending: new Map(), load: 0 };
    worker.unref();
    worker.on('message', (m: { id: number; out?: Res; error?: string }) => {
      const job = slot.pending.get(m.id);
      if (job === undefined) return;
      slot.pending.delete(m.id);
      slot.load -= job.cost;
      if (slot.pending.size === 0) {
        slot.load = 0;
        worker.unref();
      }
      if (m.error === undefined) job.resolve(m.out as Res);
      // The request failed in the handler: a plain Error with its message, for the caller to classify
      // (a tile that does not decode is the file's fault, not ours).
      else job.reject(new Error(`${this.name} worker: ${m.error}`));
    });
    const fail = (err: unknown): void => {
      for (const job of slot.pending.values()) job.reject(new ClayError('INTERNAL', `${this.name} worker stopped: ${err instanceof Error ? err.message : String(err)}`, { cause: err }));
      slot.pending.clear();
      slot.load = 0;
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots.splice(i, 1);
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`exit code ${code}`)));
    return slot;
  }
}

/**
 * The worker side: answers each request with `handle`'s result (and the buffers it names to transfer),
 * once `ready` has resolved; a thrown error goes back as the request's failure.
 */
export function serveRequests<Req, Res>(handle: (request: Req) => { out: Res; transfer?: TransferListItem[] }, ready: Promise<unknown> = Promise.resolve()): void {
  if (parentPort === null) throw new Error('serveRequests runs in a worker thread');
  const port = parentPort;
  port.on('message', (m: Req & { id: number }) => {
    void ready.then(() => {
      const { out, transfer } = handle(m);
      port.postMessage({ id: m.id, out }, transfer ?? []);
    }).catch((err: unknown) => port.postMessage({ id: m.id, error: err instanceof Error ? err.message : String(err) }));
  });
}
