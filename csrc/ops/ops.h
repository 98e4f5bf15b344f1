#pragma once
// Every op, declared once. Ops check arguments (errors name the op and shapes), allocate
// outputs, call kernels through the registry and record backward nodes (autograd/node.h).
#include <optional>
#include <tuple>
#include <utility>
#include <vector>

#include "backend/params.h"
#include "core/tensor.h"

namespace ember {

using Dims = std::vector<int64_t>;
using OptDims = std::optional<Dims>;

// ---- copy and dtype (copy.cpp)
Tensor to_dtype(const Tensor& x, Dtype dtype, bool copy = false);
Tensor contiguous(const Tensor& x);
Tensor clone(const Tensor& x);
Tensor& copy_(Tensor& dst, const Tensor& src);  // broadcasts src, casts dtype
Tensor& fill_(Tensor& x, const Scalar& value);
Tensor& zero_(Tensor& x);
Tensor detach(const Tensor& x);
void check_inplace(const Tensor& x, const char* op);  // leaf-requires-grad / view rules
void copy_kernel_call(const Tensor& dst, const Tensor& src);  // raw strided copy, no autograd
// x on `device` (and in `dtype`): a copy unless already there; differentiable (.to(device)).
Tensor to_device(const Tensor& x, Device device, std::optional<Dtype> dtype = std::nullopt, bool copy = false);
// t itself when on `device`; a CPU 0-d tensor is moved there (PyTorch allows CPU scalars in device
// ops); any other tensor on another device is a RuntimeError naming op and both devices.
Tensor on_device(const Tensor& t, Device device, const char* op);

// ---- views (views.cpp)
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
Tensor reshape(const Tensor& x, Shape shape);
Tensor view(const Tensor& x, Shape shape);
Tensor as_strided(const Tensor& x, Shape shape, Shape strides, std::optional<int64_t> offset);
Tensor permute(const Tensor& x, Dims dims);
Tensor transpose(const Tensor& x, int64_t d0, int64_t d1);
Tensor matrix_t(const Tensor& x);   // .T semantics: reverse all dims
Tensor matrix_mT(const Tensor& x);  // swap last two dims
Tensor movedim(const Tensor& x, Dims src, Dims dst);
Tensor squeeze(const Tensor& x, const OptDims& dims);
Tensor unsqueeze(const Tensor& x, int64_t dim);
Tensor expand(const Tensor& x, Shape shape);  // -1 keeps a size
Tensor flatten(const Tensor& x, int64_t start_dim = 0, int64_t end_dim = -1);
Tensor unflatten(const Tensor& x, int64_t dim, Shape sizes);
Tensor slice(const Tensor& x, int64_t dim, std::optional<int64_t> start, std::optional<int64_t> end,
             int64_t step = 1);
Tensor select(const Tensor& x, int64_t dim, int64_t index);
Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length);
Tensor diagonal(const Tensor& x, int64_t offset = 0, int64_t dim1 = 0, int64_t dim2 = 1);
Tensor sum_to(const Tensor& g, const Shape& shape);  // sum broadcast dims back to `shape`

// ---- elementwise (elementwise.cpp)
// BinaryOp, UnaryOp: generated from the op lists in backend/params.h
Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b);
Tensor binary(BinaryOp op, const Tensor& a, const Scalar& b);
Tensor binary(BinaryOp op, const Scalar& a, const Tensor& b);
Tensor& binary_(BinaryOp op, Tensor& self, const Tensor& other);
Tensor& binary_(BinaryOp op, Tensor& self, const Scalar& other);
Tensor unary(UnaryOp op, const Tensor& x, double p0 = 0, double p1 = 0, double p2 = 0);
Tensor& unary_(UnaryOp op, Tensor& x, double p0 = 0, double p1 = 0, double p2 = 0);
Tensor add(const Tensor& a, const Tensor& b, const Scalar& alpha = Scalar(int64_t(1)));
Tensor sub(const Tensor& a, const Tensor& b, const Scalar& alpha = Scalar(int64_t(1)));
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
Tensor clamp(const Tensor& x, std::optional<Scalar> lo, std::optional<Scalar> hi);
Tensor clamp(const Tensor& x, const Tensor& lo, const Tensor& hi);  // undefined = no bound
Tensor nan_to_num(const Tensor& x, std::optional<double> nan, std::optional<double> posinf,
                  std::optional<double> neginf);
Dtype result_type(const Tensor& a, const Tensor& b);

// C++ operator sugar for backward formulas
Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator+(const Tensor& a, double b);
Tensor operator-(const Tensor& a, double b);
Tensor operator*(const Tensor& a, double b);
Tensor operator/(const Tensor& a, double b);
Tensor operator*(double a, const Tensor& b);
Tensor operator-(double a, const Tensor& b);

// ---- reductions (reduce.cpp)
Tensor sum(const Tensor& x, const OptDims& dims = std::nullopt, bool keepdim = false,
           std::optional<Dtype> dtype = std::nullopt);
Tensor mean(const Tensor& x, const OptDims& dims = std::nullopt, bool keepdim = false,
            std::optional<Dtype> dtype = std::nullopt);
Tensor prod(const Tensor& x, std::optional<int64_t> dim = std::nullopt, bool keepdim = false,
            std::optional<Dtype> dtype = std::nullopt);
Tensor var(const Tensor& x, const OptDims& dims, double correction = 1, bool keepdim = false);
Tensor std_(const Tensor& x, const OptDims& dims, double correction = 1, bool keepdim = false);
Tensor amax(const Tensor& x, const OptDims& dims = std::nullopt, bool keepdim = false);
Tensor amin(const Tensor& x, const OptDims& dims = std::nullopt, bool keepdim = false);
std::pair<Tensor, Tensor> max_dim(const Tensor& x, int64_t dim, bool keepdim = false);
std::pair<Tensor, Tensor> min_dim(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor argmax(const Tensor& x, std::optional<int64_t> dim = std::nullopt, bool keepdim = false);
Tensor argmin(const Tensor& x, std::optional<int64_t> dim = std::nullopt, bool keepdim = false);
Tensor logsumexp(const Tensor& x, const Dims& dims, bool keepdim = false);
Tensor norm(const Tensor& x, double p = 2, const OptDims& dims = std::nullopt, bool keepdim = false);
Tensor all(const Tensor& x, const OptDims& dims = std::nullopt, bool keepdim = false);
Tensor any(const Tensor& x, const OptDims& dims = std::nullopt, bool keepdim = false);

// ---- scans (scan.cpp)
Tensor cumsum(const Tensor& x, int64_t dim, std::optional<Dtype> dtype = std::nullopt);
Tensor cumprod(const Tensor& x, int64_t dim, std::optional<Dtype> dtype = std::nullopt);

// ---- softmax (softmax.cpp)
Tensor softmax(const Tensor& x, int64_t dim, std::optional<Dtype> dtype = std::nullopt);
Tensor log_softmax(const Tensor& x, int64_t dim, std::optional<Dtype> dtype = std::nullopt);

// ---- joining, splitting, rearranging (shape.cpp)
Tensor cat(const TensorList& xs, int64_t dim = 0);
Tensor stack(const TensorList& xs, int64_t dim = 0);
TensorList split(const Tensor& x, int64_t split_size, int64_t dim = 0);
TensorList split_with_sizes(const Tensor& x, const Dims& sizes, int64_t dim = 0);
TensorList chunk(const Tensor& x, int64_t chunks, int64_t dim = 0);
TensorList unbind(const Tensor& x, int64_t dim = 0);
Tensor flip(const Tensor& x, const Dims& dims);
Tensor roll(const Tensor& x, const Dims& shifts, const Dims& dims);
Tensor repeat(const Tensor& x, const Dims& repeats);
Tensor tile(const Tensor& x, const Dims& reps);
Tensor tril(const Tensor& x, int64_t diagonal = 0);
Tensor triu(const Tensor& x, int64_t diagonal = 0);
Tensor pad(const Tensor& x, const Dims& pad, const std::string& mode = "constant", double value = 0);
Tensor one_hot(const Tensor& x, int64_t num_classes = -1);
Tensor masked_fill(const Tensor& x, const Tensor& mask, const Scalar& value);
Tensor masked_fill(const Tensor& x, const Tensor& mask, const Tensor& value);  // 0-d value

// ---- indexing (index.cpp)
// One Python index item: x[0], x[1:5:2], x[None], x[...], x[tensor], x[True].
struct TensorIndex {
  enum Kind : uint8_t { Int, Slice, None, Ellipsis, Tensor, Bool } kind = None;
  int64_t i = 0;
  std::optional<int64_t> start, stop;
  int64_t step = 1;
  ember::Tensor t;
};
Tensor getitem(const Tensor& x, const std::vector<TensorIndex>& idx);
void setitem(Tensor& x, const std::vector<TensorIndex>& idx, const Tensor& value);
// PyTorch's advanced indexing: one optional index tensor per leading dim (undefined = ':').
Tensor index(const Tensor& x, const TensorList& indices);
Tensor& index_put_(Tensor& x, const TensorList& indices, const Tensor& values, bool accumulate = false);
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, const Scalar& value);
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src,
                 const Scalar& alpha = Scalar(int64_t(1)));
Tensor take_along_dim(const Tensor& x, const Tensor& indices, std::optional<int64_t> dim);
Tensor nonzero(const Tensor& x);  // [n, ndim] int64
Tensor masked_select(const Tensor& x, const Tensor& mask);

// ---- sorting (sort.cpp)
std::pair<Tensor, Tensor> sort(const Tensor& x, int64_t dim = -1, bool descending = false, bool stable = false);
Tensor argsort(const Tensor& x, int64_t dim = -1, bool descending = false, bool stable = false);
std::pair<Tensor, Tensor> topk(const Tensor& x, int64_t k, int64_t dim = -1, bool largest = true,
                               bool sorted = true);
// (values, inverse, counts); inverse/counts undefined unless asked for
std::tuple<Tensor, Tensor, Tensor> unique(const Tensor& x, bool sorted = true, bool return_inverse = false,
                                          bool return_counts = false, std::optional<int64_t> dim = std::nullopt);

// ---- linear algebra (matmul.cpp)
Tensor matmul(const Tensor& a, const Tensor& b);
Tensor mm(const Tensor& a, const Tensor& b);
Tensor bmm(const Tensor& a, const Tensor& b);
Tensor mv(const Tensor& a, const Tensor& b);
Tensor dot(const Tensor& a, const Tensor& b);
// beta * input + alpha * (mat1 @ mat2); input broadcasts to the product's shape (beta == 0:
// input is ignored, NaN included). One GEMM: a row-vector input becomes a fused bias.
Tensor addmm(const Tensor& input, const Tensor& mat1, const Tensor& mat2, const Scalar& beta = Scalar(int64_t(1)),
             const Scalar& alpha = Scalar(int64_t(1)));
Tensor baddbmm(const Tensor& input, const Tensor& batch1, const Tensor& batch2,
               const Scalar& beta = Scalar(int64_t(1)), const Scalar& alpha = Scalar(int64_t(1)));
// input [*, in] @ weight[out, in]^T + bias[out] (bias may be undefined).
Tensor linear(const Tensor& input, const Tensor& weight, const Tensor& bias = Tensor());
// act(linear(input, weight, bias)) with act "relu", "gelu" or "gelu_tanh" (or "none") applied in
// the GEMM epilogue.
Tensor linear_act(const Tensor& input, const Tensor& weight, const Tensor& bias, const std::string& act);

// ---- creation and random (creation.cpp)
Tensor zeros(const Shape& shape, Dtype dtype, Device device = Device::CPU);
Tensor ones(const Shape& shape, Dtype dtype, Device device = Device::CPU);
Tensor full(const Shape& shape, const Scalar& value, Dtype dtype, Device device = Device::CPU);
Tensor zeros_like(const Tensor& x);
Tensor arange(const Scalar& start, const Scalar& end, const Scalar& step, std::optional<Dtype> dtype);
Tensor linspace(double start, double end, int64_t steps, Dtype dtype);
Tensor eye(int64_t n, std::optional<int64_t> m, Dtype dtype);

struct Generator {
  uint64_t state[2];
  uint64_t seed_ = 0;
  explicit Generator(uint64_t seed = 67280421310721ull) { manual_seed(seed); }
  void manual_seed(uint64_t seed);
  uint64_t next();       // 64 random bits (xorshift128+)
  double uniform();      // [0, 1)
  double normal();       // N(0, 1)
};
Generator& default_generator();
void manual_seed(uint64_t seed);
Tensor rand(const Shape& shape, Dtype dtype, Generator* gen = nullptr, Device device = Device::CPU);
Tensor randn(const Shape& shape, Dtype dtype, Generator* gen = nullptr, Device device = Device::CPU);
Tensor randint(int64_t low, int64_t high, const Shape& shape, Dtype dtype, Generator* gen = nullptr);
Tensor randperm(int64_t n, Dtype dtype, Generator* gen = nullptr);
Tensor& uniform_(Tensor& x, double a, double b, Generator* gen = nullptr);
Tensor& normal_(Tensor& x, double mean, double std, Generator* gen = nullptr);
Tensor bernoulli(const Tensor& p, Generator* gen = nullptr);
// each element 1 with probability p (dropout masks; devices draw without a probability tensor)
Tensor bernoulli(const Shape& shape, double p, Dtype dtype, Device device, Generator* gen = nullptr);

// ---- fused multi-tensor optimizer steps (optim.cpp): in place, no autograd; lists are
// parallel (one entry per param); state_steps are 0-d float tensors incremented here.
void sgd_step_(const TensorList& params, const TensorList& grads, const TensorList& momentum_buffers,
               const std::vector<bool>& fresh, double lr, double momentum, double dampening, double weight_decay,
               bool nesterov, bool maximize);
void adam_step_(const TensorList& params, const TensorList& grads, const TensorList& exp_avgs,
                const TensorList& exp_avg_sqs, const TensorList& max_exp_avg_sqs, const TensorList& state_steps,
                double lr, double beta1, double beta2, double eps, double weight_decay, bool amsgrad, bool maximize,
                bool decoupled_weight_decay);
void rmsprop_step_(const TensorList& params, const TensorList& grads, const TensorList& square_avgs,
                   const TensorList& grad_avgs, const TensorList& momentum_buffers, const TensorList& state_steps,
                   double lr, double alpha, double eps, double weight_decay, double momentum, bool centered,
                   bool maximize);
void adagrad_step_(const TensorList& params, const TensorList& grads, const TensorList& state_sums,
                   const TensorList& state_steps, double lr, double lr_decay, double weight_decay, double eps,
                   bool maximize);
double multi_tensor_norm(const TensorList& xs, double p);  // p-norm of all elements together
void multi_tensor_scale_(const TensorList& xs, double scale);
void multi_tensor_clamp_(const TensorList& xs, double lo, double hi);

// ---- convolution (conv.cpp)
// NCHW (NCL for 1-D), unbatched inputs accepted; stride/padding/dilation hold one value or one
// per spatial dim. The string forms take padding "same" or "valid". Weights: conv [C_out,
// C_in/groups, *k]; conv_transpose [C_in, C_out/groups, *k]. bias may be undefined.
Tensor conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias, const Dims& stride, const Dims& padding,
              const Dims& dilation, int64_t groups);
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, const Dims& stride, const Dims& padding,
              const Dims& dilation, int64_t groups);
Tensor conv1d(const Tensor& input, const Tensor& weight, const Tensor& bias, const Dims& stride,
              const std::string& padding, const Dims& dilation, int64_t groups);
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, const Dims& stride,
              const std::string& padding, const Dims& dilation, int64_t groups);
Tensor conv_transpose1d(const Tensor& input, const Tensor& weight, const Tensor& bias, const Dims& stride,
                        const Dims& padding, const Dims& output_padding, int64_t groups, const Dims& dilation);
Tensor conv_transpose2d(const Tensor& input, const Tensor& weight, const Tensor& bias, const Dims& stride,
                        const Dims& padding, const Dims& output_padding, int64_t groups, const Dims& dilation);
// F.unfold: [N, C, H, W] -> [N, C*kh*kw, L]; F.fold (its adjoint): [N, C*kh*kw, L] -> [N, C, *output_size].
Tensor im2col(const Tensor& input, const Dims& kernel_size, const Dims& dilation, const Dims& padding,
              const Dims& stride);
Tensor col2im(const Tensor& input, const Dims& output_size, const Dims& kernel_size, const Dims& dilation,
              const Dims& padding, const Dims& stride);

// ---- pooling (pool.cpp)
// PyTorch's pools over NCL / NCHW inputs (unbatched CL / CHW too). Window arguments hold one
// value for every spatial dim or one per dim; an empty stride means stride = kernel_size.
// Max pools return (values, int64 indices into each input plane, h * W + w).
std::pair<Tensor, Tensor> max_pool1d_with_indices(const Tensor& x, Dims kernel_size, Dims stride = {},
                                                  Dims padding = {0}, Dims dilation = {1}, bool ceil_mode = false);
std::pair<Tensor, Tensor> max_pool2d_with_indices(const Tensor& x, Dims kernel_size, Dims stride = {},
                                                  Dims padding = {0}, Dims dilation = {1}, bool ceil_mode = false);
// values only (the indices are computed only when autograd needs them)
Tensor max_pool1d(const Tensor& x, Dims kernel_size, Dims stride = {}, Dims padding = {0}, Dims dilation = {1},
                  bool ceil_mode = false);
Tensor max_pool2d(const Tensor& x, Dims kernel_size, Dims stride = {}, Dims padding = {0}, Dims dilation = {1},
                  bool ceil_mode = false);
Tensor avg_pool1d(const Tensor& x, Dims kernel_size, Dims stride = {}, Dims padding = {0}, bool ceil_mode = false,
                  bool count_include_pad = true);
Tensor avg_pool2d(const Tensor& x, Dims kernel_size, Dims stride = {}, Dims padding = {0}, bool ceil_mode = false,
                  bool count_include_pad = true, std::optional<int64_t> divisor_override = std::nullopt);
// Adaptive pools: one output size for every spatial dim or one per dim; nullopt keeps that
// dim's input size.
using OptSizes = std::vector<std::optional<int64_t>>;
Tensor adaptive_avg_pool1d(const Tensor& x, const OptSizes& output_size);
Tensor adaptive_avg_pool2d(const Tensor& x, const OptSizes& output_size);
std::pair<Tensor, Tensor> adaptive_max_pool1d(const Tensor& x, const OptSizes& output_size);
std::pair<Tensor, Tensor> adaptive_max_pool2d(const Tensor& x, const OptSizes& output_size);
// torch._C._nn.max_unpool2d: x and int64 indices [N, C, H, W] or [C, H, W] -> [.., OH, OW] zeros
// with out.plane[indices] = x (1-D unpooling is this with W = 1).
Tensor max_unpool2d(const Tensor& x, const Tensor& indices, Dims output_size);

// ---- batch norm and interpolation (norm.cpp)
// input [N, C, *]; running stats, weight and bias [C] or undefined. Training normalizes with the
// batch statistics and updates the running stats in place (momentum; unbiased variance).
Tensor batch_norm(const Tensor& input, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps);
// input [N, C, L] or [N, C, H, W] resampled to output_size (the spatial sizes). mode: "nearest",
// "nearest-exact", "linear" (3-D) or "bilinear" (4-D). scales: the user's scale factor per
// spatial dim (<= 0: none), which PyTorch's index rules use instead of the size ratio.
Tensor upsample(const Tensor& input, const Shape& output_size, const std::string& mode, bool align_corners,
                const std::vector<double>& scales);
// The adjoint of upsample: grad_output [N, C, *output_size] -> grad_input of shape input_size.
Tensor upsample_backward(const Tensor& grad_output, const Shape& input_size, const std::string& mode,
                         bool align_corners, const std::vector<double>& scales);
// layer_norm (rms = false) or rms_norm (rms = true) over the trailing normalized_shape dims;
// weight and bias (layer_norm only) of normalized_shape or undefined.
Tensor row_norm(const Tensor& input, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias,
                double eps, bool rms);

// ---- attention (attention.cpp)
// softmax(q @ k^T * scale + mask) @ v over the last two dims, flash style (no [L, S] buffer).
// attn_mask: undefined, bool (True = may attend) or float (added), broadcastable to [..., L, S].
Tensor scaled_dot_product_attention(const Tensor& query, const Tensor& key, const Tensor& value,
                                    const Tensor& attn_mask, double dropout_p, bool is_causal,
                                    std::optional<double> scale, bool enable_gqa);

// ---- fused losses (loss.cpp)
// cross_entropy of logits [C], [N, C] or [N, C, d...] at integer class indices; reduction
// 0 none, 1 sum, 2 mean (divided by the summed weights of the non-ignored targets).
Tensor cross_entropy_loss(const Tensor& input, const Tensor& target, const Tensor& weight, int64_t reduction,
                          int64_t ignore_index, double label_smoothing);

// ---- fused recurrent cells (rnn.cpp): the pointwise part of one step, after the gate GEMMs.
// LSTM: gates [B, 4H] (i, f, g, o pre-activations, biases added), c_prev [B, H] -> (h, c).
std::pair<Tensor, Tensor> lstm_cell_pointwise(const Tensor& gates, const Tensor& c_prev);
// GRU: gi = x W_ih^T + b_ih, gh = h W_hh^T + b_hh ([B, 3H]: r, z, n), h_prev [B, H] -> h.
Tensor gru_cell_pointwise(const Tensor& gi, const Tensor& gh, const Tensor& h_prev);
// A whole LSTM layer direction (float32/64): xw [T, B, 4H] (x W_ih^T + b_ih + b_hh), h0, c0 [B, H],
// w_hh [4H, H] -> {out [T, B, H] (every h_t), cs [T, B, H] (every c_t), h_T, c_T}.
std::vector<Tensor> lstm_sequence(const Tensor& xw, const Tensor& h0, const Tensor& c0, const Tensor& w_hh,
                                  bool reverse);
// Draws num_samples category indices per row of input [C] or [B, C] (non-negative weights).
Tensor multinomial(const Tensor& input, int64_t num_samples, bool replacement, Generator* gen = nullptr);

}  // namespace ember
