"""Training losses of the all-in-one restorer, as pure functions of tensors.

Images are B×3×H×W float in [0, 1]. Every function returns a scalar tensor, differentiable with
respect to its prediction arguments, and carries no weight of its own: the trainer sets the
λ of each term (the papers' values are quoted where they exist).

Sources: Perceive-IR (Eq. 9 quality, Eq. 10–11 difficulty-adaptive perceptual, Eq. 12
degradation contrast), ClearAIR (Eq. 15–17 internal clue reuse), DATPRL-IR (L1 + Fourier L1,
Eq. 2 alignment, Eq. 4–5 diversity, Eq. 6–7 balance, Eq. 9 prompt contrast).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor
from torch.nn import functional as F

from restora.nets.perceiver import TIER_THRESHOLDS

# Stands in for −∞ in masked log-sum-exps: keeps gradients finite where a row has no entry.
_MASKED = -1e9


def _zero(*like: Tensor) -> Tensor:
    """A scalar 0 attached to the graph of ``like`` (backward gives zero gradients, not errors)."""
    return sum(t.sum() for t in like) * 0.0


def _level_weights(n: int, weights: Sequence[float] | None) -> list[float]:
    if weights is None:
        return [1.0 / n] * n
    if len(weights) != n:
        raise ValueError(f"{len(weights)} weights for {n} levels")
    return [float(w) for w in weights]


def _as_list(x: Tensor | Sequence[Tensor]) -> list[Tensor]:
    return [x] if isinstance(x, Tensor) else list(x)


def l1(pred: Tensor, target: Tensor) -> Tensor:
    """Mean absolute error, in image units ([0, 1] per channel). DATPRL-IR's L_pix (Eq. 8),
    Perceive-IR's L_rec."""
    return (pred - target).abs().mean()


def fft_l1(pred: Tensor, target: Tensor) -> Tensor:
    """DATPRL-IR's L_fft (Eq. 8): L1 in the Fourier domain. Mean absolute value of the real and
    imaginary parts of ``rfft2(pred − target, norm="ortho")`` over the last two axes (the
    transform is linear, so this equals the L1 between the two spectra). With the orthonormal
    transform a white error of std σ gives coefficients of std σ, so the value has the same order
    as :func:`l1`, independent of the crop size. Computed in float32 (half-precision FFTs are
    restricted to power-of-two sizes)."""
    spec = torch.fft.rfft2((pred - target).float(), norm="ortho")
    return torch.view_as_real(spec).abs().mean()


def reconstruction(pred: Tensor, target: Tensor, fft_weight: float = 0.1) -> Tensor:
    """DATPRL-IR's reconstruction term (Eq. 8): ``l1 + fft_weight · fft_l1``."""
    return l1(pred, target) + fft_weight * fft_l1(pred, target)


def degradation_contrastive(z: Tensor, labels: Tensor, tau: float = 0.1) -> Tensor:
    """Perceive-IR Eq. 12 (contrastive degradation loss, τ = 0.1) for multi-label batches.

    ``z`` B×D: degradation embeddings of the degraded inputs; ``labels`` B×K multi-hot (values
    > 0.5 count as present). Similarities are cosine. The paper has one positive (another crop
    of the same image) and negatives of other degradation types; with mixtures we take as
    positives of anchor i every other sample with the *identical* label vector (two crops of one
    image are simply two rows with the same labels) and as negatives every sample whose vector
    differs, partial overlaps included: haze+noise must be told apart from haze, since the
    embedding conditions the restorer. Each (anchor, positive) pair gives Eq. 12 exactly,
    −log(e^{s⁺/τ} / (e^{s⁺/τ} + Σ e^{s⁻/τ})), the other positives staying out of the
    denominator; pairs are averaged per anchor, then over the anchors that have a positive.
    Anchors without a positive are skipped; with none at all the result is a grad-safe 0."""
    b = z.shape[0]
    lab = labels > 0.5
    same = (lab[:, None, :] == lab[None, :, :]).all(-1)
    eye = torch.eye(b, dtype=torch.bool, device=z.device)
    pos, neg = same & ~eye, ~same
    has_pos = pos.any(1)
    if not bool(has_pos.any()):
        return _zero(z)
    zn = F.normalize(z.float(), dim=1)
    logits = zn @ zn.T / tau
    lse_neg = logits.masked_fill(~neg, _MASKED).logsumexp(1, keepdim=True)
    pair = F.softplus(lse_neg - logits)  # −log(e^s / (e^s + Σ e^neg)) for every (i, j)
    per_anchor = (pair * pos).sum(1) / pos.sum(1).clamp_min(1)
    return per_anchor[has_pos].mean()


def quality_aware(quality_logit: Tensor, target_score: float = TIER_THRESHOLDS[1]) -> Tensor:
    """Perceive-IR Eq. 9 (quality-aware loss) with our perceiver's quality head instead of CLIP.

    Eq. 9 is 1 − P("excellent") over three tier prompts; our head gives one score
    sigmoid(logit) and the tiers are thresholds on it, so we use a hinge in logit space:
    ``mean(max(0, logit(target_score) − quality_logit))`` over the batch (``quality_logit`` B,
    the perceiver's output on the restored image). It is zero once the score reaches the
    "excellent" threshold (0.8 by default), so the restorer stops pushing against a frozen
    judge it could otherwise learn to fool, and below it the gradient is constant (−1/B per
    sample) instead of vanishing like 1 − sigmoid for very poor outputs. Units: the logit is
    (PSNR_est − 24 dB) / 4 dB, so the loss is the shortfall of the estimated PSNR below
    ≈ 29.5 dB, in units of 4 dB."""
    if not 0.0 < target_score < 1.0:
        raise ValueError(f"target_score must be in (0, 1), got {target_score}")
    margin = math.log(target_score / (1.0 - target_score))
    return F.relu(margin - quality_logit).mean()


def contrastive_perceptual(feat_out: Sequence[Tensor], feat_clean: Sequence[Tensor],
                           feat_in: Sequence[Tensor], difficulty: Tensor | None = None,
                           weights: Sequence[float] | None = None, gamma: float = 0.25,
                           eps: float = 1e-6) -> Tensor:
    """Perceive-IR Eq. 10–11 (difficulty-adaptive contrastive perceptual loss).

    Lists of feature maps, one B×C×h×w tensor per level, of the restored output (anchor), the
    clean target (positive) and the degraded input (negative), e.g. ``[Perceiver.features(x)]``
    or intermediate trunk stages: our perceiver's trunk replaces VGG-16. Per sample and level,
    the ratio M(out, clean) / (M(out, input) + eps) with M the mean absolute feature difference;
    levels are combined with ``weights`` (default equal, summing to 1, so the value is < 1
    exactly when the output is nearer the clean features than the input's; the paper's
    (1/12, 1/6, 1/3, 1) may be passed for four levels). Clean and input features are constants
    (detached).

    Adaptations: there are no proxy-restorer "hard negatives", only the easy negative, so the
    paper's λ = 2 on it is a constant factor left to the trainer's weight. Eq. 10's two-valued
    weight 1 ± γ (γ = 0.25), which the paper gives each hard negative by comparing its PSNR
    with the model's running average, moves to the sample: ``difficulty`` B in [0, 1]
    (1 = hardest; e.g. 1 − the perceiver's quality score of the input, or 1 where the input's
    PSNR is below the model's running average PSNR) gives w = 1 + γ(2d − 1), so binary
    difficulties reproduce 1 ± γ and harder samples weigh more. The batch value is
    Σ w·r / Σ w: difficulty shifts emphasis between samples without changing the loss scale
    (a uniform difficulty gives exactly the unweighted mean)."""
    outs, cleans, ins = list(feat_out), list(feat_clean), list(feat_in)
    if not len(outs) == len(cleans) == len(ins) > 0:
        raise ValueError("feat_out, feat_clean and feat_in need the same, non-zero, length")
    ws = _level_weights(len(outs), weights)
    ratio = 0.0
    for w, fo, fc, fi in zip(ws, outs, cleans, ins, strict=True):
        d_pos = (fo - fc.detach()).abs().flatten(1).mean(1)
        d_neg = (fo - fi.detach()).abs().flatten(1).mean(1)
        ratio = ratio + w * d_pos / (d_neg + eps)
    if difficulty is None:
        return ratio.mean()
    sw = 1.0 + gamma * (2.0 * difficulty.detach().to(ratio.dtype).clamp(0, 1) - 1.0)
    return (sw * ratio).sum() / sw.sum()


def clue_consistency(weak: Tensor | Sequence[Tensor], strong: Tensor | Sequence[Tensor],
                     weights: Sequence[float] | None = None, detach_weak: bool = True) -> Tensor:
    """ClearAIR Eq. 15–17 (internal clue reuse): mean squared difference between the weak and
    the strong view, Σ_l w_l · mean((weak_l − strong_l)²), over one tensor or over matching
    lists (image, then decoder features; each pair of equal shape; ``weights`` default equal,
    summing to 1). The paper's γ (0.05 initially) is the trainer's weight for this term.

    Read literally, Eq. 17 compares two augmentations of the restored image I_r and involves
    the network only through I_r, which would merely make I_r invariant to the strong
    augmentation (for a blur, wiping out the details ICRM is meant to restore). We therefore read
    the strongly augmented "result" as the restorer's re-restoration of it, which is what makes
    the mechanism self-supervised reuse of the image's own clues. Mapping to our U-Net (whose
    forward can return its decoder features):
    ``weak`` = F_weak(I_r) (Eq. 15; a flip / 90° rotation, applied alike to the first pass's
    decoder features), and ``strong`` = restorer(F_strong(F_weak(I_r))) (Eq. 16 followed by a
    second pass; F_strong a perturbation the restorer undoes, e.g. noise or cut-out), its output
    and decoder features. With ``detach_weak`` (default) the weak view is a fixed target
    (stop-gradient, as in weak/strong consistency training), so the two passes cannot agree by
    both drifting towards a trivial, smooth solution."""
    ws_, ss = _as_list(weak), _as_list(strong)
    if len(ws_) != len(ss) or not ss:
        raise ValueError(f"weak has {len(ws_)} tensors, strong {len(ss)}")
    total = 0.0
    for w, a, b in zip(_level_weights(len(ss), weights), ws_, ss, strict=True):
        if a.shape != b.shape:
            raise ValueError(f"shape mismatch {tuple(a.shape)} vs {tuple(b.shape)}")
        total = total + w * ((a.detach() if detach_weak else a) - b).pow(2).mean()
    return total


def prompt_diversity(values: Tensor, tau_div: float = 0.1) -> Tensor:
    """DATPRL-IR Eq. 4–5 (prompt diversity). ``values`` N×T×d (or N×d) prompt values, each
    flattened to one vector; S = pairwise cosine similarity; the loss is the mean over the
    N(N−1) off-diagonal pairs of max(0, S_ij − τ_div) (τ_div = 0.1). Zero for prompts at most
    0.1 similar (orthogonal ones included); 1 − τ_div when all prompts are the same. A pool of
    fewer than two prompts gives 0."""
    n = values.shape[0]
    if n < 2:
        return _zero(values)
    v = F.normalize(values.reshape(n, -1).float(), dim=1)
    s = v @ v.T
    off = ~torch.eye(n, dtype=torch.bool, device=values.device)
    return F.relu(s - tau_div)[off].sum() / (n * (n - 1))


def prompt_balance(sims: Tensor, temperature: float = 1.0) -> Tensor:
    """DATPRL-IR Eq. 6–7 (balanced prompt use): log N − H(p̄), in nats, ``sims`` B×N cosine
    scores between the B queries and the N prompt keys.

    p̄ is the batch average of the per-query softmax(sims / temperature). Eq. 6 writes p for a
    single query; maximising every query's own entropy would make each query equally close to
    all keys, which fights top-k retrieval (and :func:`prompt_contrastive`). The batch-averaged
    usage is what "balanced utilisation" means: queries may each prefer a few prompts as long as
    the pool as a whole is used evenly. 0 for uniform use, log N when every query uses the same
    prompt. ``temperature`` 1 is the paper's; since cosines lie in [−1, 1], a smaller value lets
    the loss see how peaked the retrieval really is."""
    p = torch.softmax(sims.float() / temperature, dim=-1).reshape(-1, sims.shape[-1]).mean(0)
    entropy = -(p * p.clamp_min(1e-12).log()).sum()
    return math.log(sims.shape[-1]) - entropy


def prompt_contrastive(query: Tensor, keys: Tensor, topk_idx: Tensor, tau: float = 0.1) -> Tensor:
    """DATPRL-IR Eq. 9 (appendix; contrastive prompt selection). ``query`` B×d, ``keys`` N×d,
    ``topk_idx`` B×k (long): the selected keys are the positives, the other N − k the negatives.
    ⟨q, k⟩ is the cosine similarity (retrieval is by cosine). Each positive gives
    −log(e^{s⁺/τ} / (e^{s⁺/τ} + Σ_neg e^{s⁻/τ})), averaged over the k positives and the batch.
    With k = N there are no negatives and the loss is a grad-safe 0."""
    n = keys.shape[0]
    if topk_idx.shape[1] >= n:
        return _zero(query, keys)
    logits = F.normalize(query.float(), dim=1) @ F.normalize(keys.float(), dim=1).T / tau
    pos = torch.zeros_like(logits, dtype=torch.bool).scatter_(1, topk_idx, True)
    lse_neg = logits.masked_fill(pos, _MASKED).logsumexp(1, keepdim=True)
    s_pos = logits.gather(1, topk_idx)
    return F.softplus(lse_neg - s_pos).mean()


def prompt_align(pr_dom: Tensor, anchor: Tensor) -> Tensor:
    """DATPRL-IR Eq. 2 (cross-modal alignment): mean over the batch of 1 − cos(PR_dom, F).

    ``pr_dom`` B×d, the composed domain prompt; ``anchor`` B×d, in Restora not a CLIP text feature
    of the clean image (no CLIP, no captioner) but a fixed projection of the perceiver's
    embedding of the clean image. Both are flattened per sample (so B×T×d works when shapes
    match). The anchor is a target: pass it detached if it must not be trained. Range [0, 2]."""
    a, b = pr_dom.flatten(1).float(), anchor.flatten(1).float()
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch {tuple(a.shape)} vs {tuple(b.shape)}")
    return (1.0 - F.cosine_similarity(a, b, dim=1, eps=1e-8)).mean()
