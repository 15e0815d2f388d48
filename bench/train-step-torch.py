"""PyTorch baseline for bench/train-step.ts: a masked autoencoder with the same shapes and operations as
the Clay v0 port (per-group patch projections + LayerNorm, 75% masking, pre-norm blocks, mask token,
per-group pixel heads, masked per-patch MSE), trained with AdamW. Our own small script, not Clay's code.

usage: train-step-torch.py DIM DEPTH HEADS DEC_DIM DEC_DEPTH DEC_HEADS MLP_RATIO DEC_MLP_RATIO IMAGE PATCH BATCH STEPS [THREADS]
prints one JSON line: {"s_per_step": ..., "threads": ...}
"""
import json
import os
import sys
import time

import torch
from torch import nn

GROUPS = [[2, 1, 0], [3, 4, 5, 7], [6], [8, 9], [10, 11], [12]]


class Block(nn.Module):
    def __init__(self, dim, heads, dim_head, mlp):
        super().__init__()
        inner = heads * dim_head
        self.heads, self.scale = heads, dim_head ** -0.5
        self.n1, self.qkv, self.out = nn.LayerNorm(dim), nn.Linear(dim, 3 * inner, bias=False), nn.Linear(inner, dim)
        self.ff = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, mlp), nn.GELU(), nn.Linear(mlp, dim))

    def forward(self, x):
        b, n, _ = x.shape
        q, k, v = self.qkv(self.n1(x)).chunk(3, dim=-1)
        q, k, v = (t.reshape(b, n, self.heads, -1).transpose(1, 2) for t in (q, k, v))
        a = torch.softmax(q @ k.transpose(-1, -2) * self.scale, dim=-1) @ v
        x = x + self.out(a.transpose(1, 2).reshape(b, n, -1))
        return x + self.ff(x)


class MAE(nn.Module):
    def __init__(self, dim, depth, heads, ddim, ddepth, dheads, mlp, dmlp, image, patch):
        super().__init__()
        self.p, self.side = patch, image // patch
        self.L = self.side ** 2
        self.proj = nn.ModuleList(nn.Conv2d(len(g), dim, patch, patch) for g in GROUPS)
        self.pnorm = nn.ModuleList(nn.LayerNorm(dim) for _ in GROUPS)
        self.latlon, self.time = nn.Linear(2, dim), nn.Linear(3, dim)
        self.enc = nn.Sequential(*[Block(dim, heads, 64, dim * mlp) for _ in range(depth)], nn.LayerNorm(dim))
        self.to_dec = nn.Linear(dim, ddim)
        self.mask_token = nn.Parameter(torch.randn(ddim))
        self.dec = nn.Sequential(*[Block(ddim, dheads, 64, ddim * dmlp) for _ in range(ddepth)], nn.LayerNorm(ddim))
        self.heads = nn.ModuleList(nn.Linear(ddim, patch * patch * len(g)) for g in GROUPS)
        gl = len(GROUPS) * self.L
        self.register_buffer("enc_pos", torch.randn(gl, dim).half().float())
        self.register_buffer("dec_pos", torch.randn(gl, ddim).half().float())

    def forward(self, cube, latlon, timestep):
        b = cube.shape[0]
        gl = len(GROUPS) * self.L
        toks = torch.cat([n(c(cube[:, g]).flatten(2).transpose(1, 2)) for g, c, n in zip(GROUPS, self.proj, self.pnorm)], 1)
        toks = toks + self.enc_pos
        order = torch.argsort(torch.randn(b, gl), dim=-1)
        n_mask = int(0.75 * gl)
        keep = order[:, n_mask:]
        bi = torch.arange(b)[:, None]
        x = torch.cat([toks[bi, keep], self.latlon(latlon)[:, None], self.time(timestep)[:, None]], 1)
        y = self.to_dec(self.enc(x))
        full = self.mask_token.expand(b, gl, -1).clone()
        full[bi, keep] = y[:, :-2]
        z = self.dec(torch.cat([full + self.dec_pos, y[:, -2:]], 1))[:, :gl]
        z = z.reshape(b, len(GROUPS), self.L, -1)
        px = torch.cat([h(z[:, i]).reshape(b, self.L, self.p * self.p, -1).permute(0, 3, 1, 2)
                        for i, h in enumerate(self.heads)], 1)
        target = cube.reshape(b, 13, self.side, self.p, self.side, self.p).permute(0, 1, 2, 4, 3, 5)
        per_patch = ((px - target.reshape(b, 13, self.L, -1)) ** 2).mean(-1)
        masked = torch.zeros(b, gl)
        masked[bi, order[:, :n_mask]] = 1
        masked = masked.reshape(b, len(GROUPS), self.L)
        loss = sum((per_patch[:, g].mean(1) * masked[:, i]).sum() for i, g in enumerate(GROUPS))
        return loss / masked.sum()


def main():
    a = [int(v) for v in sys.argv[1:13]]
    dim, depth, heads, ddim, ddepth, dheads, mlp, dmlp, image, patch, batch, steps = a
    torch.set_num_threads(int(sys.argv[13]) if len(sys.argv) > 13 else (os.cpu_count() or 1))
    torch.manual_seed(0)
    model = MAE(dim, depth, heads, ddim, ddepth, dheads, mlp, dmlp, image, patch)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05, betas=(0.9, 0.95))
    cube, latlon, ts = torch.randn(batch, 13, image, image), torch.randn(batch, 2), torch.randn(batch, 3)

    def step():
        opt.zero_grad(set_to_none=True)
        model(cube, latlon, ts).backward()
        opt.step()

    step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    print(json.dumps({"s_per_step": (time.perf_counter() - t0) / steps, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
