// Bindings for convolutions, conv_transpose, unfold/fold.
#include "bindings/common.h"

namespace ember::py {

void init_conv(nb::module_& m) { (void)m; }

}  // namespace ember::py
