// cross_entropy with class-index targets: one fused kernel per row of logits forward (lse and
// the per-row loss) and backward (softmax - target in one pass). The reduction is ordinary ops.
#include "autograd/node.h"
#include "backend/kernels_loss.h"
#include "ops/ops.h"

namespace ember {

namespace {

// d loss_rows / d z as ember ops (for create_graph): z [R, V], gs [R].
Tensor cross_entropy_grad_composite(const Tensor& z, const Tensor& gs, const Tensor& t, const Tensor& w,
                                    int64_t ignore_index, double ls) {
  const int64_t V = z.shape()[1];
  const Dtype dt = z.dtype();
  Tensor valid = to_dtype(binary(BinaryOp::Ne, t, Scalar(ignore_index)), dt);  // [R]
  Tensor safe = where(binary(BinaryOp::Ne, t, Scalar(ignore_index)), t, zeros({}, Dtype::Int64, t.device()));
  Tensor onehot = to_dtype(binary(BinaryOp::Eq, unsqueeze(safe, 1), arange(Scalar(int64_t(0)), Scalar(V),
                                                                              Scalar(int64_t(1)), Dtype::Int64)),
                           dt);  // [R, V]
  Tensor wt = w.defined() ? index_select(w, 0, safe) * valid : valid;  // [R]
  Tensor wsum = w.defined() ? sum(w) : full({}, Scalar(double(V)), dt, t.device());
  Tensor a = unsqueeze(wt * (1 - ls), 1);
  Tensor coef = a + unsqueeze(valid, 1) * wsum * (ls / double(V));
  Tensor smooth = unsqueeze(valid, 1) * (w.defined() ? unsqueeze(w, 0) : full({}, Scalar(1.0), dt, t.device())) * (ls / double(V));
  return unsqueeze(gs, 1) * (softmax(z, -1) * coef - a * onehot - smooth);
}

}  // namespace

Tensor cross_entropy_loss(const Tensor& input, const Tensor& target, const Tensor& weight, int64_t reduction,
                          int64_t ignore_index, double label_smoothing) {
  const char* op = "cross_entropy";
  if (!is_floating(input.dtype()))
    EMBER_TYPE_ERROR(op, ": expected floating point logits, got ", dtype_name(input.dtype()));
  if (is_floating(target.dtype()) || target.dtype() == Dtype::Bool)
    EMBER_TYPE_ERROR(op, ": expected class-index target of an integer dtype, got ", dtype_name(target.dtype()));
  if (input.dim() == 0) EMBER_VALUE_ERROR(op, ": input must have at least 1 dim (classes), got a 0-d tensor");
  const int64_t cdim = input.dim() == 1 ? 0 : 1, V = input.shape()[cdim];
  Shape tshape = input.shape();
  tshape.erase(tshape.begin() + cdim);
  if (target.shape() != tshape)
    EMBER_VALUE_ERROR(op, ": input shape ", input.shape(), " and target shape ", target.shape(),
                      " do not match (class-index target must have shape ", tshape, ")");
  if (weight.defined() && (weight.dim() != 1 || weight.shape()[0] != V))
    EMBER_VALUE_ERROR(op, ": weight should be a 1-D tensor of size ", V, " (classes), got shape ", weight.shape());
  if (!(label_smoothing >= 0 && label_smoothing <= 1))
    EMBER_VALUE_ERROR(op, ": label_smoothing must be between 0.0 and 1.0, got ", label_smoothing);
  const Dtype cd = input.dtype() == Dtype::Float64 ? Dtype::Float64 : Dtype::Float32;
  // logits as rows [R, V] with the class dim last
  Tensor z = to_dtype(detach(input), cd);
  if (cdim == 1 && z.dim() > 2) z = movedim(z, {1}, {-1});
  const int64_t R = shape_numel(tshape);
  z = contiguous(reshape(z, {R, V}));
  Tensor t = contiguous(reshape(to_dtype(target, Dtype::Int64), {R}));
  Tensor w = weight.defined() ? contiguous(to_dtype(detach(weight), cd)) : Tensor();
  // targets in range; the mean's denominator (summed weights of the kept targets)
  double denom = 0;
  const int64_t* tp = t.data<int64_t>();
  Tensor w64 = w.defined() ? to_dtype(w, Dtype::Float64) : Tensor();
  for (int64_t r = 0; r < R; ++r) {
    if (tp[r] == ignore_index) continue;
    if (tp[r] < 0 || tp[r] >= V) EMBER_INDEX_ERROR(op, ": target ", tp[r], " is out of bounds for ", V, " classes");
    denom += w64.defined() ? w64.data<double>()[tp[r]] : 1.0;
  }
  Tensor rows = empty({R}, cd, input.device()), lse = empty({R}, cd, input.device());
  if (R > 0 && V > 0) kernel::cross_entropy(input.device())(rows, lse, z, t, w, ignore_index, label_smoothing);
  else rows = zeros({R}, cd, input.device());
  rows = to_dtype(rows, input.dtype());
  if (autograd::any_requires_grad(input)) {
    const Shape in_shape = input.shape();
    const Dtype dt = input.dtype();
    autograd::record(
        "CrossEntropyLossBackward0", {input}, {rows}, {z, t, w, lse, input},
        [=](const TensorList& g, const TensorList& s, const std::vector<bool>&) -> TensorList {
          Tensor gs = contiguous(to_dtype(g[0], cd));
          Tensor gz;
          if (autograd::GradMode::enabled()) {  // create_graph: differentiable formula
            Tensor zd = to_dtype(s[4], cd);
            if (cdim == 1 && zd.dim() > 2) zd = movedim(zd, {1}, {-1});
            gz = cross_entropy_grad_composite(reshape(zd, {R, V}), gs, s[1], s[2], ignore_index, label_smoothing);
          } else {
            gz = empty({R, V}, cd, s[0].device());
            if (R > 0 && V > 0)
              kernel::cross_entropy_backward(s[0].device())(gz, gs, s[0], s[1], s[2], s[3], ignore_index,
                                                            label_smoothing);
          }
          Shape moved = in_shape;
          if (cdim == 1 && in_shape.size() > 2) {
            moved.erase(moved.begin() + 1);
            moved.push_back(V);
            return {to_dtype(movedim(reshape(gz, moved), {-1}, {1}), dt)};
          }
          return {to_dtype(reshape(gz, in_shape), dt)};
        });
  }
  Tensor loss = reshape(rows, tshape);
  if (reduction == 0) return loss;  // none
  Tensor total = sum(loss);
  if (reduction == 1) return total;  // sum
  return total / denom;  // mean (0 / 0 = nan when every target is ignored, like PyTorch)
}

}  // namespace ember
