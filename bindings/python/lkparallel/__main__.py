"""``python -m lkparallel``: which lkparallel this is, and where its library is."""

import sys

import lkparallel as lk


def main() -> int:
    print("lkparallel %s" % lk.__version__)
    print("library version: %s" % lk.version())
    print("usable CPUs: %d" % lk.cpu_count())
    print("default n_jobs: %d (proc_count(2, 4))" % lk.proc_count(2, 4))
    print("library: %s (%s)" % (lk.library_path, lk.library_found_in))
    return 0


if __name__ == "__main__":
    sys.exit(main())
