"""View ops: shapes and strides (vs PyTorch), values (vs NumPy), storage sharing, errors.

Every view lambda below is written with the PyTorch API, so the same lambda runs on an ember
tensor and on a torch tensor (for the stride reference); ``np_fn`` is the NumPy equivalent
(which must itself be a NumPy *view* so writes can be mirrored on the reference).
"""

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import pytest

import ember
from conftest import DTYPES, assert_equal, requires_torch, to_np, torch


def _lib(t):
    """ember or torch, whichever ``t`` belongs to (for ops that build a second tensor)."""
    return torch if torch is not None and isinstance(t, torch.Tensor) else ember


@dataclass
class Case:
    id: str
    shape: tuple
    fn: Callable
    np_fn: Optional[Callable] = None  # None: same lambda as fn (plain indexing)
    writable: bool = True  # False for expanded views (several elements share memory)

    def ref(self, a):
        return (self.np_fn or self.fn)(a)


VIEW_CASES = [
    # reshape / view
    Case("reshape_flat", (3, 4), lambda t: t.reshape(12), lambda a: a.reshape(12)),
    Case("reshape_-1", (2, 3, 4), lambda t: t.reshape(-1), lambda a: a.reshape(-1)),
    Case(
        "reshape_infer_mid", (2, 3, 4), lambda t: t.reshape(2, -1, 3), lambda a: a.reshape(2, -1, 3)
    ),
    Case("reshape_tuple", (12,), lambda t: t.reshape((3, 4)), lambda a: a.reshape(3, 4)),
    Case("reshape_to_0d", (1,), lambda t: t.reshape(()), lambda a: a.reshape(())),
    Case("reshape_0d_to_1d", (), lambda t: t.reshape(1, 1), lambda a: a.reshape(1, 1)),
    Case("reshape_zero_size", (0, 3), lambda t: t.reshape(3, 0), lambda a: a.reshape(3, 0)),
    Case("reshape_zero_infer", (0, 3), lambda t: t.reshape(-1, 3), lambda a: a.reshape(-1, 3)),
    Case("view", (12,), lambda t: t.view(4, 3), lambda a: a.reshape(4, 3)),
    Case("view_-1", (4, 3), lambda t: t.view(-1), lambda a: a.reshape(-1)),
    Case(
        "view_split_last", (2, 3, 4), lambda t: t.view(2, 3, 2, 2), lambda a: a.reshape(2, 3, 2, 2)
    ),
    Case("view_prime", (13,), lambda t: t.view(1, 13, 1), lambda a: a.reshape(1, 13, 1)),
    # permute / transpose
    Case("permute", (2, 3, 4), lambda t: t.permute(2, 0, 1), lambda a: a.transpose(2, 0, 1)),
    Case("permute_neg", (2, 3, 4), lambda t: t.permute(-1, -3, -2), lambda a: a.transpose(2, 0, 1)),
    Case(
        "permute_tuple", (2, 3, 4), lambda t: t.permute((1, 0, 2)), lambda a: a.transpose(1, 0, 2)
    ),
    Case("transpose", (2, 3, 4), lambda t: t.transpose(0, 2), lambda a: a.swapaxes(0, 2)),
    Case("transpose_neg", (7, 13), lambda t: t.transpose(-1, -2), lambda a: a.T),
    Case("transpose_same", (3, 4), lambda t: t.transpose(1, 1), lambda a: a[...]),
    Case("T", (7, 13), lambda t: t.T, lambda a: a.T),
    Case("mT", (2, 3, 4), lambda t: t.mT, lambda a: a.swapaxes(-1, -2)),
    # squeeze / unsqueeze
    Case("squeeze_all", (1, 3, 1, 7), lambda t: t.squeeze(), lambda a: a.squeeze()),
    Case("squeeze_dim", (1, 3, 1, 7), lambda t: t.squeeze(0), lambda a: a.squeeze(0)),
    Case("squeeze_neg", (1, 3, 1, 7), lambda t: t.squeeze(-2), lambda a: a.squeeze(-2)),
    Case("squeeze_tuple", (1, 3, 1, 7), lambda t: t.squeeze((0, 2)), lambda a: a.squeeze((0, 2))),
    Case("squeeze_not_1", (1, 3, 1, 7), lambda t: t.squeeze(1), lambda a: a[...]),
    Case("squeeze_0d", (), lambda t: t.squeeze(), lambda a: a[...]),
    Case("squeeze_all_ones", (1, 1), lambda t: t.squeeze(), lambda a: a.reshape(())),
    Case("unsqueeze_0", (3, 7), lambda t: t.unsqueeze(0), lambda a: a[None]),
    Case("unsqueeze_last", (3, 7), lambda t: t.unsqueeze(-1), lambda a: a[..., None]),
    Case("unsqueeze_mid", (3, 7), lambda t: t.unsqueeze(1), lambda a: a[:, None]),
    Case("unsqueeze_0d", (), lambda t: t.unsqueeze(0), lambda a: a.reshape(1)),
    # expand / broadcast_to
    Case("expand", (1, 7), lambda t: t.expand(3, -1), lambda a: np.broadcast_to(a, (3, 7)), False),
    Case(
        "expand_new_dims",
        (3, 1),
        lambda t: t.expand(2, 3, 7),
        lambda a: np.broadcast_to(a, (2, 3, 7)),
        False,
    ),
    Case(
        "expand_tuple",
        (3, 1),
        lambda t: t.expand((3, 5)),
        lambda a: np.broadcast_to(a, (3, 5)),
        False,
    ),
    Case("expand_same", (2, 3), lambda t: t.expand(2, 3), lambda a: a[...]),
    Case(
        "expand_to_0", (1, 3), lambda t: t.expand(0, 3), lambda a: np.broadcast_to(a, (0, 3)), False
    ),
    Case("expand_0d", (), lambda t: t.expand(4), lambda a: np.broadcast_to(a, (4,)), False),
    Case(
        "expand_as",
        (3, 1),
        lambda t: t.expand_as(_lib(t).zeros(4, 3, 5)),
        lambda a: np.broadcast_to(a, (4, 3, 5)),
        False,
    ),
    Case(
        "broadcast_to",
        (7,),
        lambda t: t.broadcast_to((2, 3, 7)),
        lambda a: np.broadcast_to(a, (2, 3, 7)),
        False,
    ),
    Case(
        "ember.broadcast_to",
        (2, 1),
        lambda t: _lib(t).broadcast_to(t, (2, 5)),
        lambda a: np.broadcast_to(a, (2, 5)),
        False,
    ),
    # flatten / unflatten
    Case("flatten", (2, 3, 4), lambda t: t.flatten(), lambda a: a.reshape(-1)),
    Case("flatten_start", (2, 3, 4), lambda t: t.flatten(1), lambda a: a.reshape(2, 12)),
    Case("flatten_range", (2, 3, 4, 5), lambda t: t.flatten(1, 2), lambda a: a.reshape(2, 12, 5)),
    Case("flatten_neg", (2, 3, 4), lambda t: t.flatten(0, -2), lambda a: a.reshape(6, 4)),
    Case(
        "flatten_kw",
        (2, 3, 4),
        lambda t: t.flatten(start_dim=1, end_dim=2),
        lambda a: a.reshape(2, 12),
    ),
    Case("flatten_0d", (), lambda t: t.flatten(), lambda a: a.reshape(1)),
    Case("unflatten", (2, 12), lambda t: t.unflatten(1, (3, 4)), lambda a: a.reshape(2, 3, 4)),
    Case(
        "unflatten_infer", (6, 5), lambda t: t.unflatten(0, (-1, 2)), lambda a: a.reshape(3, 2, 5)
    ),
    Case("unflatten_neg", (2, 6), lambda t: t.unflatten(-1, (2, 3)), lambda a: a.reshape(2, 2, 3)),
    # slicing (same expression for NumPy)
    Case("[1:]", (13,), lambda t: t[1:]),
    Case("[::2]", (13,), lambda t: t[::2]),
    Case("[1:-1:3]", (13,), lambda t: t[1:-1:3]),
    Case("[-3:]", (13,), lambda t: t[-3:]),
    Case("[2:2]", (7,), lambda t: t[2:2]),
    Case("[5:100]", (7,), lambda t: t[5:100]),
    Case("[-100:2]", (7,), lambda t: t[-100:2]),
    Case("[:,::2]", (3, 7), lambda t: t[:, ::2]),
    Case("[::3,1::2]", (7, 13), lambda t: t[::3, 1::2]),
    Case("[...,1]", (2, 3, 4), lambda t: t[..., 1]),
    Case("[None]", (3,), lambda t: t[None]),
    Case("[:,None,1:]", (3, 4), lambda t: t[:, None, 1:]),
    Case("[1:,...,None,::2]", (2, 3, 4), lambda t: t[1:, ..., None, ::2]),
    Case("[1,:,-1]", (2, 3, 4), lambda t: t[1, :, -1]),
    Case("[-1]", (3, 4), lambda t: t[-1]),
    Case("[:,0]", (3, 4), lambda t: t[:, 0]),
    Case("[0]_of_1d", (1,), lambda t: t[0], lambda a: a[0, ...]),
    Case("[-2,3]", (3, 4), lambda t: t[-2, 3], lambda a: a[-2, 3, ...]),
    # movedim / narrow / select
    Case("movedim", (2, 3, 4), lambda t: t.movedim(0, -1), lambda a: np.moveaxis(a, 0, -1)),
    Case(
        "movedim_tuple",
        (2, 3, 4),
        lambda t: t.movedim((0, 1), (2, 0)),
        lambda a: np.moveaxis(a, (0, 1), (2, 0)),
    ),
    Case(
        "ember.movedim",
        (2, 3, 4),
        lambda t: _lib(t).movedim(t, 1, 0),
        lambda a: np.moveaxis(a, 1, 0),
    ),
    Case("narrow", (3, 7), lambda t: t.narrow(1, 2, 3), lambda a: a[:, 2:5]),
    Case("narrow_neg_dim", (7, 3), lambda t: t.narrow(-2, 0, 1), lambda a: a[0:1]),
    Case("narrow_len0", (7,), lambda t: t.narrow(0, 3, 0), lambda a: a[3:3]),
    Case("select", (3, 7), lambda t: t.select(1, 2), lambda a: a[:, 2]),
    Case("select_neg", (3, 7), lambda t: t.select(0, -1), lambda a: a[-1]),
]

# view ops applied to inputs that are already non-contiguous
NONCONTIG_CASES = [
    Case("T.transpose", (3, 5), lambda t: t.T.transpose(0, 1), lambda a: a.T.T),
    Case("T.unsqueeze", (3, 5), lambda t: t.T.unsqueeze(1), lambda a: a.T[:, None]),
    Case("T.slice", (7, 5), lambda t: t.T[1:, ::2], lambda a: a.T[1:, ::2]),
    Case("T.T", (7, 5), lambda t: t.T.T, lambda a: a.T.T),
    Case(
        "step.view_split",
        (2, 3, 8),
        lambda t: t[:, ::2].view(2, 2, 2, 4),
        lambda a: a[:, ::2].reshape(2, 2, 2, 4),
    ),
    Case(
        "transpose.view_split",
        (2, 3, 4),
        lambda t: t.transpose(0, 1).view(3, 2, 2, 2),
        lambda a: a.swapaxes(0, 1).reshape(3, 2, 2, 2),
    ),
    Case(
        "step.permute",
        (6, 4, 3),
        lambda t: t[::2].permute(2, 0, 1),
        lambda a: a[::2].transpose(2, 0, 1),
    ),
    Case("step.step", (13,), lambda t: t[1::2][::3], lambda a: a[1::2][::3]),
    Case(
        "slice.expand",
        (3, 4),
        lambda t: t[:, :1].expand(3, 5),
        lambda a: np.broadcast_to(a[:, :1], (3, 5)),
        False,
    ),
    Case("T.squeeze", (1, 5), lambda t: t.T.squeeze(1), lambda a: a.T.squeeze(1)),
    Case("T.select", (3, 5), lambda t: t.T.select(0, 2), lambda a: a.T[2]),
    Case("T.narrow", (3, 5), lambda t: t.T.narrow(1, 1, 2), lambda a: a.T[:, 1:3]),
    Case(
        "permute.movedim",
        (2, 3, 4),
        lambda t: t.permute(2, 1, 0).movedim(0, 1),
        lambda a: np.moveaxis(a.transpose(2, 1, 0), 0, 1),
    ),
    Case(
        "expand.slice",
        (1, 7),
        lambda t: t.expand(4, 7)[1:3, ::3],
        lambda a: np.broadcast_to(a, (4, 7))[1:3, ::3],
        False,
    ),
]

# reshape/flatten/unflatten on non-contiguous input that can still be a view (as in torch)
NONCONTIG_CASES += [
    Case("step.reshape", (13,), lambda t: t[::2].reshape(7, 1), lambda a: a[::2].reshape(7, 1)),
    Case(
        "permute.reshape",
        (2, 3, 4),
        lambda t: t.permute(1, 2, 0).reshape(-1, 2),
        lambda a: a.transpose(1, 2, 0).reshape(-1, 2),
    ),
    Case("T.unflatten", (6, 2), lambda t: t.T.unflatten(1, (2, 3)), lambda a: a.T.reshape(2, 2, 3)),
]

# reshape/flatten of non-contiguous input that cannot be a view: the result is a copy
NONCONTIG_COPY_CASES = [
    Case("T.reshape", (3, 5), lambda t: t.T.reshape(15), lambda a: a.T.reshape(15)),
    Case("T.flatten", (3, 5), lambda t: t.T.flatten(), lambda a: a.T.flatten()),
    Case(
        "expand.reshape",
        (3, 1),
        lambda t: t.expand(3, 4).reshape(12),
        lambda a: np.broadcast_to(a, (3, 4)).reshape(12),
    ),
    Case(
        "permute.reshape_copy",
        (2, 3, 4),
        lambda t: t.permute(1, 0, 2).reshape(6, 4),
        lambda a: a.transpose(1, 0, 2).reshape(6, 4),
    ),
]

ALL_VIEW_CASES = VIEW_CASES + NONCONTIG_CASES


def _ids(cases):
    return [c.id for c in cases]


def _base(shape, lib=None):
    """int64 tensor 0..n-1 of the given shape (a fresh contiguous tensor)."""
    lib = lib or ember
    n = int(np.prod(shape))
    return lib.arange(n).reshape(shape)


def _np_base(shape):
    return np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)


# --------------------------------------------------------------------------------------------
# shapes, values, strides
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case", ALL_VIEW_CASES + NONCONTIG_COPY_CASES, ids=_ids(ALL_VIEW_CASES + NONCONTIG_COPY_CASES)
)
def test_view_values(case):
    v = case.fn(_base(case.shape))
    ref = case.ref(_np_base(case.shape))
    assert tuple(v.shape) == ref.shape
    assert v.dtype == ember.int64
    assert_equal(v, ref)


@requires_torch
@pytest.mark.parametrize(
    "case", ALL_VIEW_CASES + NONCONTIG_COPY_CASES, ids=_ids(ALL_VIEW_CASES + NONCONTIG_COPY_CASES)
)
def test_view_strides_match_torch(case):
    v = case.fn(_base(case.shape))
    tv = case.fn(_base(case.shape, torch))
    assert tuple(v.shape) == tuple(tv.shape)
    assert tuple(v.stride()) == tuple(tv.stride())
    assert v.is_contiguous() == tv.is_contiguous()


@requires_torch
@pytest.mark.parametrize("case", ALL_VIEW_CASES, ids=_ids(ALL_VIEW_CASES))
def test_view_storage_offset_matches_torch(case):
    v = case.fn(_base(case.shape))
    tv = case.fn(_base(case.shape, torch))
    assert v.storage_offset() == tv.storage_offset()


# --------------------------------------------------------------------------------------------
# storage sharing
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ALL_VIEW_CASES, ids=_ids(ALL_VIEW_CASES))
def test_view_data_ptr(case):
    base = _base(case.shape)
    v = case.fn(base)
    if v.numel() == 0:
        return
    assert v.data_ptr() == base.data_ptr() + v.storage_offset() * v.element_size()


@pytest.mark.parametrize("case", ALL_VIEW_CASES, ids=_ids(ALL_VIEW_CASES))
def test_write_to_base_visible_in_view(case):
    base = _base(case.shape)
    v = case.fn(base)
    base.add_(1000)
    assert_equal(v, case.ref(_np_base(case.shape) + 1000))


@pytest.mark.parametrize(
    "case",
    [c for c in ALL_VIEW_CASES if c.writable],
    ids=_ids(c for c in ALL_VIEW_CASES if c.writable),
)
def test_write_to_view_visible_in_base(case):
    base = _base(case.shape)
    case.fn(base).fill_(-1)
    ref = _np_base(case.shape)
    ref_view = case.ref(ref)
    assert np.shares_memory(ref_view, ref) or ref_view.size == 0
    ref_view[...] = -1
    assert_equal(base, ref)


@pytest.mark.parametrize("case", NONCONTIG_COPY_CASES, ids=_ids(NONCONTIG_COPY_CASES))
def test_reshape_copy_of_non_contiguous_is_independent(case):
    base = _base(case.shape)
    out = case.fn(base)
    out.fill_(-1)
    assert_equal(base, _np_base(case.shape))


def test_setitem_through_transposed_view():
    base = ember.arange(12).reshape(3, 4)
    base.T[1, 2] = 100
    assert to_np(base)[2, 1] == 100


def test_views_of_views_share_storage():
    base = ember.zeros(4, 6)
    v = base[1:].T[::2].unsqueeze(0)  # shape (1, 3, 3)
    v.fill_(5)
    ref = np.zeros((4, 6), np.float32)
    ref[1:].T[::2] = 5
    assert_equal(base, ref)


# --------------------------------------------------------------------------------------------
# every dtype
# --------------------------------------------------------------------------------------------

DTYPE_VIEW_CASES = [
    c
    for c in ALL_VIEW_CASES
    if c.id
    in {
        "reshape_infer_mid",
        "transpose",
        "[::3,1::2]",
        "unsqueeze_mid",
        "expand_new_dims",
        "squeeze_all",
        "T.slice",
        "narrow",
        "movedim",
        "flatten_range",
    }
]


@pytest.mark.parametrize("d", DTYPES, ids=[d.name for d in DTYPES])
@pytest.mark.parametrize("case", DTYPE_VIEW_CASES, ids=_ids(DTYPE_VIEW_CASES))
def test_view_all_dtypes(case, d):
    base = _base(case.shape).to(d.ember)
    v = case.fn(base)
    assert v.dtype == d.ember
    ref = _np_base(case.shape).astype(d.numpy or np.float32)
    assert_equal(v, case.ref(ref).astype(to_np(v).dtype))
    if case.writable:
        v.fill_(1)
        case.ref(ref)[...] = 1
        assert_equal(base, ref.astype(to_np(base).dtype))


# --------------------------------------------------------------------------------------------
# contiguous / is_contiguous
# --------------------------------------------------------------------------------------------


def test_contiguous_of_contiguous_is_same_storage():
    t = ember.arange(12).reshape(3, 4)
    c = t.contiguous()
    assert c.data_ptr() == t.data_ptr()
    assert tuple(c.stride()) == (4, 1)


@pytest.mark.parametrize(
    "case",
    [c for c in ALL_VIEW_CASES if c.id in {"T", "permute", "[::2]", "expand", "T.slice", "mT"}],
    ids=lambda c: c.id,
)
def test_contiguous_copies_non_contiguous(case):
    base = _base(case.shape)
    v = case.fn(base)
    assert not v.is_contiguous()
    c = v.contiguous()
    assert c.is_contiguous()
    ref = case.ref(_np_base(case.shape))
    expected_strides = tuple(s // 8 for s in np.ascontiguousarray(ref).strides)
    assert tuple(c.stride()) == expected_strides
    assert_equal(c, ref)
    c.fill_(-7)  # the copy is independent of base
    assert_equal(base, _np_base(case.shape))


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda: ember.zeros(3, 4), True),
        (lambda: ember.zeros(3, 4).T, False),
        (lambda: ember.zeros(3, 4)[1:], True),
        (lambda: ember.zeros(3, 4)[:, 1:], False),
        (lambda: ember.zeros(3, 4)[::2], False),
        (lambda: ember.zeros(1, 4).expand(3, 4), False),
        (lambda: ember.zeros(3, 1).T, True),  # size-1 dims do not matter
        (lambda: ember.zeros(0, 4).T, True),
        (lambda: ember.zeros(3, 4)[1], True),
    ],
)
def test_is_contiguous(make, expected):
    assert make().is_contiguous() == expected


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------


def test_reshape_bad_size_is_value_error():
    with pytest.raises(ValueError, match="reshape") as ei:
        ember.arange(6).reshape(4, 2)
    assert "[4, 2]" in str(ei.value)


def test_view_bad_size_is_value_error():
    with pytest.raises(ValueError, match="view") as ei:
        ember.zeros(2, 3).view(4, 2)
    assert "[4, 2]" in str(ei.value)


@pytest.mark.parametrize("op", ["reshape", "view"])
def test_two_inferred_dims(op):
    with pytest.raises(ValueError, match=op):
        getattr(ember.zeros(6), op)(-1, -1)


def test_reshape_infer_impossible():
    with pytest.raises(ValueError, match="reshape"):
        ember.zeros(7).reshape(2, -1)


def test_view_incompatible_strides():
    t = ember.zeros(2, 3).T
    with pytest.raises((ValueError, RuntimeError), match="view"):
        t.view(6)


def test_unflatten_bad_sizes():
    with pytest.raises(ValueError, match="unflatten"):
        ember.zeros(2, 3).unflatten(1, (2, 2))


@pytest.mark.parametrize(
    "fn, op",
    [
        (lambda t: t.expand(3, 3), "expand"),
        (lambda t: t.expand(3), "expand"),
        (lambda t: t.expand(2, 4), "expand"),
        (lambda t: t.broadcast_to((5, 3)), "broadcast_to|expand"),
    ],
)
def test_expand_bad_shape(fn, op):
    with pytest.raises(ValueError, match=op):
        fn(ember.zeros(2, 3))


@pytest.mark.parametrize("dims", [(0,), (0, 0), (0, 1, 2)])
def test_permute_bad_dims(dims):
    with pytest.raises((ValueError, RuntimeError, IndexError), match="permute"):
        ember.zeros(2, 3).permute(*dims)


DIM_ERRORS = [
    (lambda t: t.transpose(0, 2), "transpose"),
    (lambda t: t.transpose(-3, 0), "transpose"),
    (lambda t: t.permute(0, 2), "permute"),
    (lambda t: t.squeeze(2), "squeeze"),
    (lambda t: t.squeeze((0, 5)), "squeeze"),
    (lambda t: t.unsqueeze(3), "unsqueeze"),
    (lambda t: t.unsqueeze(-4), "unsqueeze"),
    (lambda t: t.flatten(0, 2), "flatten"),
    (lambda t: t.flatten(3), "flatten"),
    (lambda t: t.movedim(0, 2), "movedim"),
    (lambda t: t.narrow(2, 0, 1), "narrow"),
    (lambda t: t.select(2, 0), "select"),
    (lambda t: t.unflatten(2, (1,)), "unflatten"),
]


@pytest.mark.parametrize(
    "fn, op", DIM_ERRORS, ids=[f"{op}{i}" for i, (_, op) in enumerate(DIM_ERRORS)]
)
def test_dim_out_of_range_is_index_error(fn, op):
    with pytest.raises(IndexError, match=op):
        fn(ember.zeros(2, 3))


def test_select_index_out_of_range():
    with pytest.raises(IndexError, match="select"):
        ember.zeros(2, 3).select(1, 3)
    with pytest.raises(IndexError, match="select"):
        ember.zeros(2, 3).select(0, -3)


@pytest.mark.parametrize("idx", [2, -3, (0, 3), (0, 0, 0)])
def test_getitem_out_of_range(idx):
    with pytest.raises(IndexError):
        ember.zeros(2, 3)[idx]


def test_getitem_on_0d():
    with pytest.raises(IndexError):
        ember.tensor(1.0)[0]


def test_narrow_past_end():
    with pytest.raises((IndexError, ValueError), match="narrow"):
        ember.zeros(2, 3).narrow(1, 2, 3)


@pytest.mark.parametrize("sl", [slice(None, None, -1), slice(None, None, 0), slice(3, 0, -2)])
def test_slice_step_must_be_positive(sl):
    with pytest.raises(ValueError, match="step"):
        ember.arange(5)[sl]
