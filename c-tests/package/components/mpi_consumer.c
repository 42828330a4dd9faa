/* Built (not run) when the mpi component is found: lkparallel_mpi.h and MPI
 * come through the lkparallel::mpi target alone. */
#include <mpi.h>
#include <stdio.h>

#include <lkparallel_mpi.h>

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    printf("lkparallel %s with MPI\n", lk_version());
    MPI_Finalize();
    return 0;
}
