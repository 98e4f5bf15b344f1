#include "core/dtype.h"

namespace ember {

static Dtype g_default_dtype = Dtype::Float32;

Dtype default_dtype() { return g_default_dtype; }
void set_default_dtype(Dtype d) {
  if (!is_floating(d) || is_reduced_float(d))
    EMBER_TYPE_ERROR("set_default_dtype: only float32 and float64 can be the default, got ", dtype_name(d));
  g_default_dtype = d;
}

Dtype promote_types(Dtype a, Dtype b) {
  if (a == b) return a;
  bool fa = is_floating(a), fb = is_floating(b);
  if (fa && fb) {
    // float16 + bfloat16 has no common 16-bit type
    if (is_reduced_float(a) && is_reduced_float(b)) return Dtype::Float32;
    return a > b ? a : b;
  }
  if (fa) return a;
  if (fb) return b;
  if (a == Dtype::Bool) return b;
  if (b == Dtype::Bool) return a;
  return a > b ? a : b;  // uint8 < int32 < int64
}

}  // namespace ember
