"""``ember.einsum``: Einstein summation, lowered to diagonal / sum / permute / reshape and one
batched GEMM (``bmm``) per pair of operands, so contractions run on the GEMM engine and every step
is differentiable."""

from __future__ import annotations

import builtins

from . import _C
from ._C import Tensor

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _parse_term(term: str, what: str):
    """Labels of one subscript term: letters as themselves, '...' as None (expanded later)."""
    labels, i = [], 0
    while i < len(term):
        c = term[i]
        if c == ".":
            if term[i : i + 3] != "..." or None in labels:
                raise RuntimeError(
                    f"einsum(): invalid ellipsis in the subscripts of {what} ('{term}')"
                )
            labels.append(None)
            i += 3
            continue
        if c not in _LETTERS:
            raise RuntimeError(
                f"einsum(): invalid subscript '{c}' given in the equation string, subscripts must be in [a-zA-Z]"
            )
        labels.append(c)
        i += 1
    return labels


def _sublist_to_str(sub, what):
    out = []
    for s in sub:
        if s is Ellipsis:
            out.append("...")
        elif isinstance(s, builtins.int) and 0 <= s < 52:
            out.append(_LETTERS[s])
        else:
            raise RuntimeError(
                f"einsum(): expected subscript between 0 and 51 or Ellipsis in {what}, got {s!r}"
            )
    return "".join(out)


def _parse_args(args):
    if not args:
        raise TypeError("einsum(): must specify the equation string and at least one operand")
    if isinstance(args[0], str):
        eq, ops = args[0], args[1:]
        if len(ops) == 1 and isinstance(ops[0], (list, tuple)):
            ops = tuple(ops[0])
        return eq, list(ops)
    # sublist form: einsum(op0, sub0, op1, sub1, ..., [sub_out])
    ops, terms = [], []
    rest = list(args)
    while len(rest) >= 2:
        ops.append(rest.pop(0))
        terms.append(_sublist_to_str(rest.pop(0), f"operand {len(ops) - 1}"))
    eq = ",".join(terms)
    if rest:
        eq += "->" + _sublist_to_str(rest[0], "the output")
    return eq, ops


def einsum(*args) -> Tensor:
    """Sums the product of the operands' elements over the dimensions named by the Einstein
    summation ``equation``, as ``torch.einsum``.

    ``einsum("ij,jk->ik", a, b)``; implicit output (``"ij,jk"``: the labels that appear once, in
    alphabetical order); ``...`` for broadcast batch dims; repeated labels in one operand take a
    diagonal (``"ii->i"``); the sublist form ``einsum(a, [0, 1], b, [1, 2], [0, 2])``.
    """
    eq, ops = _parse_args(args)
    for i, op in enumerate(ops):
        if not isinstance(op, Tensor):
            raise TypeError(f"einsum(): operand {i} must be a Tensor, got {type(op).__name__}")
    eq = eq.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ops):
        raise RuntimeError(
            f"einsum(): {len(terms)} operands were specified in the equation '{eq}' but {len(ops)} were given"
        )
    if not ops:
        raise RuntimeError("einsum(): must provide at least one operand")
    dtype = ops[0].dtype
    for op in ops[1:]:
        if op.dtype != dtype:
            raise RuntimeError(
                f"einsum(): expected all operands to have the same dtype, got {dtype} and {op.dtype}"
            )
    parsed = [_parse_term(t, f"operand {i}") for i, t in enumerate(terms)]

    # expand '...' into labels 0..-(e-1) (ints, right-aligned); check label counts vs ranks
    n_ell = 0
    for i, (labels, op) in enumerate(zip(parsed, ops)):
        named = len(labels) - (1 if None in labels else 0)
        if (None in labels and op.ndim < named) or (None not in labels and op.ndim != named):
            raise RuntimeError(
                f"einsum(): the number of subscripts in the equation ({named}) does not match the number "
                f"of dimensions ({op.ndim}) for operand {i}{' and no ellipsis was given' if None not in labels else ''}"
            )
        if None in labels:
            n_ell = max(n_ell, op.ndim - named)
    ell_labels = list(range(-n_ell, 0))
    operands = []
    for labels, op in zip(parsed, ops):
        if None in labels:
            k = labels.index(None)
            e = op.ndim - (len(labels) - 1)
            if e < n_ell:  # fewer broadcast dims: insert size-1 dims in front of this operand's
                for _ in range(n_ell - e):
                    op = op.unsqueeze(k)
            labels = labels[:k] + ell_labels + labels[k + 1 :]
        operands.append((op, labels))

    counts = {}
    for _, labels in operands:
        for lab in labels:
            counts[lab] = counts.get(lab, 0) + 1
    if arrow:
        out_parsed = _parse_term(rhs, "the output")
        out = []
        for lab in out_parsed:
            if lab is None:
                out.extend(ell_labels)
            elif lab in out:
                raise RuntimeError(
                    f"einsum(): output subscript {lab} appears more than once in the output"
                )
            elif lab not in counts:
                raise RuntimeError(
                    f"einsum(): output subscript {lab} does not appear in the equation for any input operand"
                )
            else:
                out.append(lab)
    else:
        out = ell_labels + sorted(
            (lab for lab in counts if isinstance(lab, str) and counts[lab] == 1), key=_LETTERS.index
        )

    # label sizes (size 1 broadcasts against any size)
    sizes = {}
    for i, (op, labels) in enumerate(operands):
        for a, lab in enumerate(labels):
            if lab in labels[a + 1 :] and op.shape[a] != op.shape[labels.index(lab, a + 1)]:
                raise RuntimeError(
                    f"einsum(): subscript {lab} is repeated for operand {i} but the sizes don't match, "
                    f"{op.shape[a]} != {op.shape[labels.index(lab, a + 1)]}"
                )
        for lab, n in zip(labels, op.shape):
            m = sizes.get(lab, n)
            if m != 1 and n != 1 and m != n:
                name = lab if isinstance(lab, str) else "..."
                raise RuntimeError(
                    f"einsum(): operands do not broadcast with remapped shapes (original->remapped): "
                    f"subscript {name} has size {n} for operand {i} which does not broadcast with previously seen size {m}"
                )
            sizes[lab] = n if m == 1 else m

    # each operand: take diagonals of repeated labels, sum labels used nowhere else
    prepared = []
    for idx, (op, labels) in enumerate(operands):
        labels = list(labels)
        while len(set(labels)) != len(labels):
            for a in range(len(labels)):
                b = labels.index(labels[a], a + 1) if labels[a] in labels[a + 1 :] else -1
                if b >= 0:
                    if op.shape[a] != op.shape[b]:
                        raise RuntimeError(
                            f"einsum(): subscript {labels[a]} is repeated for operand {idx} but the sizes don't match, "
                            f"{op.shape[a]} != {op.shape[b]}"
                        )
                    op = _C.diagonal(op, 0, a, b)  # the diagonal becomes the last dim
                    lab = labels[a]
                    labels = [lb for j, lb in enumerate(labels) if j not in (a, b)] + [lab]
                    break
        prepared.append([op, labels])
    for i, (op, labels) in enumerate(prepared):
        others = {lab for j, (_, ls) in enumerate(prepared) if j != i for lab in ls}
        drop = [d for d, lab in enumerate(labels) if lab not in out and lab not in others]
        if drop:
            op = op.sum(drop)
            labels = [lab for d, lab in enumerate(labels) if d not in drop]
        prepared[i] = [op, labels]

    # contract left to right
    acc, acc_labels = prepared[0]
    for j in range(1, len(prepared)):
        op, labels = prepared[j]
        later = {lab for _, ls in prepared[j + 1 :] for lab in ls} | set(out)
        acc, acc_labels = _contract(acc, acc_labels, op, labels, later, sizes)

    # what is left: labels not in the output are summed, then the output order
    drop = [d for d, lab in enumerate(acc_labels) if lab not in out]
    if drop:
        acc = acc.sum(drop)
        acc_labels = [lab for d, lab in enumerate(acc_labels) if d not in drop]
    perm = [acc_labels.index(lab) for lab in out]
    if perm != list(range(len(perm))):
        acc = acc.permute(perm)
    shape = [sizes[lab] for lab in out]
    if list(acc.shape) != shape:
        acc = acc.expand(shape)  # a size-1 broadcast label kept in the output
    if len(ops) == 1 and acc is ops[0]:
        acc = acc.view(acc.shape)  # never hand back the input itself (PyTorch returns a view)
    return acc


def _prod(xs):
    p = 1
    for x in xs:
        p *= x
    return p


def _contract(a, la, b, lb, keep, sizes):
    """a (labels la) times b (labels lb), summing the shared labels not in ``keep``, as one bmm."""
    shared = [lab for lab in la if lab in lb]
    batch = [lab for lab in shared if lab in keep]
    summed = [lab for lab in shared if lab not in keep]
    # a shared summed label of size 1 in one operand: sum it out of the other first
    for lab in list(summed):
        na, nb = a.shape[la.index(lab)], b.shape[lb.index(lab)]
        if na != nb:
            if na == 1:
                b = b.sum(lb.index(lab), keepdim=True)
            else:
                a = a.sum(la.index(lab), keepdim=True)
    a_only = [lab for lab in la if lab not in lb]
    b_only = [lab for lab in lb if lab not in la]
    bsz = [sizes[lab] for lab in batch]
    a = a.permute([la.index(lab) for lab in batch + a_only + summed])
    b = b.permute([lb.index(lab) for lab in batch + summed + b_only])
    a = a.expand(bsz + list(a.shape[len(batch) :]))
    b = b.expand(bsz + list(b.shape[len(batch) :]))
    m, k = (
        _prod(a.shape[len(batch) : len(batch) + len(a_only)]),
        _prod(a.shape[len(batch) + len(a_only) :]),
    )
    n = _prod(b.shape[len(batch) + len(summed) :])
    nb = _prod(bsz)
    y = _C.bmm(a.reshape([nb, m, k]), b.reshape([nb, k, n]))
    shape = (
        bsz
        + list(a.shape[len(batch) : len(batch) + len(a_only)])
        + list(b.shape[len(batch) + len(summed) :])
    )
    return y.reshape(shape), batch + a_only + b_only
