"""Fusion layers and the whole fusion network.

Shapes: ``n`` subjects, ``M`` modalities, ``d`` latent size, ``H`` attention heads. The
availability ``mask`` is a bool tensor ``(n, M)``, True where a subject has the modality; every
subject has at least one.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

FUSIONS = ("concat", "attention", "cross-attention")


class MaskedModalityEncoder(nn.Module):
    """Encode each modality for the subjects that have it; a learned per-modality "missing"
    embedding stands in for the others (their input rows never reach the encoder).

    Parameters
    ----------
    encoders : sequence of nn.Module, one per modality, each mapping ``(n_m, ...)`` to
        ``(n_m, d)``.
    latent_dim : int
        ``d``.
    """

    def __init__(self, encoders: Sequence[nn.Module], latent_dim: int) -> None:
        super().__init__()
        self.encoders = nn.ModuleList(encoders)
        self.missing = nn.Parameter(0.02 * torch.randn(len(encoders), latent_dim))

    def forward(self, inputs: Sequence[torch.Tensor], mask: torch.Tensor) -> torch.Tensor:
        """List of M tensors ``(n, ...)`` and mask ``(n, M)`` -> latents ``(n, M, d)``."""
        n = mask.shape[0]
        out = []
        for j, (enc, x) in enumerate(zip(self.encoders, inputs, strict=True)):
            z = self.missing[j].expand(n, -1)
            rows = torch.nonzero(mask[:, j], as_tuple=True)[0]
            if len(rows):
                z = z.index_put((rows,), enc(x.index_select(0, rows)))
            out.append(z)
        return torch.stack(out, dim=1)


class ModalityAttention(nn.Module):
    """Additive modality attention: ``e_i = w^T tanh(W z_i + b)``, ``alpha = softmax(e)`` over
    the modalities a subject has (exactly 0 for the others), ``F = sum_i alpha_i z_i``.

    ``W`` (``attn_dim x d``), ``b`` and ``w`` are shared by all modalities, so the scores are
    comparable across modalities.
    """

    def __init__(self, latent_dim: int, attn_dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(latent_dim, attn_dim)
        self.score = nn.Linear(attn_dim, 1, bias=False)

    def forward(self, z: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``z (n, M, d)``, ``mask (n, M)`` -> (``F (n, d)``, ``alpha (n, M)``)."""
        e = self.score(torch.tanh(self.proj(z))).squeeze(-1)
        e = e.masked_fill(~mask, float("-inf"))
        alpha = torch.softmax(e, dim=1)
        alpha = torch.where(mask, alpha, torch.zeros_like(alpha))
        return (alpha.unsqueeze(-1) * z).sum(dim=1), alpha


class CrossModalAttention(nn.Module):
    """One transformer-style block in which every modality token queries the modalities the
    subject has (itself included, so a subject with one modality is well defined).

    Multi-head attention with a key padding mask for missing modalities, residual connection
    and LayerNorm, then a feed-forward sub-layer with residual and LayerNorm. Learned modality
    type embeddings are added to the tokens first so that heads can tell modalities apart.
    """

    def __init__(self, n_modalities: int, latent_dim: int, n_heads: int,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.type_embedding = nn.Parameter(0.02 * torch.randn(n_modalities, latent_dim))
        self.attn = nn.MultiheadAttention(latent_dim, n_heads, batch_first=True)
        self.norm1 = nn.LayerNorm(latent_dim)
        self.ff = nn.Sequential(nn.Linear(latent_dim, 2 * latent_dim), nn.ReLU(),
                                nn.Dropout(dropout), nn.Linear(2 * latent_dim, latent_dim))
        self.norm2 = nn.LayerNorm(latent_dim)

    def forward(self, z: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``z (n, M, d)``, ``mask (n, M)`` -> (pooled ``(n, d)``, maps ``(n, H, M, M)``).

        ``maps[s, h, q, k]`` is the weight query modality ``q`` gives key modality ``k`` in
        head ``h`` for subject ``s``; rows of a missing query and columns of missing keys are 0,
        rows of present queries sum to 1. The pooled vector is the mean of the output tokens
        of the modalities the subject has.
        """
        tokens = z + self.type_embedding
        out, maps = self.attn(tokens, tokens, tokens, key_padding_mask=~mask,
                              need_weights=True, average_attn_weights=False)
        h = self.norm1(tokens + out)
        h = self.norm2(h + self.ff(h))
        w = mask.to(h.dtype).unsqueeze(-1)
        pooled = (h * w).sum(dim=1) / w.sum(dim=1)
        maps = maps * mask[:, None, :, None].to(maps.dtype)
        return pooled, maps


def mlp_head(in_dim: int, hidden: int, n_out: int, dropout: float) -> nn.Sequential:
    """Linear -> ReLU -> Dropout -> Linear (a single Linear when ``hidden`` is 0)."""
    if hidden <= 0:
        return nn.Sequential(nn.Linear(in_dim, n_out))
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(hidden, n_out))


class FusionNetwork(nn.Module):
    """Encoders + fusion + classification head: ``forward(inputs, mask) -> logits (n, K)``.

    Parameters
    ----------
    encoders : one nn.Module per modality (see :mod:`medfuse.fusion.neural.encoders`).
    latent_dim : int
    n_classes : int
        ``K``; binary problems use two logits (softmax) like multiclass ones.
    fusion : {"concat", "attention", "cross-attention"}
        ``concat``: the head sees ``[z_1, ..., z_M, mask]`` (missing modalities as their
        learned embedding). ``attention``: :class:`ModalityAttention`. ``cross-attention``:
        :class:`CrossModalAttention`.
    head_hidden : int
        Hidden width of the head.
    dropout : float
    n_heads : int
        Heads of the cross-attention.
    attn_dim : int
        Width of the additive attention's hidden layer.
    reconstruct : sequence of int, optional
        ``(p_j,)`` widths for tabular modalities to reconstruct from their latent with a
        linear decoder (0 for modalities that are not reconstructed); used by
        :meth:`logits_and_reconstruction`, an auxiliary loss that keeps each latent close to
        the modality's main axes of variation (a supervised autoencoder).
    aux_heads : bool
        Add one linear classifier per modality on that modality's latent (deep supervision:
        each latent must predict the outcome on its own, as in late fusion); used by
        :meth:`auxiliary_logits`, never by :meth:`forward`.
    """

    def __init__(self, encoders: Sequence[nn.Module], latent_dim: int, n_classes: int,
                 fusion: str = "concat", head_hidden: int = 32, dropout: float = 0.0,
                 n_heads: int = 2, attn_dim: int = 16,
                 reconstruct: Sequence[int] | None = None, aux_heads: bool = False) -> None:
        super().__init__()
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
        m = len(encoders)
        self.fusion = fusion
        self.encode = MaskedModalityEncoder(encoders, latent_dim)
        if fusion == "concat":
            self.fuse: nn.Module = nn.Identity()
            head_in = m * latent_dim + m
        elif fusion == "attention":
            self.fuse = ModalityAttention(latent_dim, attn_dim)
            head_in = latent_dim
        else:
            self.fuse = CrossModalAttention(m, latent_dim, n_heads, dropout)
            head_in = latent_dim
        self.head = mlp_head(head_in, head_hidden, n_classes, dropout)
        widths = list(reconstruct or [0] * m)
        self.decoders = nn.ModuleList([nn.Linear(latent_dim, p) if p > 0 else nn.Identity()
                                       for p in widths])
        self._reconstructed = [j for j, p in enumerate(widths) if p > 0]
        self.aux = (nn.ModuleList([nn.Linear(latent_dim, n_classes) for _ in range(m)])
                    if aux_heads else None)

    def fuse_latents(self, inputs: Sequence[torch.Tensor], mask: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The fused vector ``(n, head_in)`` and the attention weights (``(n, M)`` for
        attention, ``(n, H, M, M)`` for cross-attention, None for concat)."""
        z = self.encode(inputs, mask)
        if self.fusion == "concat":
            return torch.cat([z.flatten(1), mask.to(z.dtype)], dim=1), None
        return self.fuse(z, mask)

    def logits_and_reconstruction(self, inputs: Sequence[torch.Tensor], mask: torch.Tensor
                                  ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits ``(n, K)`` and the mean squared reconstruction error of the reconstructed
        modalities over the subjects that have them (0 when none are reconstructed)."""
        logits, rec, _ = self.training_outputs(inputs, mask)
        return logits, rec

    def training_outputs(self, inputs: Sequence[torch.Tensor], mask: torch.Tensor
                         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Logits ``(n, K)``, the reconstruction error (see
        :meth:`logits_and_reconstruction`) and the per-modality auxiliary logits
        ``(n, M, K)`` (None without auxiliary heads; rows of missing modalities are
        meaningless and must be masked by the caller)."""
        out = self.outputs(inputs, mask)
        return out["logits"], out["reconstruction"], out["aux_logits"]

    def outputs(self, inputs: Sequence[torch.Tensor], mask: torch.Tensor) -> dict:
        """Everything the training objectives need from one pass (see
        :mod:`medfuse.fusion.neural.objectives`): ``logits (n, K)``, ``latents (n, M, d)``
        (missing modalities hold their learned embedding), ``fused`` (what the head sees),
        ``reconstruction`` (mean squared error of the reconstructed modalities over the
        subjects that have them; 0 when none are reconstructed) and ``aux_logits``
        ``(n, M, K)`` or None."""
        z = self.encode(inputs, mask)
        if self.fusion == "concat":
            fused = torch.cat([z.flatten(1), mask.to(z.dtype)], dim=1)
        else:
            fused, _ = self.fuse(z, mask)
        aux = (None if self.aux is None
               else torch.stack([h(z[:, j]) for j, h in enumerate(self.aux)], dim=1))
        losses = []
        for j in self._reconstructed:
            rows = torch.nonzero(mask[:, j], as_tuple=True)[0]
            if len(rows):
                rec = self.decoders[j](z.index_select(0, rows)[:, j])
                losses.append(torch.mean((rec - inputs[j].index_select(0, rows)) ** 2))
        rec_loss = torch.stack(losses).mean() if losses else z.new_zeros(())
        return {"logits": self.head(fused), "latents": z, "fused": fused,
                "reconstruction": rec_loss, "aux_logits": aux}

    def forward(self, inputs: Sequence[torch.Tensor], mask: torch.Tensor) -> torch.Tensor:
        """``inputs``: list of M float tensors with all ``n`` subjects first (content of rows
        where ``mask`` is False is ignored); ``mask``: bool ``(n, M)``. Returns logits
        ``(n, K)``."""
        fused, _ = self.fuse_latents(inputs, mask)
        return self.head(fused)


class EnsembleNetwork(nn.Module):
    """Several :class:`FusionNetwork` members trained from different seeds; the output is
    the log of the members' mean class probabilities (so its softmax is the average of the
    members' probabilities) and the attention weights are the members' mean."""

    def __init__(self, members: Sequence[FusionNetwork]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    def fuse_latents(self, inputs: Sequence[torch.Tensor], mask: torch.Tensor
                     ) -> tuple[None, torch.Tensor | None]:
        """(None, members' mean attention weights or None)."""
        weights = [m.fuse_latents(inputs, mask)[1] for m in self.members]
        if weights[0] is None:
            return None, None
        return None, torch.stack(weights).mean(dim=0)

    def forward(self, inputs: Sequence[torch.Tensor], mask: torch.Tensor) -> torch.Tensor:
        """Log mean probability ``(n, K)``, usable as logits."""
        probs = torch.stack([torch.softmax(m(inputs, mask), dim=1) for m in self.members])
        return torch.log(probs.mean(dim=0))
