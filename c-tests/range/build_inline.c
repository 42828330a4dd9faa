/* lk_range_seed and lk_range_stopped are defined in the header and call
 * nothing (API.md, Range maps): this translation unit uses both and, built
 * without optimisation (nothing inlined away) as C and as C++, leaves no
 * undefined symbol at all (c-tests/range/build_inline.sh checks with nm). */
#include "lkparallel.h"

uint64_t lkt_inline_seed(const lk_range *r, size_t i);
int lkt_inline_stopped(const lk_range *r);

uint64_t lkt_inline_seed(const lk_range *r, size_t i) {
    return lk_range_seed(r, i);
}

int lkt_inline_stopped(const lk_range *r) {
    return lk_range_stopped(r);
}
