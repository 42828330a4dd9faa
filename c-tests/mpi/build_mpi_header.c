/* lkparallel_mpi.h compiles cleanly (C99, C11, C++17; -Wall -Wextra
 * -Wpedantic -Werror), twice over (include guard), and its one entry point
 * has the documented type. Compiled, not run. */
#include "lkparallel_mpi.h"
#include "lkparallel_mpi.h"

typedef lk_status (*lk_mpi_comm_new_fn)(MPI_Comm, lk_comm **);

int build_mpi_header_check(void);
int build_mpi_header_check(void) {
    lk_mpi_comm_new_fn f = lk_mpi_comm_new;
    lk_comm_ops ops;
    memset(&ops, 0, sizeof ops);
    ops.struct_size = (uint32_t)sizeof ops;
    return f != NULL && ops.bcast == NULL && LK_ERR_COMM == 9;
}
