"""A small Vision Transformer for 48x48 grey faces, trainable from scratch on a CPU.

Patches of `patch_size` (48 must be divisible by it) become tokens with learned position
embeddings; pre-norm transformer blocks (multi-head self-attention, GELU MLP, stochastic depth)
follow; the face is the mean of the tokens (`pool=mean`, better than a class token on small data)
or a class token (`pool=cls`). The defaults (patch 4 -> 144 tokens, width 128, depth 6, 4 heads)
give 0.8M parameters.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fer.models.base import INPUT_SIZE, NUM_CLASSES, BackboneClassifier
from fer.models.factory import register

POOLS = ("mean", "cls")


class DropPath(nn.Module):
    """Stochastic depth: drop a residual branch for a whole sample with probability `p`."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.rand(x.shape[0], *([1] * (x.dim() - 1)), device=x.device) >= self.p
        return x * keep.to(x.dtype) / (1 - self.p)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)  # (B, heads, N, d/heads)
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, drop_path: float) -> None:
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm1, self.attn = nn.LayerNorm(dim), Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class ViTEncoder(nn.Module):
    """(B, C, H, W) -> one vector per face (B, dim)."""

    def __init__(
        self,
        *,
        patch_size: int,
        dim: int,
        depth: int,
        heads: int,
        mlp_ratio: float,
        drop_path: float,
        pool: str,
        in_chans: int,
        input_size: int,
    ) -> None:
        super().__init__()
        tokens = (input_size // patch_size) ** 2
        self.pool = pool
        self.patch_embed = nn.Conv2d(in_chans, dim, patch_size, stride=patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim)) if pool == "cls" else None
        self.pos_embed = nn.Parameter(torch.zeros(1, tokens + (pool == "cls"), dim))
        rates = torch.linspace(0, drop_path, depth).tolist()  # deeper blocks dropped more often
        self.blocks = nn.Sequential(*(Block(dim, heads, mlp_ratio, r) for r in rates))
        self.norm = nn.LayerNorm(dim)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        if self.cls_token is not None:
            nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.apply(_init_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x).flatten(2).transpose(1, 2)  # (B, N, dim)
        if self.cls_token is not None:
            x = torch.cat([self.cls_token.expand(len(x), -1, -1), x], dim=1)
        x = self.norm(self.blocks(x + self.pos_embed))
        return x[:, 0] if self.pool == "cls" else x.mean(1)


@register("vit")
class ViT(BackboneClassifier):
    """`backbone` (ViTEncoder) and a linear `head`."""

    def __init__(
        self,
        patch_size: int = 4,  # pixels per patch side; 48 must be divisible by it
        dim: int = 128,  # token width
        depth: int = 6,  # transformer blocks
        heads: int = 4,  # attention heads; dim must be divisible by it
        mlp_ratio: float = 2.0,  # MLP hidden width / dim
        drop_path: float = 0.1,  # stochastic depth rate of the last block (linear from 0)
        dropout: float = 0.1,  # before the classifier
        pool: str = "mean",  # mean (of the patch tokens) | cls (a class token)
        in_chans: int = 1,
        num_classes: int = NUM_CLASSES,
        input_size: int = INPUT_SIZE,
    ) -> None:
        super().__init__()
        if patch_size < 1 or input_size % patch_size:
            raise ValueError(f"model.patch_size must divide {input_size}, got {patch_size}")
        if heads < 1 or dim % heads:
            raise ValueError(f"model.dim ({dim}) must be divisible by model.heads ({heads})")
        if pool not in POOLS:
            raise ValueError(f"unknown model.pool {pool!r}; valid choices: {', '.join(POOLS)}")
        if depth < 1:
            raise ValueError(f"model.depth must be a positive integer, got {depth!r}")
        self.num_features = dim
        self.backbone = ViTEncoder(
            patch_size=patch_size,
            dim=dim,
            depth=depth,
            heads=heads,
            mlp_ratio=mlp_ratio,
            drop_path=drop_path,
            pool=pool,
            in_chans=in_chans,
            input_size=input_size,
        )
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(dim, num_classes))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)  # (B, dim)


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
