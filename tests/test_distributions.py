"""ember.multinomial (statistics, no-replacement uniqueness, generators, errors) and
ember.distributions against torch.distributions."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from conftest import requires_torch, torch
from ember import distributions as D

RNG = np.random.default_rng(3)


def npy(t):
    if isinstance(t, np.ndarray):
        return t
    return t.detach().numpy() if isinstance(t, torch.Tensor) else t.numpy(force=True)


def close(a, b, tol=1e-6):
    np.testing.assert_allclose(npy(a), npy(b), rtol=tol, atol=tol)


# ----------------------------------------------------------------------------- multinomial


def chi_square(counts, probs):
    expected = probs * counts.sum()
    return float(((counts - expected) ** 2 / expected).sum())


def test_multinomial_with_replacement_statistics():
    p = np.array([0.1, 0.0, 0.4, 0.2, 0.3])
    g = ember.Generator().manual_seed(7)
    s = ember.multinomial(
        ember.tensor(p * 3.0), 20000, replacement=True, generator=g
    )  # unnormalized weights
    assert s.dtype == ember.int64 and tuple(s.shape) == (20000,)
    counts = np.bincount(s.numpy(), minlength=5)
    assert counts[1] == 0  # zero weight: never drawn
    nz = p > 0
    # 3 degrees of freedom: chi2 < 25 has probability ~1 - 1e-5 under the null
    assert chi_square(counts[nz], p[nz]) < 25


def test_multinomial_2d_rows_are_independent_distributions():
    p = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 2.0], [1.0, 1.0, 1.0]])
    ember.manual_seed(0)
    s = ember.multinomial(ember.tensor(p), 3000, True).numpy()
    assert s.shape == (3, 3000)
    assert (s[0] == 0).all() and (s[1] == 2).all()
    assert chi_square(np.bincount(s[2], minlength=3), np.ones(3) / 3) < 20


def test_multinomial_without_replacement():
    p = ember.tensor([[0.5, 0.1, 0.0, 0.2, 0.2], [1.0, 1.0, 1.0, 1.0, 1.0]])
    for seed in range(20):
        s = ember.multinomial(p, 4, generator=ember.Generator().manual_seed(seed)).numpy()
        for row in s:
            assert len(set(row.tolist())) == 4
        assert 2 not in s[0]  # zero weight
    # first draw follows the weights: P(first = 0) = 0.5
    g = ember.Generator().manual_seed(1)
    firsts = np.array(
        [
            ember.multinomial(ember.tensor([0.5, 0.25, 0.25]), 2, generator=g)[0].item()
            for _ in range(4000)
        ]
    )
    assert chi_square(np.bincount(firsts, minlength=3), np.array([0.5, 0.25, 0.25])) < 20
    # the second draw without replacement: P(second = 0) = 0.25/0.75*0.5 + 0.25/0.75*0.5 = 1/3
    full = ember.multinomial(ember.tensor([[0.5, 0.25, 0.25]] * 6000), 3, generator=g).numpy()
    assert np.allclose(np.sort(full, 1), [0, 1, 2])
    assert abs((full[:, 1] == 0).mean() - 1 / 3) < 0.03


def test_multinomial_generator_reproducible():
    p = ember.rand(4, 10)
    a = ember.multinomial(p, 6, True, generator=ember.Generator().manual_seed(5))
    b = ember.multinomial(p, 6, True, generator=ember.Generator().manual_seed(5))
    c = ember.multinomial(p, 6, True, generator=ember.Generator().manual_seed(6))
    assert a.tolist() == b.tolist() and a.tolist() != c.tolist()
    ember.manual_seed(11)
    x = ember.multinomial(p, 5)
    ember.manual_seed(11)
    assert ember.multinomial(p, 5).tolist() == x.tolist()
    ember.manual_seed(11)
    assert p.multinomial(5).tolist() == x.tolist()  # the Tensor method


def test_multinomial_errors():
    with pytest.raises(RuntimeError, match="prob_dist must be 1 or 2 dim"):
        ember.multinomial(ember.rand(2, 2, 2), 1)
    with pytest.raises(RuntimeError, match="n_sample <= 0"):
        ember.multinomial(ember.rand(3), 0)
    with pytest.raises(RuntimeError, match="without replacement"):
        ember.multinomial(ember.rand(3), 4)
    with pytest.raises(RuntimeError, match="element < 0"):
        ember.multinomial(ember.tensor([0.5, -0.1]), 1)
    with pytest.raises(RuntimeError, match="`inf`, `nan`"):
        ember.multinomial(ember.tensor([0.5, float("nan")]), 1)
    with pytest.raises(RuntimeError, match="sum of probabilities <= 0"):
        ember.multinomial(ember.zeros(3), 1, True)
    with pytest.raises(RuntimeError, match="not enough non-negative category"):
        ember.multinomial(ember.tensor([1.0, 0.0, 0.0]), 2)
    with pytest.raises(RuntimeError, match="floating-point"):
        ember.multinomial(ember.tensor([1, 2]), 1)


# ----------------------------------------------------------------------------- distributions


@requires_torch
@pytest.mark.parametrize("param", ["probs", "logits"])
def test_categorical_matches_torch(param):
    raw = RNG.random((2, 3, 5)) + (0.0 if param == "probs" else -0.5)
    raw[0, 0, 1] = 0.0
    e = D.Categorical(**{param: ember.tensor(raw)})
    t = torch.distributions.Categorical(**{param: torch.tensor(raw)})
    assert e.batch_shape == tuple(t.batch_shape) and e.event_shape == ()
    close(e.probs, t.probs)
    close(e.logits, t.logits)
    close(e.entropy(), t.entropy())
    v = RNG.integers(0, 5, (4, 2, 3))
    close(e.log_prob(ember.tensor(v)), t.log_prob(torch.tensor(v)))
    assert e.mode.tolist() == t.mode.tolist()
    assert np.isnan(e.mean.numpy()).all() and tuple(e.variance.shape) == (2, 3)
    s = e.sample((7,))
    assert tuple(s.shape) == (7, 2, 3) and s.dtype == ember.int64


@requires_torch
def test_categorical_sampling_and_gradients():
    e = D.Categorical(probs=ember.tensor([0.2, 0.5, 0.3]))
    ember.manual_seed(3)
    s = e.sample((10000,)).numpy()
    counts = np.bincount(s, minlength=3)
    assert chi_square(counts, np.array([0.2, 0.5, 0.3])) < 20
    logits = ember.tensor([0.1, -0.3, 0.7], requires_grad=True)
    tl = torch.tensor([0.1, -0.3, 0.7], requires_grad=True)
    (
        D.Categorical(logits=logits).log_prob(ember.tensor(2))
        + D.Categorical(logits=logits).entropy()
    ).backward()
    (
        torch.distributions.Categorical(logits=tl).log_prob(torch.tensor(2))
        + torch.distributions.Categorical(logits=tl).entropy()
    ).backward()
    close(logits.grad, tl.grad)


@requires_torch
def test_normal_matches_torch():
    loc, scale = RNG.standard_normal((3, 1)), RNG.random(4) + 0.5
    e = D.Normal(ember.tensor(loc, requires_grad=True), ember.tensor(scale, requires_grad=True))
    t = torch.distributions.Normal(torch.tensor(loc), torch.tensor(scale))
    assert e.batch_shape == (3, 4)
    v = RNG.standard_normal((2, 3, 4))
    close(e.log_prob(ember.tensor(v)), t.log_prob(torch.tensor(v)))
    close(e.cdf(ember.tensor(v)), t.cdf(torch.tensor(v)))
    close(e.entropy(), t.entropy())
    close(e.mean, t.mean)
    close(e.variance, t.variance)
    close(e.stddev, t.stddev)
    r = e.rsample((5,))
    assert tuple(r.shape) == (5, 3, 4) and r.requires_grad
    assert not e.sample((2,)).requires_grad
    n = D.Normal(2.0, 3.0)
    ember.manual_seed(0)
    x = n.sample((20000,)).numpy()
    assert abs(x.mean() - 2.0) < 0.1 and abs(x.std() - 3.0) < 0.1
    # reparameterized gradient: d/dloc mean(rsample) = 1
    loc_t = ember.tensor([0.5], requires_grad=True)
    D.Normal(loc_t, 1.0).rsample((100,)).mean().backward()
    close(loc_t.grad, np.array([1.0]))


@requires_torch
@pytest.mark.parametrize("param", ["probs", "logits"])
def test_bernoulli_matches_torch(param):
    raw = RNG.random((2, 3)) if param == "probs" else RNG.standard_normal((2, 3)) * 2
    e = D.Bernoulli(**{param: ember.tensor(raw)})
    t = torch.distributions.Bernoulli(**{param: torch.tensor(raw)})
    v = (RNG.random((4, 2, 3)) > 0.5).astype(np.float64)
    close(e.log_prob(ember.tensor(v)), t.log_prob(torch.tensor(v)))
    close(e.entropy(), t.entropy())
    close(e.mean, t.mean)
    close(e.variance, t.variance)
    close(e.probs, t.probs)
    close(e.logits, t.logits, 1e-5)
    s = e.sample((1000,))
    assert tuple(s.shape) == (1000, 2, 3) and set(np.unique(s.numpy())) <= {0.0, 1.0}
    assert np.abs(s.numpy().mean(0) - npy(t.probs)).max() < 0.1


def test_validate_args_errors():
    with pytest.raises(
        ValueError, match=r"Expected parameter scale .* GreaterThan\(lower_bound=0.0\)"
    ):
        D.Normal(ember.zeros(2), ember.tensor([1.0, -1.0]))
    D.Normal(ember.zeros(2), ember.tensor([1.0, -1.0]), validate_args=False)  # unchecked
    with pytest.raises(
        ValueError, match="Either `probs` or `logits` must be specified, but not both"
    ):
        D.Bernoulli(probs=ember.tensor([0.5]), logits=ember.tensor([0.0]))
    with pytest.raises(ValueError, match="Either `probs` or `logits`"):
        D.Categorical()
    with pytest.raises(ValueError, match=r"Expected parameter probs .* Interval"):
        D.Bernoulli(probs=ember.tensor([1.5]))
    with pytest.raises(ValueError, match="within the support"):
        D.Bernoulli(probs=ember.tensor([0.5])).log_prob(ember.tensor([0.5]))
    with pytest.raises(ValueError, match="within the support"):
        D.Categorical(probs=ember.ones(3)).log_prob(ember.tensor([3]))
    with pytest.raises(ValueError, match="not broadcastable"):
        D.Normal(ember.zeros(3), 1.0).log_prob(ember.zeros(4))
    with pytest.raises(ValueError, match="at least one-dimensional"):
        D.Categorical(probs=ember.tensor(0.5))
    with pytest.raises(NotImplementedError):
        D.Categorical(probs=ember.ones(3)).rsample()
