// Bindings for pooling (max/avg/adaptive).
#include "bindings/common.h"

namespace ember::py {

void init_pool(nb::module_& m) { (void)m; }

}  // namespace ember::py
