"""Training losses (restora.train.losses): identities, directions and gradients on tiny tensors."""

from __future__ import annotations

import math

import pytest
import torch
from torch.testing import assert_close

from restora.train import losses as L


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def img(seed: int = 0, b: int = 2, size: int = 8) -> torch.Tensor:
    return torch.rand(b, 3, size, size, generator=gen(seed))


def assert_grad(t: torch.Tensor) -> None:
    assert t.grad is not None
    assert torch.isfinite(t.grad).all()
    assert t.grad.abs().sum() > 0


def test_reconstruction_zero_when_equal_and_grows_with_error():
    x = img(0)
    zero = torch.zeros(())
    for fn in (L.l1, L.fft_l1, L.reconstruction):
        assert_close(fn(x, x), zero)
    small, large = x + 0.01 * img(1), x + 0.1 * img(1)
    for fn in (L.l1, L.fft_l1, L.reconstruction):
        assert 0 < fn(small, x) < fn(large, x)
    pred = small.clone().requires_grad_(True)
    L.reconstruction(pred, x).backward()
    assert_grad(pred)


def test_reconstruction_values():
    x = img(0)
    y = x + 0.05
    assert_close(L.l1(y, x), torch.tensor(0.05))
    # a constant offset c lives only in the DC coefficient: c·√(HW) with the ortho norm, spread
    # as a mean over the 3·8·5 complex coefficients × 2 parts of each image
    assert_close(L.fft_l1(y, x), torch.tensor(0.05 * 8 / (8 * 5 * 2)))
    assert_close(L.reconstruction(y, x, fft_weight=0.5),
                 L.l1(y, x) + 0.5 * L.fft_l1(y, x))


def clustered(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Three label vectors (one a mixture), four samples each, embeddings near their centroid."""
    g = gen(seed)
    labels = torch.tensor([[1, 0, 0], [0, 1, 0], [1, 1, 0]], dtype=torch.float32)
    labels = labels.repeat_interleave(4, 0)
    centroids = torch.randn(3, 16, generator=g)
    z = centroids.repeat_interleave(4, 0) + 0.1 * torch.randn(12, 16, generator=g)
    return z, labels


def test_degradation_contrastive_prefers_clusters():
    z, labels = clustered()
    clustered_loss = L.degradation_contrastive(z, labels)
    shuffled = L.degradation_contrastive(z, labels[torch.randperm(12, generator=gen(1))])
    assert clustered_loss < 0.1 < shuffled
    zz = z.clone().requires_grad_(True)
    L.degradation_contrastive(zz, labels).backward()
    assert_grad(zz)


def test_degradation_contrastive_matches_eq12_for_a_pair():
    z = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    labels = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    s = torch.nn.functional.normalize(z, dim=1) @ torch.nn.functional.normalize(z, dim=1).T / 0.1
    # anchors 0 and 1 each have one positive (each other) and one negative (sample 2)
    l0 = -torch.log(s[0, 1].exp() / (s[0, 1].exp() + s[0, 2].exp()))
    l1 = -torch.log(s[1, 0].exp() / (s[1, 0].exp() + s[1, 2].exp()))
    assert_close(L.degradation_contrastive(z, labels), (l0 + l1) / 2)


def test_degradation_contrastive_without_positives_is_grad_safe_zero():
    z = torch.randn(3, 4, generator=gen(0), requires_grad=True)
    labels = torch.eye(3)
    loss = L.degradation_contrastive(z, labels)
    assert_close(loss, torch.zeros(()))
    loss.backward()
    assert_close(z.grad, torch.zeros_like(z))
    # one label for the whole batch: positives but no negatives, still finite and zero
    z2 = z.detach().clone().requires_grad_(True)
    loss2 = L.degradation_contrastive(z2, torch.ones(3, 2))
    loss2.backward()
    assert_close(loss2, torch.zeros(()))
    assert torch.isfinite(z2.grad).all()


def test_quality_aware_hinge():
    t = math.log(0.8 / 0.2)
    logits = torch.tensor([-4.0, -1.0, 0.0, 1.0, t, t + 1.0, 6.0])
    values = torch.stack([L.quality_aware(v[None]) for v in logits])
    assert (values[:-1] >= values[1:]).all() and (values[:4] > values[1:5]).all()
    assert_close(values[4:], torch.zeros(3))
    assert_close(values[2], torch.tensor(t))  # score 0.5: shortfall of ln 4 logit units
    q = torch.tensor([-2.0, 3.0], requires_grad=True)
    L.quality_aware(q).backward()
    assert_close(q.grad, torch.tensor([-0.5, 0.0]))
    with pytest.raises(ValueError):
        L.quality_aware(q, target_score=1.0)


def feats(seed: int, b: int = 3) -> list[torch.Tensor]:
    g = gen(seed)
    return [torch.randn(b, 4, 4, 4, generator=g), torch.randn(b, 8, 2, 2, generator=g)]


def test_contrastive_perceptual_ratio():
    clean, inp = feats(0), feats(1)
    near = [c + 0.1 * (i - c) for c, i in zip(clean, inp, strict=True)]
    far = [c + 0.9 * (i - c) for c, i in zip(clean, inp, strict=True)]
    assert_close(L.contrastive_perceptual(clean, clean, inp), torch.zeros(()))
    # on the segment clean→input, the ratio at fraction a is a / (1 − a)
    assert_close(L.contrastive_perceptual(near, clean, inp), torch.tensor(0.1 / 0.9))
    assert L.contrastive_perceptual(near, clean, inp) < 1 < L.contrastive_perceptual(far, clean, inp)
    # identical input and clean features (a clean sample) must not divide by zero
    assert torch.isfinite(L.contrastive_perceptual(near, clean, clean))
    out = [f.clone().requires_grad_(True) for f in near]
    L.contrastive_perceptual(out, clean, inp, weights=(1 / 3, 1.0)).backward()
    for f in out:
        assert_grad(f)


def test_contrastive_perceptual_difficulty_weighting():
    clean, inp = feats(0, b=2), feats(1, b=2)
    # sample 0 close to clean (ratio 1/9), sample 1 far (ratio 9)
    frac = torch.tensor([0.1, 0.9])[:, None, None, None]
    out = [c + frac * (i - c) for c, i in zip(clean, inp, strict=True)]
    plain = L.contrastive_perceptual(out, clean, inp)
    # eps = 1e-6 in the denominators: equal to about 1e-5 relative
    assert_close(plain, torch.tensor((1 / 9 + 9) / 2), rtol=1e-4, atol=0)
    uniform = L.contrastive_perceptual(out, clean, inp, difficulty=torch.tensor([0.3, 0.3]))
    assert_close(uniform, plain)
    hard_far = L.contrastive_perceptual(out, clean, inp, difficulty=torch.tensor([0.0, 1.0]))
    hard_near = L.contrastive_perceptual(out, clean, inp, difficulty=torch.tensor([1.0, 0.0]))
    # binary difficulty gives weights 1 ± 0.25 (Eq. 10)
    assert_close(hard_far, torch.tensor((0.75 / 9 + 1.25 * 9) / 2), rtol=1e-4, atol=0)
    assert hard_near < plain < hard_far


def test_clue_consistency():
    a = img(0)
    assert_close(L.clue_consistency(a, a), torch.zeros(()))
    b = (a + 0.1).requires_grad_(True)
    assert_close(L.clue_consistency(a, b), torch.tensor(0.01))
    fa, fb = feats(0), feats(1)
    weak, strong = [a, *fa], [b, *fb]
    expect = 0.5 * 0.01 + 0.25 * (fa[0] - fb[0]).pow(2).mean() + 0.25 * (fa[1] - fb[1]).pow(2).mean()
    assert_close(L.clue_consistency(weak, strong, weights=(0.5, 0.25, 0.25)), expect)
    w = a.clone().requires_grad_(True)
    L.clue_consistency(w, b).backward()
    assert w.grad is None
    assert_grad(b)
    w2 = a.clone().requires_grad_(True)
    L.clue_consistency(w2, b.detach(), detach_weak=False).backward()
    assert_grad(w2)
    with pytest.raises(ValueError):
        L.clue_consistency([a], [a, a])


def test_prompt_diversity():
    orth = torch.eye(6)[:4].reshape(4, 2, 3)  # N×T×d, orthogonal once flattened
    assert_close(L.prompt_diversity(orth), torch.zeros(()))
    dup = torch.randn(1, 2, 3, generator=gen(0)).repeat(4, 1, 1).requires_grad_(True)
    loss = L.prompt_diversity(dup)
    assert_close(loss, torch.tensor(0.9))  # every pair has cosine 1: 1 − τ_div
    partial = torch.cat([orth[:2], orth[:1] + 0.5 * orth[1:2], orth[3:]])
    assert 0 < L.prompt_diversity(partial) < loss
    v = torch.randn(5, 8, generator=gen(1)).requires_grad_(True)
    L.prompt_diversity(torch.cat([v, v[:1] + 0.01])).backward()
    assert_grad(v)


def test_prompt_balance():
    n = 5
    assert_close(L.prompt_balance(torch.zeros(3, n)), torch.zeros(()))
    # batch-averaged: each query one-hot on a different prompt is balanced use
    spread = torch.eye(n)
    assert L.prompt_balance(spread, temperature=0.01) < 1e-4
    one_hot = torch.zeros(4, n)
    one_hot[:, 2] = 1.0
    assert_close(L.prompt_balance(one_hot, temperature=0.01), torch.tensor(math.log(n)),
                 atol=1e-3, rtol=0)
    assert 0 < L.prompt_balance(one_hot) < math.log(n)  # cosine scale, paper's temperature
    s = (0.5 * one_hot).requires_grad_(True)
    L.prompt_balance(s).backward()
    assert_grad(s)


def test_prompt_contrastive():
    g = gen(0)
    keys = torch.randn(6, 8, generator=g)
    idx = torch.tensor([[0, 1], [2, 3]])
    on_key = keys[[0, 2]].clone()
    elsewhere = keys[[4, 5]].clone()
    assert L.prompt_contrastive(on_key, keys, idx) < L.prompt_contrastive(elsewhere, keys, idx)
    q = on_key.clone().requires_grad_(True)
    k = keys.clone().requires_grad_(True)
    L.prompt_contrastive(q, k, idx).backward()
    assert_grad(q)
    assert_grad(k)
    everything = torch.arange(6).repeat(2, 1)
    assert_close(L.prompt_contrastive(on_key, keys, everything), torch.zeros(()))


def test_prompt_align():
    a = torch.randn(3, 8, generator=gen(0))
    assert_close(L.prompt_align(a, 2.0 * a), torch.zeros(()))
    assert_close(L.prompt_align(a, -a), torch.tensor(2.0))
    orth = torch.eye(4)
    assert_close(L.prompt_align(orth[:2], orth[2:]), torch.tensor(1.0))
    p = torch.randn(3, 8, generator=gen(1), requires_grad=True)
    L.prompt_align(p, a).backward()
    assert_grad(p)
