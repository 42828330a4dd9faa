/*
 * lkparallel_mpi.h: distributed lkparallel maps over MPI. Header-only.
 *
 * liblkparallel never links MPI. This header, compiled by your own mpicc
 * (Open MPI, MPICH, ...), fills the library's table of collectives
 * (lk_comm_ops) from an MPI communicator:
 *
 *     int provided;
 *     MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
 *     lk_comm *comm;
 *     lk_mpi_comm_new(MPI_COMM_WORLD, &comm);            // collective
 *     lk_invoker_options o;
 *     lk_invoker_options_init(&o, sizeof o);
 *     o.comm = comm;                                     // n_jobs: threads per rank
 *     lk_invoker *inv;
 *     lk_invoker_new_with(model, func, &o, &inv);        // collective
 *     lk_invoker_map(inv, args, n, sizeof *args, results, sizeof *results);  // collective
 *     lk_invoker_shutdown(inv);
 *     lk_comm_free(comm);                                // collective
 *     MPI_Finalize();
 *
 * What it does with MPI:
 * - duplicates the communicator (MPI_Comm_dup), so lkparallel's messages
 *   never mix with yours, and sets MPI_ERRORS_RETURN on the duplicate: a
 *   failing MPI call becomes LK_ERR_COMM rather than an abort;
 * - counts the ranks on this machine (MPI_Comm_split_type with
 *   MPI_COMM_TYPE_SHARED), so ranks that share CPUs divide them;
 * - keeps LK_COMM_COUNTERS 64-bit counters in an MPI window on rank 0:
 *   counter 0 for LK_SCHEDULE_DYNAMIC and cancellation, counter 1 for
 *   progress across ranks (MPI_Fetch_and_op under MPI_Win_lock_all). When
 *   every rank is on one machine the window is a shared-memory one
 *   (MPI_Win_allocate_shared), so claims never wait for rank 0; across
 *   machines they rely on the MPI's one-sided progress.
 * - bcast, allgather, allgatherv, gatherv and scatterv map to the MPI
 *   collectives of those names (in place: MPI_IN_PLACE), with a contiguous
 *   datatype per element size; abort is MPI_Abort.
 *
 * Every MPI call is made on the thread that called lkparallel; worker
 * threads never call MPI, so MPI_THREAD_FUNNELED is enough. Compiles as
 * C99, C11 and C++17.
 */
#ifndef LKPARALLEL_MPI_H
#define LKPARALLEL_MPI_H

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The C API is all this header needs: skip the MPIs' deprecated C++
   bindings, which do not compile cleanly under -Wextra -Werror (unless
   mpi.h was already included with them). */
#if defined(__cplusplus) && !defined(MPI_VERSION)
#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1
#endif
#ifndef MPICH_SKIP_MPICXX
#define MPICH_SKIP_MPICXX 1
#endif
#endif
#include <mpi.h>

#include "lkparallel.h"

/* Largest piece of one MPI call, in bytes or elements (fits an int). */
#define LK_MPI_PIECE_ (1 << 30)
/* counts/displs arrays up to this many ranks live on the stack. */
#define LK_MPI_STACK_RANKS_ 64

typedef struct lk_mpi_ctx_ {
    MPI_Comm comm;          /* our duplicate */
    MPI_Win win;            /* the counter on rank 0 */
    int rank;
    int size;
    size_t type_elem;       /* the element size `type` was made for (0: none) */
    MPI_Datatype type;
} lk_mpi_ctx_;

static inline int32_t lk_mpi_rc_(int rc) {
    return rc == MPI_SUCCESS ? 0 : (rc != 0 ? (int32_t)rc : -1);
}

/* A contiguous datatype of `elem` bytes (the last one is kept for reuse). */
static inline int lk_mpi_type_(lk_mpi_ctx_ *c, size_t elem, MPI_Datatype *t) {
    if (elem == 1) {
        *t = MPI_BYTE;
        return MPI_SUCCESS;
    }
    if (elem == 0 || elem > (size_t)INT_MAX)
        return MPI_ERR_TYPE;
    if (c->type_elem != elem) {
        if (c->type_elem != 0) {
            MPI_Type_free(&c->type);
            c->type_elem = 0;
        }
        int rc = MPI_Type_contiguous((int)elem, MPI_BYTE, &c->type);
        if (rc == MPI_SUCCESS)
            rc = MPI_Type_commit(&c->type);
        if (rc != MPI_SUCCESS)
            return rc;
        c->type_elem = elem;
    }
    *t = c->type;
    return MPI_SUCCESS;
}

/* counts and displs as the ints MPI wants; `ints` has room for 2 * size. */
static inline int lk_mpi_ints_(const lk_mpi_ctx_ *c, const size_t *counts, const size_t *displs, int *ints) {
    for (int r = 0; r < c->size; r++) {
        if (counts[r] > (size_t)INT_MAX || displs[r] > (size_t)INT_MAX)
            return MPI_ERR_COUNT;
        ints[r] = (int)counts[r];
        ints[c->size + r] = (int)displs[r];
    }
    return MPI_SUCCESS;
}

static inline int *lk_mpi_ints_room_(const lk_mpi_ctx_ *c, int *stack) {
    if (c->size <= LK_MPI_STACK_RANKS_)
        return stack;
    return (int *)malloc(sizeof(int) * 2 * (size_t)c->size);
}

static inline int32_t lk_mpi_bcast_(void *ctx, void *buf, size_t len, int32_t root) {
    lk_mpi_ctx_ *c = (lk_mpi_ctx_ *)ctx;
    char *p = (char *)buf;
    while (len > 0) {
        int n = len > (size_t)LK_MPI_PIECE_ ? LK_MPI_PIECE_ : (int)len;
        int rc = MPI_Bcast(p, n, MPI_BYTE, root, c->comm);
        if (rc != MPI_SUCCESS)
            return lk_mpi_rc_(rc);
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static inline int32_t lk_mpi_allgather_(void *ctx, const void *send, void *recv, size_t len) {
    lk_mpi_ctx_ *c = (lk_mpi_ctx_ *)ctx;
    if (len > (size_t)INT_MAX)
        return lk_mpi_rc_(MPI_ERR_COUNT);
    return lk_mpi_rc_(MPI_Allgather(send, (int)len, MPI_BYTE, recv, (int)len, MPI_BYTE, c->comm));
}

/* The three collectives with per-rank counts, which lk_mpi_varying_ runs. */
typedef enum lk_mpi_varying_op_ { LK_MPI_ALLGATHERV_, LK_MPI_GATHERV_, LK_MPI_SCATTERV_ } lk_mpi_varying_op_;

/* allgatherv, gatherv and scatterv, in place: all three need the counts and
   displacements as ints (on the stack up to LK_MPI_STACK_RANKS_ ranks) and
   the element type; `root` is unused for allgatherv. */
static inline int32_t lk_mpi_varying_(lk_mpi_varying_op_ op, void *ctx, void *buf, const size_t *counts,
                                      const size_t *displs, size_t elem_size, int32_t root) {
    lk_mpi_ctx_ *c = (lk_mpi_ctx_ *)ctx;
    int stack[2 * LK_MPI_STACK_RANKS_];
    int *ints = lk_mpi_ints_room_(c, stack);
    MPI_Datatype t;
    if (!ints)
        return lk_mpi_rc_(MPI_ERR_NO_MEM);
    int rc = lk_mpi_ints_(c, counts, displs, ints);
    if (rc == MPI_SUCCESS)
        rc = lk_mpi_type_(c, elem_size, &t);
    if (rc == MPI_SUCCESS) {
        /* Off the root, gatherv and scatterv touch only this rank's own part. */
        int *cs = ints, *ds = ints + c->size;
        switch (op) {
        case LK_MPI_ALLGATHERV_:
            rc = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, cs, ds, t, c->comm);
            break;
        case LK_MPI_GATHERV_:
            if (c->rank == root)
                rc = MPI_Gatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, cs, ds, t, root, c->comm);
            else
                rc = MPI_Gatherv((char *)buf + displs[c->rank] * elem_size, cs[c->rank], t, NULL, NULL, NULL, t, root,
                                 c->comm);
            break;
        case LK_MPI_SCATTERV_:
            if (c->rank == root)
                rc = MPI_Scatterv(buf, cs, ds, t, MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, root, c->comm);
            else
                rc = MPI_Scatterv(NULL, NULL, NULL, t, (char *)buf + displs[c->rank] * elem_size, cs[c->rank], t, root,
                                  c->comm);
            break;
        }
    }
    if (ints != stack)
        free(ints);
    return lk_mpi_rc_(rc);
}

static inline int32_t lk_mpi_allgatherv_(void *ctx, void *buf, const size_t *counts, const size_t *displs,
                                         size_t elem_size) {
    return lk_mpi_varying_(LK_MPI_ALLGATHERV_, ctx, buf, counts, displs, elem_size, 0);
}

static inline int32_t lk_mpi_gatherv_(void *ctx, void *buf, const size_t *counts, const size_t *displs,
                                      size_t elem_size, int32_t root) {
    return lk_mpi_varying_(LK_MPI_GATHERV_, ctx, buf, counts, displs, elem_size, root);
}

static inline int32_t lk_mpi_scatterv_(void *ctx, void *buf, const size_t *counts, const size_t *displs,
                                       size_t elem_size, int32_t root) {
    return lk_mpi_varying_(LK_MPI_SCATTERV_, ctx, buf, counts, displs, elem_size, root);
}

static inline int32_t lk_mpi_fetch_add_at_(void *ctx, uint32_t counter, uint64_t add, uint64_t *old) {
    lk_mpi_ctx_ *c = (lk_mpi_ctx_ *)ctx;
    int rc;
    if (counter >= LK_COMM_COUNTERS)
        return lk_mpi_rc_(MPI_ERR_DISP);
    rc = MPI_Fetch_and_op(&add, old, MPI_UINT64_T, 0, (MPI_Aint)counter, MPI_SUM, c->win);
    if (rc == MPI_SUCCESS)
        rc = MPI_Win_flush(0, c->win);
    return lk_mpi_rc_(rc);
}

static inline int32_t lk_mpi_fetch_add_(void *ctx, uint64_t add, uint64_t *old) {
    return lk_mpi_fetch_add_at_(ctx, 0, add, old);
}

static inline void lk_mpi_abort_(void *ctx, int32_t code) {
    lk_mpi_ctx_ *c = (lk_mpi_ctx_ *)ctx;
    MPI_Abort(c->comm, code);
}

static inline void lk_mpi_release_(void *ctx) {
    lk_mpi_ctx_ *c = (lk_mpi_ctx_ *)ctx;
    int finalized = 1;
    MPI_Finalized(&finalized);
    if (!finalized) {
        if (c->win != MPI_WIN_NULL) {
            MPI_Win_unlock_all(c->win);
            MPI_Win_free(&c->win);
        }
        if (c->type_elem != 0)
            MPI_Type_free(&c->type);
        if (c->comm != MPI_COMM_NULL)
            MPI_Comm_free(&c->comm);
    }
    free(c);
}

/* The window with the shared counters, zeroed, in a passive-target epoch. */
static inline int lk_mpi_window_(lk_mpi_ctx_ *c, int all_local) {
    void *base = NULL;
    MPI_Aint bytes = c->rank == 0 ? (MPI_Aint)(LK_COMM_COUNTERS * sizeof(uint64_t)) : 0;
    int rc = all_local
                 ? MPI_Win_allocate_shared(bytes, (int)sizeof(uint64_t), MPI_INFO_NULL, c->comm, &base, &c->win)
                 : MPI_Win_allocate(bytes, (int)sizeof(uint64_t), MPI_INFO_NULL, c->comm, &base, &c->win);
    if (rc != MPI_SUCCESS) {
        c->win = MPI_WIN_NULL;
        return rc;
    }
    MPI_Win_set_errhandler(c->win, MPI_ERRORS_RETURN);
    rc = MPI_Win_lock_all(MPI_MODE_NOCHECK, c->win);
    if (rc == MPI_SUCCESS && c->rank == 0) {
        uint64_t zero[LK_COMM_COUNTERS] = {0};
        rc = MPI_Put(zero, LK_COMM_COUNTERS, MPI_UINT64_T, 0, 0, LK_COMM_COUNTERS, MPI_UINT64_T, c->win);
        if (rc == MPI_SUCCESS)
            rc = MPI_Win_flush(0, c->win);
    }
    if (rc == MPI_SUCCESS)
        rc = MPI_Barrier(c->comm);
    return rc;
}

/*
 * Make an lkparallel communicator from `comm` (collective over `comm`).
 *
 * `comm` stays yours (it is duplicated); MPI must be initialised, ideally
 * with MPI_Init_thread(..., MPI_THREAD_FUNNELED, ...) when n_jobs > 1. Free
 * the result with lk_comm_free (collective) before MPI_Finalize. `*out` is
 * written only on success.
 *
 * Returns LK_OK; LK_ERR_INVALID (NULL out); LK_ERR_COMM (MPI not initialised
 * or already finalised, MPI_COMM_NULL, or an MPI call failed; lk_last_error()
 * names it).
 */
static inline lk_status lk_mpi_comm_new(MPI_Comm comm, lk_comm **out) {
    int initialized = 0, finalized = 0, level = MPI_THREAD_SINGLE, local_size = 1;
    MPI_Comm local = MPI_COMM_NULL;
    lk_mpi_ctx_ *c;
    lk_comm_ops ops;
    lk_status st;
    int rc;
    if (!out)
        return lk_comm_new(NULL, NULL); /* LK_ERR_INVALID, "out is NULL" */
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    if (!initialized || finalized)
        return lk_comm_report_failure("lk_mpi_comm_new: MPI is not initialised (call MPI_Init_thread first) or "
                                      "is already finalised");
    if (comm == MPI_COMM_NULL)
        return lk_comm_report_failure("lk_mpi_comm_new: MPI_COMM_NULL is not a communicator");
    MPI_Query_thread(&level);
    if (level < MPI_THREAD_FUNNELED)
        lk_log(LK_LOG_WARN, "MPI was initialised with MPI_THREAD_SINGLE; lkparallel's worker threads never call "
                            "MPI, but MPI_Init_thread with MPI_THREAD_FUNNELED is the correct level for them");
    c = (lk_mpi_ctx_ *)calloc(1, sizeof *c);
    if (!c)
        return lk_comm_report_failure("lk_mpi_comm_new: out of memory");
    c->comm = MPI_COMM_NULL;
    c->win = MPI_WIN_NULL;
    rc = MPI_Comm_dup(comm, &c->comm);
    if (rc != MPI_SUCCESS) {
        free(c);
        return lk_comm_report_failure("lk_mpi_comm_new: MPI_Comm_dup failed");
    }
    MPI_Comm_set_errhandler(c->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(c->comm, &c->rank);
    MPI_Comm_size(c->comm, &c->size);
    rc = MPI_Comm_split_type(c->comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local);
    if (rc == MPI_SUCCESS) {
        MPI_Comm_size(local, &local_size);
        MPI_Comm_free(&local);
    }
    /* Every rank learns whether all are on one machine (local_size == size on all). */
    if (rc == MPI_SUCCESS) {
        int here = local_size == c->size, everywhere = 0;
        rc = MPI_Allreduce(&here, &everywhere, 1, MPI_INT, MPI_LAND, c->comm);
        if (rc == MPI_SUCCESS)
            rc = lk_mpi_window_(c, everywhere);
    }
    if (rc != MPI_SUCCESS) {
        lk_mpi_release_(c);
        return lk_comm_report_failure("lk_mpi_comm_new: an MPI call failed while setting up (split_type, "
                                      "window or barrier)");
    }
    memset(&ops, 0, sizeof ops);
    ops.struct_size = (uint32_t)sizeof ops;
    ops.rank = c->rank;
    ops.size = c->size;
    ops.local_size = local_size;
    ops.ctx = c;
    ops.bcast = lk_mpi_bcast_;
    ops.allgather = lk_mpi_allgather_;
    ops.allgatherv = lk_mpi_allgatherv_;
    ops.gatherv = lk_mpi_gatherv_;
    ops.scatterv = lk_mpi_scatterv_;
    ops.fetch_add = lk_mpi_fetch_add_;
    ops.abort = lk_mpi_abort_;
    ops.release = lk_mpi_release_;
    ops.fetch_add_at = lk_mpi_fetch_add_at_;
    st = lk_comm_new(&ops, out);
    if (st != LK_OK)
        lk_mpi_release_(c);
    return st;
}

#endif /* LKPARALLEL_MPI_H */
