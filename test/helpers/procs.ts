/** Processes and ports for the tests of the data-parallel torch engine (torchrun and its ranks). */
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:net';

/** A loopback port nothing listens on now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

interface Proc {
  pid: number;
  ppid: number;
  args: string;
}

/** torchrun and the engine ranks below process `root` (any depth). */
export function engineTree(root: number): { launcher: number[]; ranks: number[] } {
  const all: Proc[] = execFileSync('ps', ['-eo', 'pid=,ppid=,args='], { encoding: 'utf8' }).trim().split('\n')
    .map((l) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(l)).filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), args: m[3]! }));
  const parent = new Map(all.map((p) => [p.pid, p.ppid]));
  const under = (pid: number): boolean => {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) if (p === root) return true;
    return false;
  };
  const mine = all.filter((p) => under(p.pid));
  return {
    launcher: mine.filter((p) => p.args.includes('torch.distributed.run')).map((p) => p.pid),
    ranks: mine.filter((p) => p.args.includes('clay_torch.serve') && !p.args.includes('torch.distributed.run')).map((p) => p.pid),
  };
}
