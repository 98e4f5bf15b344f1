// Private entry points to the Winograd kernels, for tests and benchmarks.
#include "bindings/common.h"

namespace ember::py {

void init_winograd(nb::module_& m) { (void)m; }

}  // namespace ember::py
