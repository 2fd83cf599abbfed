"""PyTorch side of bench/engine.ts: the same models, timed the same way, printed as JSON.

Run by the TypeScript benchmark with Debian's python3-torch (same libtorch); never at run time.
Usage: /usr/bin/python3 bench/engine_torch.py --threads N --iters K [--channels-last]
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class ResBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.norm1 = nn.GroupNorm(32, cin, eps=1e-6)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2 = nn.GroupNorm(32, cout, eps=1e-6)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.skip(x) if self.skip is not None else x) + h


class ConvAutoencoder(nn.Module):
    """A VQGAN-shaped encoder/decoder (no quantizer): 64x64 -> 16x16 latent -> 64x64."""

    def __init__(self, ch=64, z=64):
        super().__init__()
        self.enc = nn.ModuleList([
            nn.Conv2d(3, ch, 3, padding=1), ResBlock(ch, ch), nn.Conv2d(ch, ch, 3, stride=2, padding=1),
            ResBlock(ch, 2 * ch), nn.Conv2d(2 * ch, 2 * ch, 3, stride=2, padding=1), ResBlock(2 * ch, 2 * ch),
        ])
        self.enc_norm = nn.GroupNorm(32, 2 * ch, eps=1e-6)
        self.enc_out = nn.Conv2d(2 * ch, z, 3, padding=1)
        self.dec_in = nn.Conv2d(z, 2 * ch, 3, padding=1)
        self.dec = nn.ModuleList([ResBlock(2 * ch, 2 * ch), nn.Conv2d(2 * ch, 2 * ch, 3, padding=1),
                                  ResBlock(2 * ch, ch), nn.Conv2d(ch, ch, 3, padding=1), ResBlock(ch, ch)])
        self.dec_norm = nn.GroupNorm(32, ch, eps=1e-6)
        self.dec_out = nn.Conv2d(ch, 3, 3, padding=1)

    def forward(self, x):
        for m in self.enc:
            x = m(x)
        z = self.enc_out(F.silu(self.enc_norm(x)))
        h = self.dec_in(z)
        h = self.dec[0](h)
        h = self.dec[1](F.interpolate(h, scale_factor=2.0, mode="nearest"))
        h = self.dec[2](h)
        h = self.dec[3](F.interpolate(h, scale_factor=2.0, mode="nearest"))
        h = self.dec[4](h)
        return self.dec_out(F.silu(self.dec_norm(h)))


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, 4 * d)
        self.fc2 = nn.Linear(4 * d, d)

    def forward(self, x, mask):
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q = q.view(b, t, self.heads, d // self.heads).transpose(1, 2)
        k = k.view(b, t, self.heads, d // self.heads).transpose(1, 2)
        v = v.view(b, t, self.heads, d // self.heads).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(d // self.heads))
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(b, t, d)
        x = x + self.proj(y)
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class GPT(nn.Module):
    def __init__(self, vocab=1024, d=256, layers=6, heads=8, t=256):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Parameter(torch.zeros(1, t, d))
        self.blocks = nn.ModuleList([Block(d, heads) for _ in range(layers)])
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)
        self.register_buffer("mask", torch.ones(t, t, dtype=torch.bool).tril())

    def forward(self, idx):
        x = self.tok(idx) + self.pos[:, : idx.shape[1]]
        for b in self.blocks:
            x = b(x, self.mask[: idx.shape[1], : idx.shape[1]])
        return self.head(self.ln(x))


def timeit(fn, iters, warmup=3):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    ts.sort()
    return ts[len(ts) // 2] * 1000.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--channels-last", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    fmt = torch.channels_last if a.channels_last else torch.contiguous_format

    conv = ConvAutoencoder().to(memory_format=fmt)
    x = torch.randn(8, 3, 64, 64).to(memory_format=fmt)
    opt = torch.optim.Adam(conv.parameters(), lr=1e-4)

    def conv_train():
        opt.zero_grad(set_to_none=True)
        loss = (conv(x) - x).abs().mean()
        loss.backward()
        opt.step()

    def conv_infer():
        with torch.no_grad():
            conv(x)

    gpt = GPT()
    idx = torch.randint(0, 1024, (8, 257))  # 256 inputs + 1 shifted target
    gopt = torch.optim.Adam(gpt.parameters(), lr=1e-4)

    def gpt_train():
        gopt.zero_grad(set_to_none=True)
        logits = gpt(idx[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, 1024), idx[:, 1:].reshape(-1))
        loss.backward()
        gopt.step()

    def gpt_infer():
        with torch.no_grad():
            gpt(idx[:, :-1])

    out = {
        "conv_train_ms": timeit(conv_train, a.iters),
        "conv_infer_ms": timeit(conv_infer, a.iters),
        "transformer_train_ms": timeit(gpt_train, a.iters),
        "transformer_infer_ms": timeit(gpt_infer, a.iters),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "channels_last": a.channels_last,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
