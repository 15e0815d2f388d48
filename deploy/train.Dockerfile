# The training image: `clay train --engine torch` on CUDA GPUs, one container per machine. clay train starts
# torchrun (PyTorch's own launcher), which starts one rank per GPU (`--nproc`), and joins the other
# machines through torchrun's c10d rendezvous (`--nnodes`, `--node-rank`, `--rdzv-endpoint`).
#
#   docker build -f deploy/train.Dockerfile -t clay-train .     # from the repository root
#   docker run --rm --gpus all -v /data:/data clay-train \
#     train --data /data/shards --out /data/runs/small --model small --batch 32 --engine torch --nproc 8
#
# Stages: `build` compiles dist/ (as deploy/Dockerfile does), `deps` installs the production dependencies
# with the same Node, and the runtime stage is PyTorch's CUDA runtime image with that Node binary, dist/,
# node_modules and the engine package (engines/torch) added. CLAY_PYTHON names the image's Python (the one
# with torch). test/deploy/dockerfile.test.ts checks this file without Docker; docs/deploy.md has the rest.

FROM node:20-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json index.ts ./
COPY core core
COPY cli cli
COPY pipeline pipeline
COPY landcover landcover
COPY model model
RUN npm run build

FROM node:20-slim AS deps
WORKDIR /opt/clay
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime AS train
ENV NODE_ENV=production CLAY_PYTHON=/opt/conda/bin/python
# NCCL over the machines' network; see docs/deploy.md for the settings a cluster may need.
ENV NCCL_DEBUG=WARN
COPY --from=deps /usr/local/bin/node /usr/local/bin/node
WORKDIR /opt/clay
COPY package.json package-lock.json ./
COPY --from=deps /opt/clay/node_modules node_modules
COPY bin bin
COPY engines/torch engines/torch
COPY --from=build /src/dist dist
RUN ln -s /opt/clay/bin/clay.js /usr/local/bin/clay && clay --help > /dev/null && python -c "import torch, numpy"
WORKDIR /workspace
ENTRYPOINT ["clay"]
CMD ["train", "--help"]
