/** A worker for the WorkerPool tests: echoes with its thread id, fails in its handler, or exits on request. */
import { threadId } from 'node:worker_threads';
import { serveRequests } from '../../core/worker-pool.ts';

export interface PoolTestRequest {
  op: 'echo' | 'throw' | 'exit' | 'spin';
  value: number;
}

serveRequests((m: PoolTestRequest) => {
  if (m.op === 'throw') throw new Error(`cannot take ${m.value}`);
  if (m.op === 'exit') process.exit(7);
  if (m.op === 'spin') {
    const until = Date.now() + m.value;
    while (Date.now() < until) { /* keep this worker busy */ }
  }
  const bytes = new Float32Array([m.value, threadId]);
  return { out: { value: m.value, thread: threadId, bytes }, transfer: [bytes.buffer] };
});
