/**
 * Test helper: whether the webgpu tests can run here. With `CI=true` a missing adapter fails the run
 * (.ci/run installs Mesa's lavapipe, Vulkan on the CPU); on a developer machine without a Vulkan driver the
 * webgpu tests are skipped with the reason, and only those.
 */
import type { TestContext } from 'node:test';
import { isWebGpuAdapter, probeWebGpu } from '../../model/webgpu.ts';

/**
 * True when WebGPU has an adapter. Otherwise: under CI throws (the test fails, saying why); elsewhere
 * marks the test skipped with the reason and returns false.
 */
export async function webgpuReady(t: TestContext): Promise<boolean> {
  const p = await probeWebGpu();
  if (isWebGpuAdapter(p)) return true;
  const why = `no WebGPU adapter (${p.reason}): ${p.detail}; install Mesa's Vulkan driver (mesa-vulkan-drivers libvulkan1 from bookworm-backports, as .ci/run does)`;
  if (process.env['CI'] === 'true') throw new Error(`CI=true needs WebGPU: ${why}`);
  t.skip(why);
  return false;
}
