#!/usr/bin/env bash
# Clay training steps on the webgpu backend of a GPU machine that has no Node and no internet.
#
#   bash bench/device/webgpu.sh prepare        here: builds .bench/device-webgpu/ (< 64 MiB): node as xz, the
#                                              bench bundled (bench/device/webgpu-bench.ts + tfjs + tfjs-webgpu),
#                                              Dawn's dawn.node as xz, and Debian's libvulkan1 .deb
#   bash bench/device/webgpu.sh run [ARGS]     there (carry .bench/device-webgpu): unpacks them, finds the
#                                              NVIDIA Vulkan driver, runs the bench; ARGS go to it
#                                              (--cases tiny-512-32,small-512-32 --steps 3 --max-batch 64
#                                              --budget-s 420 --allow-cpu-adapter)
#
# Prints the adapter, then per case and batch: s/step, chips/s, TFLOP/s, the ratio to Clay v0's 23.8 chips/s,
# and the largest batch that ran. The JSON lines (stdout) are also kept in $OUT/webgpu-bench.jsonl when $OUT is set.
set -euo pipefail
cd "$(dirname "$0")/../.."
PAYLOAD=.bench/device-webgpu

prepare() {
  rm -rf "$PAYLOAD"
  mkdir -p "$PAYLOAD/node_modules/webgpu/dist/linux-x64"
  echo "prepare: node $(node --version) -> node.xz"
  xz -6 -T2 -c "$(command -v node)" > "$PAYLOAD/node.xz"
  # One ESM file with tfjs, tfjs-webgpu and the model; Dawn's binding stays a package beside it (a native addon).
  node_modules/.bin/esbuild bench/device/webgpu-bench.ts --bundle --platform=node --format=esm --target=node20 \
    --external:webgpu --external:@tensorflow/tfjs-node --external:@tensorflow/tfjs-node-gpu --log-level=warning \
    --banner:js="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" \
    --outfile="$PAYLOAD/webgpu-bench.mjs"
  cp node_modules/webgpu/package.json node_modules/webgpu/index.js "$PAYLOAD/node_modules/webgpu/"
  xz -6 -T2 -c node_modules/webgpu/dist/linux-x64/dawn.node > "$PAYLOAD/dawn.node.xz"
  # The Vulkan loader as Debian ships it (the machine there may have the NVIDIA driver's ICD but no loader).
  deb=$(ls /var/cache/apt/archives/libvulkan1_*_amd64.deb 2>/dev/null | tail -n 1 || true)
  if [ -z "$deb" ]; then
    (cd "$PAYLOAD" && apt-get download libvulkan1 >/dev/null)
  else
    cp "$deb" "$PAYLOAD/"
  fi
  du -ab "$PAYLOAD" | sort -n | tail -n 8
  total=$(du -sb "$PAYLOAD" | cut -f1)
  echo "prepare: $PAYLOAD is $((total / 1024 / 1024)) MiB (the device run carries at most 64 MiB)"
  [ "$total" -lt $((64 * 1024 * 1024)) ] || { echo "prepare: too large to carry" >&2; exit 1; }
}

# Decompresses an xz file with xz, or Python's lzma where xz is missing.
unxz_to() {
  if command -v xz >/dev/null 2>&1; then
    xz -d -c "$1" > "$2"
  elif command -v python3 >/dev/null 2>&1; then
    python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"
  else
    echo "run: neither xz nor python3 here to unpack $1" >&2
    exit 1
  fi
}

run() {
  [ -f "$PAYLOAD/node.xz" ] || { echo "run: no $PAYLOAD (run '$0 prepare' first and carry it)" >&2; exit 1; }
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  unxz_to "$PAYLOAD/node.xz" "$work/node"
  chmod +x "$work/node"
  cp "$PAYLOAD/webgpu-bench.mjs" "$work/"
  mkdir -p "$work/node_modules/webgpu/dist/linux-x64"
  cp "$PAYLOAD/node_modules/webgpu/package.json" "$PAYLOAD/node_modules/webgpu/index.js" "$work/node_modules/webgpu/"
  unxz_to "$PAYLOAD/dawn.node.xz" "$work/node_modules/webgpu/dist/linux-x64/dawn.node"
  # The Vulkan loader: the machine's own if it has one, else the carried Debian package unpacked (dpkg-deb, or ar + tar).
  # CLAY_CARRIED_VULKAN_LOADER=1 uses the carried one even where the machine has its own (to test that path).
  if [ "${CLAY_CARRIED_VULKAN_LOADER:-0}" = "1" ] || ! ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1 '; then
    deb=$(ls "$PAYLOAD"/libvulkan1_*.deb | tail -n 1)
    mkdir -p "$work/vk"
    if command -v dpkg-deb >/dev/null 2>&1; then
      dpkg-deb -x "$deb" "$work/vk"
    elif command -v ar >/dev/null 2>&1; then
      (cd "$work/vk" && ar x "$deb" && tar -xf data.tar.* && rm -f data.tar.* control.tar.* debian-binary)
    else
      # A .deb is an ar archive (60-byte member headers) holding data.tar.*.
      python3 - "$deb" "$work/vk" <<'PY'
import io, sys, tarfile
raw = open(sys.argv[1], 'rb').read()
pos = 8
while pos < len(raw):
    name = raw[pos:pos + 16].decode().strip().rstrip('/')
    size = int(raw[pos + 48:pos + 58].decode().strip())
    if name.startswith('data.tar'):
        tarfile.open(fileobj=io.BytesIO(raw[pos + 60:pos + 60 + size])).extractall(sys.argv[2])
    pos += 60 + size + (size % 2)
PY
    fi
    export LD_LIBRARY_PATH="$work/vk/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    echo "run: Vulkan loader from $(basename "$deb")"
  else
    echo "run: Vulkan loader of the machine: $(ldconfig -p | grep 'libvulkan.so.1 ' | head -n 1 | awk '{print $NF}')"
  fi
  # The NVIDIA driver's Vulkan ICD: its manifest where the driver put one, else one written for its library
  # (containers often mount libGLX_nvidia.so.0 without the manifest).
  icd=""
  for f in /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.*.json; do
    [ -f "$f" ] && { icd=$f; break; }
  done
  if [ -z "$icd" ]; then
    lib=$(ldconfig -p 2>/dev/null | awk '/libGLX_nvidia.so.0 /{print $NF; exit}')
    [ -z "$lib" ] && lib=$(ls /usr/lib/x86_64-linux-gnu/libGLX_nvidia.so.0 /usr/lib64/libGLX_nvidia.so.0 2>/dev/null | head -n 1 || true)
    if [ -n "$lib" ]; then
      icd="$work/nvidia_icd.json"
      printf '{ "file_format_version": "1.0.0", "ICD": { "library_path": "%s", "api_version": "1.3.0" } }\n' "$lib" > "$icd"
      echo "run: wrote a Vulkan ICD manifest for $lib"
    fi
  fi
  if [ -n "$icd" ]; then
    export VK_ICD_FILENAMES="$icd" VK_DRIVER_FILES="$icd"
    echo "run: NVIDIA Vulkan ICD $icd"
  else
    echo "run: no NVIDIA Vulkan driver found (no nvidia_icd.json, no libGLX_nvidia.so.0): Dawn will use whatever Vulkan driver is installed"
  fi
  command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
  out=${OUT:-$work}
  (cd "$work" && ./node --version && ./node webgpu-bench.mjs "$@") | tee "$out/webgpu-bench.jsonl"
}

case "${1:-}" in
  prepare) prepare ;;
  run) shift; run "$@" ;;
  *) echo "usage: $0 prepare | run [--cases ...] [--steps N] [--max-batch N] [--budget-s S] [--allow-cpu-adapter]" >&2; exit 2 ;;
esac
