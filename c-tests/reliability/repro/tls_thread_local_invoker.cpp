// Bug A, as C++ users meet it: an lk::invoker held in a thread_local, used
// by the thread, is shut down by its destructor when the thread exits. The
// library's own thread-locals (registered later, at the first map) are
// destroyed first; lk_invoker_shutdown then panics inside the library
// (caught: LK_ERR_INTERNAL, with the panic message printed on stderr), the
// wrapper's close() gives up, and the invoker's worker threads are never
// joined: they stay alive for the rest of the process.
//   g++ -std=c++17 -I include tls_thread_local_invoker.cpp -L target/release -llkparallel -pthread
// Expected: "threads after: 1"; seen: "threads after: 3" and a panic message.
#include <dirent.h>
#include <cstdio>
#include <thread>
#include <vector>
#include "lkparallel.hpp"

static int threads() {
    int n = 0;
    DIR *d = opendir("/proc/self/task");
    while (dirent *e = readdir(d)) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

int main() {
    std::printf("threads before: %d\n", threads());
    std::thread t([] {
        thread_local lk::invoker<int, int> inv([](const int &x) { return x + 1; }, 2);
        std::vector<int> in{1, 2, 3};
        auto out = inv.map(in);
        std::printf("map in the thread: %d %d %d\n", out[0], out[1], out[2]);
    });
    t.join();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    std::printf("threads after: %d\n", threads());
    return 0;
}
