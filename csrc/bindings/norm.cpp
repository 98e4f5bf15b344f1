// Bindings for batch norm and interpolation.
#include "bindings/common.h"

namespace ember::py {

void init_norm(nb::module_& m) { (void)m; }

}  // namespace ember::py
