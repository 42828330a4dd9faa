/*
 * lkparallel.hpp: a header-only C++17 layer over lkparallel.h.
 *
 *     #include <lkparallel.hpp>
 *
 *     std::vector<double> weights = load();
 *     lk::invoker inv([&](const int &user) { return score(weights, user); },
 *                     4);                                 // 4 worker threads
 *     std::vector<double> scores = inv.map(users);        // scores[i] belongs to users[i]
 *
 *     // Bounded memory, results in order, while the workers compute:
 *     inv.stream(read_user, [&](std::size_t i, const double &s) { out << i << ' ' << s << '\n'; });
 *
 * - lk::invoker<Arg, Result> owns one lk_invoker (move-only, like
 *   std::unique_ptr) and shuts it down in its destructor. Arg and Result are
 *   deduced from a callable with one signature (a lambda with captures, a
 *   function pointer); give them explicitly for a generic lambda.
 * - The callable takes `const Arg &` (or `const Model &, const Arg &` when the
 *   invoker is made with a model), optionally followed by `const lk::task &`
 *   (index, seed, worker), and returns Result (or void). It is called through
 *   a const reference, from several threads at once: it must be safe for that.
 * - The invoker is a range invoker (lk_invoker_options.range_func): the
 *   library hands a worker a contiguous range of items, and the loop over
 *   it is a function template instantiated for the callable's type, so the
 *   callable's body is compiled (inlined, vectorised where it can be) into
 *   that loop: no function pointer, std::function or virtual call per item.
 *   lk::task::seed is lk_range_seed's, the seed the item API gives the same
 *   item. A long range polls lk_range_stopped every few dozen items, so a
 *   cancellation or a fail-fast failure stops it promptly.
 * - An exception thrown by the callable never crosses into the library: it is
 *   caught in the loop, and map() rethrows it as lk::item_error, which
 *   carries the item's index and nests the original exception (the lowest
 *   failing index when several threw, also under keep-going). A worker
 *   process cannot send the object back: there map throws
 *   lk::error(LK_ERR_CALLBACK) naming the item, and the exception's text is
 *   logged (lk_log, LK_LOG_ERROR).
 * - stream() feeds the invoker from an input range, an iterator pair or a
 *   generator (a callable returning std::optional), and hands each result,
 *   in index order, to a sink callable or an output iterator, holding at
 *   most a window of items (lk_invoker_stream). Exceptions from the
 *   callable, the input or the output come back as lk::item_error or
 *   lk::stream_error, naming the item.
 * - Every failing status becomes lk::error, carrying the lk_status and the
 *   library's message.
 * - lk::run_sp(f) runs f in a forked child process and returns the bytes it
 *   wrote, as std::vector<std::byte>; lk::sp_options adds a time and a
 *   memory limit.
 * - lk::shared_vector<T> (std::vector with lk::shared_allocator) keeps its
 *   elements in lk_shared_alloc memory: a process-backend invoker made
 *   after the first such allocation reads arguments there and, through
 *   map_into, writes results there in place, without copies.
 *
 * Thread-safety is the C library's: an invoker may be used by several threads
 * at once (map and stream are const), and a callable may map on any invoker,
 * its own included. Moving or destroying an invoker while another thread
 * uses it is a data race, as for any C++ object.
 */
#ifndef LKPARALLEL_HPP
#define LKPARALLEL_HPP

#include "lkparallel.h"

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <exception>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace lk {

/** What a callable may learn about its item: index, seed, worker (lk_task). */
using task = lk_task;

/** The name of a status, e.g. "LK_ERR_INVALID" ("LK_ERR_UNKNOWN" for a number it does not know). */
inline const char *status_name(lk_status status) noexcept {
    switch (static_cast<int>(status)) {
    case LK_OK: return "LK_OK";
    case LK_ERR_INVALID: return "LK_ERR_INVALID";
    case LK_ERR_CALLBACK: return "LK_ERR_CALLBACK";
    case LK_ERR_WORKER_DIED: return "LK_ERR_WORKER_DIED";
    case LK_ERR_TIMEOUT: return "LK_ERR_TIMEOUT";
    case LK_ERR_CANCELLED: return "LK_ERR_CANCELLED";
    case LK_ERR_SYSTEM: return "LK_ERR_SYSTEM";
    case LK_ERR_INTERNAL: return "LK_ERR_INTERNAL";
    case LK_ERR_UNSUPPORTED: return "LK_ERR_UNSUPPORTED";
    case 9: return "LK_ERR_COMM"; // by number: headers before the MPI work lack the name
    default: return "LK_ERR_UNKNOWN";
    }
}

/** A failed lkparallel call: the status, and the library's message as what(). */
class error : public std::runtime_error {
public:
    error(lk_status status, const std::string &message)
        : std::runtime_error(message.empty() ? std::string(status_name(status)) : message),
          status_(status) {}
    /** The lk_status the C library returned. */
    lk_status status() const noexcept { return status_; }

private:
    lk_status status_;
};

/**
 * The callable threw for the item at index(). status() is LK_ERR_CALLBACK;
 * the original exception is nested: std::rethrow_if_nested(e), or
 * e.rethrow_nested(), or e.nested_ptr().
 */
class item_error : public error, public std::nested_exception {
public:
    /** Made inside a handler of the original exception, which it nests. */
    item_error(std::size_t index, const std::string &message)
        : error(LK_ERR_CALLBACK, message), index_(index) {}
    /** The index of the item whose callable threw. */
    std::size_t index() const noexcept { return index_; }

private:
    std::size_t index_;
};

/**
 * A stream's input or output threw (see invoker::stream). status() is
 * LK_ERR_CALLBACK; the original exception is nested, as in item_error.
 */
class stream_error : public error, public std::nested_exception {
public:
    /** Which end of the stream threw. */
    enum class origin {
        source, ///< the input: an iterator, the range or the generator
        sink,   ///< the output: the sink callable or the output iterator
    };
    /** Made inside a handler of the original exception, which it nests. */
    stream_error(origin where, std::size_t index, const std::string &message)
        : error(LK_ERR_CALLBACK, message), where_(where), index_(index) {}
    /** The input or the output. */
    origin where() const noexcept { return where_; }
    /** source: the index the item being read would have had; sink: the index of the item being handed over. */
    std::size_t index() const noexcept { return index_; }

private:
    origin where_;
    std::size_t index_;
};

/** The callback code the library reports for an item whose callable threw. */
inline constexpr std::int32_t exception_code = -1;

namespace detail {

inline std::string last_error_or(lk_status status) {
    const char *message = lk_last_error();
    return message != nullptr && *message != '\0' ? std::string(message) : std::string(status_name(status));
}

[[noreturn]] inline void throw_status(lk_status status) { throw error(status, last_error_or(status)); }

} // namespace detail

/** Throw lk::error (with lk_last_error()) unless `status` is LK_OK. */
inline void check(lk_status status) {
    if (status != LK_OK) detail::throw_status(status);
}

/** The library's version, e.g. "0.1.0". */
inline const char *version() noexcept { return lk_version(); }

/** LensKit's proc_count (see lk_proc_count): how many workers to use; 0 means "none". */
inline int proc_count(int core_div = 2, int max_default = 0, int level = 0) noexcept {
    return lk_proc_count(core_div, max_default, level);
}

/** The CPUs this process may run on (affinity and cgroup quota), at least 1. */
inline int cpu_count() noexcept { return lk_cpu_count(); }

/** The thread budget for parallel work nested inside the current callable (BLAS, OpenMP). */
inline int inner_threads() noexcept { return lk_inner_threads(); }

/** True inside a callable of a pool (n_jobs >= 2), in a worker process or in a run_sp child. */
inline bool is_worker() noexcept { return lk_is_worker() != 0; }

/** True only in a worker process of a process-backend invoker. */
inline bool is_mp_worker() noexcept { return lk_is_mp_worker() != 0; }

/** Set the root seed (and restart the seed counters); see lk_seed_init. */
inline void seed_init(std::uint64_t seed) noexcept { lk_seed_init(seed); }

/** The root seed; in a run_sp child, that child's derived seed. */
inline std::uint64_t root_seed() noexcept { return lk_root_seed(); }

/** Derive a seed from `base` and `key` (as task.seed is derived from the index). */
inline std::uint64_t derive_seed(std::uint64_t base, std::uint64_t key) noexcept {
    return lk_derive_seed(base, key);
}

/** Log `message` through the library's logging at `level` (LK_LOG_ERROR .. LK_LOG_TRACE). */
inline void log(lk_log_level level, const std::string &message) noexcept { lk_log(level, message.c_str()); }

/** Which kind of workers an invoker has. */
enum class backend : lk_backend {
    threads = LK_BACKEND_THREADS,     ///< worker threads; the model is shared in place
    processes = LK_BACKEND_PROCESSES, ///< forked worker processes; Arg and Result must be trivially copyable
};

/** What a map does when an item fails. */
enum class error_mode : lk_error_mode {
    fail_fast = LK_ERRORS_FAIL_FAST,   ///< stop at the first failure; items not started are skipped
    keep_going = LK_ERRORS_KEEP_GOING, ///< run every item; map still throws for the lowest failing index
};

/** What task->seed holds. */
enum class seeds : lk_seeds {
    per_item = LK_SEEDS_PER_ITEM, ///< each item's reproducible seed
    off = LK_SEEDS_OFF,           ///< 0: for callables that never read it (saves ~1 ns per item)
};

/**
 * Options for an invoker (lk_invoker_options). An int converts to options
 * with that n_jobs: `lk::invoker inv(f, 4)`; set the other fields by name.
 */
struct options {
    options() = default;
    /** Options with `jobs` as n_jobs and every other field at its default. */
    options(std::int32_t jobs) : n_jobs(jobs) {} // NOLINT(google-explicit-constructor): meant to convert

    /** 0: the default (lk_proc_count(2, 4, 0)); -1: every usable CPU; 1: in order on the calling thread; n > 1: n workers. */
    std::int32_t n_jobs = 0;
    /** Threads (default) or forked processes. */
    lk::backend backend = lk::backend::threads;
    /** Fail fast (default) or keep going. */
    lk::error_mode error_mode = lk::error_mode::fail_fast;
    /** Per-item seeds (default) or none. */
    lk::seeds seeds = lk::seeds::per_item;
    /**
     * Called with (done, total) on the map's calling thread, a few times a
     * second and once at the end of each map. If it throws, the invoker's
     * maps in flight are cancelled and that map rethrows the exception.
     */
    std::function<void(std::size_t done, std::size_t total)> progress;
    /**
     * The fewest items the library hands a worker at once (one call of the
     * loop the callable is compiled into), except where fewer remain; 0:
     * the library chooses. Raise it when items are tiny.
     */
    std::size_t grain = 0;
};

/** Options for invoker::stream (lk_stream_options). */
struct stream_options {
    /**
     * The most items read from the input and not yet handed to the output
     * (0: the library chooses: a few chunks per worker, at most 64 MiB of
     * arguments and results). Any value >= 1 works.
     */
    std::size_t window = 0;
    /** The first item's index (lk::task::index, item_error::index(), the index the sink gets). */
    std::size_t index_base = 0;
};

namespace detail {

// ---- Deducing Arg and Result from a callable with one signature (for CTAD) ----

template <class R, class... A>
struct signature {
    using result = R;
    using args = std::tuple<A...>;
    static constexpr std::size_t arity = sizeof...(A);
};

template <class M>
struct member_signature {};
template <class R, class C, class... A>
struct member_signature<R (C::*)(A...)> : signature<R, A...> {};
template <class R, class C, class... A>
struct member_signature<R (C::*)(A...) const> : signature<R, A...> {};
template <class R, class C, class... A>
struct member_signature<R (C::*)(A...) &> : signature<R, A...> {};
template <class R, class C, class... A>
struct member_signature<R (C::*)(A...) const &> : signature<R, A...> {};
template <class R, class C, class... A>
struct member_signature<R (C::*)(A...) noexcept> : signature<R, A...> {};
template <class R, class C, class... A>
struct member_signature<R (C::*)(A...) const noexcept> : signature<R, A...> {};
template <class R, class C, class... A>
struct member_signature<R (C::*)(A...) & noexcept> : signature<R, A...> {};
template <class R, class C, class... A>
struct member_signature<R (C::*)(A...) const & noexcept> : signature<R, A...> {};

template <class F, class = void>
struct callable_signature {};
template <class F>
struct callable_signature<F, std::void_t<decltype(&F::operator())>> : member_signature<decltype(&F::operator())> {};
template <class R, class... A>
struct callable_signature<R (*)(A...), void> : signature<R, A...> {};
template <class R, class... A>
struct callable_signature<R (*)(A...) noexcept, void> : signature<R, A...> {};

template <class F, std::size_t I, class = void>
struct deduced_arg {};
template <class F, std::size_t I>
struct deduced_arg<F, I, std::enable_if_t<(I < callable_signature<F>::arity)>> {
    using type = std::remove_cv_t<std::remove_reference_t<
        std::tuple_element_t<I, typename callable_signature<F>::args>>>;
};

template <class F, class = void>
struct deduced_result {};
template <class F>
struct deduced_result<F, std::void_t<typename callable_signature<F>::result>> {
    using type = std::remove_cv_t<std::remove_reference_t<typename callable_signature<F>::result>>;
};

// ---- Which calls a callable accepts ----

template <class F, class Result, class... A>
inline constexpr bool returns_v = std::is_void_v<Result> ? std::is_invocable_v<const F &, A...>
                                                         : std::is_invocable_r_v<Result, const F &, A...>;

template <class F, class Arg, class Result>
inline constexpr bool plain_callable_v =
    returns_v<F, Result, const Arg &, const task &> || returns_v<F, Result, const Arg &>;

template <class F, class Model, class Arg, class Result>
inline constexpr bool model_callable_v = returns_v<F, Result, const Model &, const Arg &, const task &> ||
                                         returns_v<F, Result, const Model &, const Arg &>;

// A contiguous range (std::data, std::size) whose elements are exactly T.
template <class R, class T, class = void>
inline constexpr bool contiguous_of_v = false;
template <class R, class T>
inline constexpr bool contiguous_of_v<
    R, T, std::void_t<decltype(std::data(std::declval<R &>())), decltype(std::size(std::declval<R &>()))>> =
    std::is_pointer_v<decltype(std::data(std::declval<R &>()))> &&
    std::is_same_v<std::remove_cv_t<std::remove_pointer_t<decltype(std::data(std::declval<R &>()))>>, T>;

// An iterator of the input category or a stronger one.
template <class It, class = void>
inline constexpr bool input_iterator_v = false;
template <class It>
inline constexpr bool input_iterator_v<It, std::void_t<typename std::iterator_traits<It>::iterator_category>> =
    std::is_base_of_v<std::input_iterator_tag, typename std::iterator_traits<It>::iterator_category>;

// `last` ends a run of `It`s: it != last is a bool.
template <class End, class It, class = void>
inline constexpr bool sentinel_for_v = false;
template <class End, class It>
inline constexpr bool sentinel_for_v<End, It, std::void_t<decltype(std::declval<It &>() != std::declval<End &>())>> =
    std::is_convertible_v<decltype(std::declval<It &>() != std::declval<End &>()), bool>;

// A range with std::begin and std::end (an input range; the elements convert to Arg).
template <class R, class Arg, class = void>
inline constexpr bool input_range_of_v = false;
template <class R, class Arg>
inline constexpr bool input_range_of_v<
    R, Arg, std::void_t<decltype(std::begin(std::declval<R &>())), decltype(std::end(std::declval<R &>()))>> =
    input_iterator_v<decltype(std::begin(std::declval<R &>()))> &&
    sentinel_for_v<decltype(std::end(std::declval<R &>())), decltype(std::begin(std::declval<R &>()))> &&
    std::is_constructible_v<Arg, decltype(*std::begin(std::declval<R &>()))>;

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};

// A generator: called with no arguments, returns std::optional<T> (std::nullopt: the end) with T convertible to Arg.
template <class G, class Arg, class = void>
inline constexpr bool generator_of_v = false;
template <class G, class Arg>
inline constexpr bool generator_of_v<G, Arg, std::enable_if_t<std::is_invocable_v<G &>>> =
    is_optional<std::remove_cv_t<std::remove_reference_t<std::invoke_result_t<G &>>>>::value &&
    std::is_constructible_v<Arg, decltype(*std::declval<std::invoke_result_t<G &>>())>;

// Where a stream's results go: a sink callable (index, result) or (result)
// (for void results (index) or ()), or an output iterator (`*out = r; ++out`).
template <class Out, class Result>
struct sink_callable
    : std::bool_constant<std::is_invocable_v<Out &, std::size_t, const Result &> ||
                         std::is_invocable_v<Out &, const Result &>> {};
template <class Out>
struct sink_callable<Out, void>
    : std::bool_constant<std::is_invocable_v<Out &, std::size_t> || std::is_invocable_v<Out &>> {};
template <class Out, class Result>
inline constexpr bool sink_callable_v = sink_callable<Out, Result>::value;

template <class Out, class Result, class = void>
inline constexpr bool output_iterator_v = false;
template <class Out, class Result>
inline constexpr bool output_iterator_v<
    Out, Result,
    std::enable_if_t<!std::is_void_v<Result>,
                     std::void_t<decltype(*std::declval<Out &>() = std::declval<const Result &>()),
                                 decltype(++std::declval<Out &>())>>> = !sink_callable_v<Out, Result>;

template <class Out, class Result>
inline constexpr bool stream_output_v = sink_callable_v<Out, Result> || output_iterator_v<Out, Result>;

// ---- The context the C invoker gets as its model ----

// An exception a callable threw, kept until its map or stream takes it. Maps
// find theirs by the result slot (distinct for maps in flight at once, even
// over the same arguments), streams by the argument slot (in their window).
struct failure {
    const void *result_slot;
    const void *arg_slot;
    std::size_t index;
    std::exception_ptr error;
};

// The address ranges a stream's window has shown its source (merged).
class address_spans {
public:
    // May throw std::bad_alloc.
    void add(const void *at, std::size_t bytes) {
        std::lock_guard<std::mutex> lock(mutex_);
        std::uintptr_t lo = reinterpret_cast<std::uintptr_t>(at), hi = lo + bytes;
        for (auto it = spans_.begin(); it != spans_.end();) {
            if (it->first <= hi && lo <= it->second) { // overlapping or adjacent: merge
                lo = std::min(lo, it->first);
                hi = std::max(hi, it->second);
                it = spans_.erase(it);
            } else {
                ++it;
            }
        }
        spans_.emplace_back(lo, hi);
    }

    bool contains(const void *at) const {
        std::lock_guard<std::mutex> lock(mutex_);
        const auto p = reinterpret_cast<std::uintptr_t>(at);
        for (const auto &s : spans_)
            if (s.first <= p && p < s.second) return true;
        return false;
    }

private:
    // The source adds while the sink may look (the C API lets them run at once).
    mutable std::mutex mutex_;
    std::vector<std::pair<std::uintptr_t, std::uintptr_t>> spans_;
};

class context_base {
public:
    virtual ~context_base() = default;

    // Keeps the exception of item `index`. Never throws.
    void record(const void *result_slot, const void *arg_slot, std::size_t index, std::exception_ptr e) const noexcept {
        try {
            std::lock_guard<std::mutex> lock(mutex_);
            failures_.push_back(failure{result_slot, arg_slot, index, std::move(e)});
        } catch (...) {
            // Out of memory while failing: the map still fails, with the C status and message.
        }
    }

    // Removes the failures `match` accepts; true, with the lowest index in
    // `out`, if there were any. `only_one`: remove the first match only.
    template <class Match>
    bool take_if(Match match, failure &out, bool only_one = false) const {
        std::lock_guard<std::mutex> lock(mutex_);
        bool found = false;
        for (auto it = failures_.begin(); it != failures_.end();) {
            if (match(*it)) {
                if (!found || it->index < out.index) out = std::move(*it);
                found = true;
                it = failures_.erase(it);
                if (only_one) break;
            } else {
                ++it;
            }
        }
        return found;
    }

    // A map's failures: those whose result slots lie in [begin, end).
    bool take(const void *begin, const void *end, failure &out) const {
        return take_if(
            [&](const failure &f) {
                return !std::less<const void *>()(f.result_slot, begin) && std::less<const void *>()(f.result_slot, end);
            },
            out);
    }

    std::function<void(std::size_t, std::size_t)> progress;
    lk_invoker *handle = nullptr;

private:
    mutable std::mutex mutex_;
    mutable std::vector<failure> failures_;
};

template <class Arg, class Result, class F>
class context final : public context_base {
public:
    template <class G>
    explicit context(G &&f) : func(std::forward<G>(f)) {}

    F func;
};

// The callable of an invoker made with a model: holds a pointer to the model.
// It takes the task only when the user's callable does (the seed costs a mix).
template <class Model, class F>
struct with_model {
    const Model *model;
    F func;

    template <class Arg, class G = F,
              std::enable_if_t<std::is_invocable_v<const G &, const Model &, const Arg &, const task &>, int> = 0>
    decltype(auto) operator()(const Arg &arg, const task &item) const {
        return std::invoke(func, *model, arg, item);
    }

    template <class Arg, class G = F,
              std::enable_if_t<!std::is_invocable_v<const G &, const Model &, const Arg &, const task &>, int> = 0>
    decltype(auto) operator()(const Arg &arg) const {
        return std::invoke(func, *model, arg);
    }
};

// The type of one result slot: Result, or one byte for void.
template <class Result>
struct result_slot {
    using type = Result;
};
template <>
struct result_slot<void> {
    using type = unsigned char;
};
template <class Result>
using result_slot_t = typename result_slot<Result>::type;

[[noreturn]] inline void throw_item_error(std::size_t index, const std::exception_ptr &cause) {
    const std::string where = "item " + std::to_string(index);
    try {
        std::rethrow_exception(cause);
    } catch (const std::exception &e) {
        throw item_error(index, where + ": " + e.what()); // nests e
    } catch (...) {
        throw item_error(index, where + ": the callable threw a non-standard exception");
    }
}

[[noreturn]] inline void throw_stream_error(stream_error::origin where, std::size_t index,
                                            const std::exception_ptr &cause) {
    const std::string what = where == stream_error::origin::source
                                 ? "lk::invoker::stream: the input threw for item " + std::to_string(index)
                                 : "lk::invoker::stream: the output threw at item " + std::to_string(index);
    try {
        std::rethrow_exception(cause);
    } catch (const std::exception &e) {
        throw stream_error(where, index, what + ": " + e.what()); // nests e
    } catch (...) {
        throw stream_error(where, index, what + ": a non-standard exception");
    }
}

// The exception a progress callable threw on this thread, until its map rethrows it.
inline std::exception_ptr &pending_progress_error() noexcept {
    static thread_local std::exception_ptr pending;
    return pending;
}

// In a worker process the parent cannot receive the exception object: log what it said.
inline void log_worker_exception(std::size_t index) noexcept {
    try {
        std::string message = "item " + std::to_string(index) + " threw";
        try {
            throw;
        } catch (const std::exception &e) {
            message += std::string(": ") + e.what();
        } catch (...) {
        }
        lk_log(LK_LOG_ERROR, message.c_str());
    } catch (...) {
    }
}

// A range polls lk_range_stopped (two loads) at its first item, then each
// time after as many items again as it has run, from 64 up to 4096: a
// cancellation or a failure elsewhere stops a range of slow items within
// the time it has run so far, and a cheap body's loop stays a tight one
// (polling every 64 items cost the trivial body a third of its time, the
// short inner loop's exit mispredicting). The item of the next poll:
inline std::size_t next_poll(std::size_t k) noexcept {
    return k + std::min(std::max(k, std::size_t{64}), std::size_t{4096});
}

// Item `index` of a range: the callable's result, with the task when it takes one.
template <class Arg, class F>
inline decltype(auto) call_item(const F &func, const Arg &arg, const lk_range *range, std::size_t index) {
    if constexpr (std::is_invocable_v<const F &, const Arg &, const task &>) {
        const task item{index, lk_range_seed(range, index), range->worker, 0};
        return std::invoke(func, arg, item);
    } else {
        return std::invoke(func, arg);
    }
}

// Streams move arguments and results through the library's window as bytes;
// other types travel boxed: the window's argument slot holds a pointer to
// the item's box, in which the loop constructs the result (and keeps the
// exception); the stream owns the boxes. Such types run on threads only
// (the process backend refuses them), where a stream's range comes with no
// results memory (result_size 0: NULL) and a map's always with some.
template <class Arg, class Result>
inline constexpr bool boxed_stream_v =
    !(std::is_trivially_copyable_v<Arg> && (std::is_void_v<Result> || std::is_trivially_copyable_v<Result>));

template <class Arg, class Result>
struct stream_box {
    std::size_t index;
    std::optional<Arg> arg;
    std::optional<std::conditional_t<std::is_void_v<Result>, unsigned char, Result>> result;
    std::exception_ptr error;
};

// The loop over a range of boxed stream items.
template <class Arg, class Result, class F>
std::int32_t boxed_range(const F &func, const void *args, lk_range *range) noexcept {
    stream_box<Arg, Result> *const *boxes = static_cast<stream_box<Arg, Result> *const *>(args);
    const std::size_t begin = range->begin;
    const std::size_t count = range->end - begin;
    for (std::size_t k = 0, poll = 0; k < count; ++k) {
        if (k == poll) {
            if (lk_range_stopped(range) != 0) {
                range->failed = begin + k;
                return LK_RANGE_STOPPED;
            }
            poll = next_poll(k);
        }
        stream_box<Arg, Result> &box = *boxes[k];
        try {
            if constexpr (std::is_void_v<Result>) {
                call_item<Arg>(func, *box.arg, range, begin + k);
                box.result.emplace(static_cast<unsigned char>(0));
            } else {
                box.result.emplace(call_item<Arg>(func, *box.arg, range, begin + k));
            }
        } catch (...) {
            box.error = std::current_exception();
            range->failed = begin + k;
            return exception_code;
        }
    }
    return 0;
}

// The lk_range_fn of every C++ invoker, instantiated for its callable's type:
// the loop over the range is here, the callable inlined into it. `model` is
// the invoker's context. Nothing escapes: the first throwing item is
// recorded, named in range->failed, and fails with exception_code.
template <class Arg, class Result, class F>
std::int32_t range_trampoline(const void *model, const void *args, void *results, lk_range *range) noexcept {
    const auto &ctx = *static_cast<const context<Arg, Result, F> *>(model);
    const F &func = ctx.func;
    if constexpr (boxed_stream_v<Arg, Result>) {
        if (results == nullptr) return boxed_range<Arg, Result, F>(func, args, range);
    }
    const std::size_t begin = range->begin;
    const std::size_t count = range->end - begin;
    // The library keeps each element's alignment up to 64 bytes; beyond that
    // (an over-aligned type through worker processes) elements are copied.
    constexpr bool may_misalign = (alignof(Arg) > 64 || alignof(result_slot_t<Result>) > 64) &&
                                  std::is_trivially_copyable_v<Arg> && std::is_trivially_copyable_v<result_slot_t<Result>>;
    std::size_t k = 0;
    try {
        if constexpr (may_misalign) {
            const auto *in = static_cast<const unsigned char *>(args);
            auto *out = static_cast<unsigned char *>(results);
            for (std::size_t poll = 0; k < count; ++k) {
                if (k == poll) {
                    if (lk_range_stopped(range) != 0) {
                        range->failed = begin + k;
                        return LK_RANGE_STOPPED;
                    }
                    poll = next_poll(k);
                }
                alignas(Arg) unsigned char copy[sizeof(Arg)];
                std::memcpy(copy, in + k * sizeof(Arg), sizeof(Arg));
                const Arg &arg = *std::launder(reinterpret_cast<const Arg *>(copy));
                if constexpr (std::is_void_v<Result>) {
                    call_item<Arg>(func, arg, range, begin + k);
                } else {
                    const Result value = call_item<Arg>(func, arg, range, begin + k);
                    std::memcpy(out + k * sizeof(Result), &value, sizeof(Result));
                }
            }
        } else {
            const Arg *in = static_cast<const Arg *>(args);
            [[maybe_unused]] auto *out = static_cast<result_slot_t<Result> *>(results);
            while (k < count) {
                if (lk_range_stopped(range) != 0) {
                    range->failed = begin + k;
                    return LK_RANGE_STOPPED;
                }
                const std::size_t stop = std::min(next_poll(k), count);
                for (; k < stop; ++k) {
                    if constexpr (std::is_void_v<Result>)
                        call_item<Arg>(func, in[k], range, begin + k);
                    else
                        out[k] = call_item<Arg>(func, in[k], range, begin + k);
                }
            }
        }
    } catch (...) {
        const std::size_t index = begin + k;
        if (lk_is_mp_worker() == 0) {
            const void *result_slot =
                results == nullptr ? nullptr : static_cast<const unsigned char *>(results) + k * sizeof(result_slot_t<Result>);
            ctx.record(result_slot, static_cast<const unsigned char *>(args) + k * sizeof(Arg), index,
                       std::current_exception());
        } else {
            log_worker_exception(index);
        }
        range->failed = index;
        return exception_code;
    }
    return 0;
}

inline void progress_trampoline(std::size_t done, std::size_t total, void *user) noexcept {
    auto *ctx = static_cast<const context_base *>(user);
    try {
        ctx->progress(done, total);
    } catch (...) {
        std::exception_ptr &pending = pending_progress_error();
        if (!pending) pending = std::current_exception();
        lk_invoker_cancel(ctx->handle);
    }
}

// One stream in flight: its input (`pull`: the next argument, or nothing at
// the end), its output (`push`), and what happened. The library calls the
// source one call at a time, and the sink likewise; the two may overlap
// (the C contract allows it), and share only `window` and `boxes`, which lock.
template <class Arg, class Result, class Pull, class Push>
struct stream_run {
    static constexpr bool boxed = boxed_stream_v<Arg, Result>;
    using box = stream_box<Arg, Result>;

    stream_run(const context_base *c, Pull &in, Push &out, std::size_t base)
        : ctx(c), pull(in), push(out), index_base(base) {}

    const context_base *ctx;
    Pull &pull;
    Push &push;
    std::size_t index_base;
    std::size_t sourced = 0;
    std::size_t delivered = 0;
    bool input_ended = false;
    address_spans window; // where this stream's arguments lie (to find its items' exceptions)
    std::mutex boxes_mutex;
    std::deque<std::unique_ptr<box>> boxes; // boxed: the items sourced and not yet sunk, in order
    std::exception_ptr source_error;
    std::size_t source_index = 0;
    std::exception_ptr sink_error;
    std::size_t sink_index = 0;
    // The lowest failing item the sink was handed (keep-going), and its exception if there is one.
    bool item_failed = false;
    std::size_t item_index = 0;
    std::exception_ptr item_exception;

    void note_item(std::size_t index, std::exception_ptr e) noexcept {
        if (!item_failed || index < item_index || (index == item_index && !item_exception)) {
            item_failed = true;
            item_index = index;
            item_exception = std::move(e);
        }
    }

    // Boxed: the exceptions of the items that never reached the sink (after the stream).
    void note_unsunk_boxes() noexcept {
        for (const auto &b : boxes)
            if (b->error) note_item(b->index, b->error);
    }

    // The next item, into argument slot `k` of the window at `args`.
    void fill(void *args, std::size_t k, Arg &&next) {
        if constexpr (boxed) {
            auto b = std::make_unique<box>();
            b->index = index_base + sourced + k;
            b->arg.emplace(std::move(next));
            box *raw = b.get();
            {
                std::lock_guard<std::mutex> lock(boxes_mutex);
                boxes.push_back(std::move(b));
            }
            static_cast<box **>(args)[k] = raw;
        } else {
            ::new (static_cast<void *>(static_cast<unsigned char *>(args) + k * sizeof(Arg))) Arg(std::move(next));
        }
    }

    static std::int32_t source(void *user, void *args, std::size_t capacity, std::size_t *n_filled) noexcept {
        auto &st = *static_cast<stream_run *>(user);
        std::size_t k = 0;
        if (!st.input_ended) {
            try {
                if constexpr (!boxed) st.window.add(args, capacity * sizeof(Arg));
                for (; k < capacity; ++k) {
                    std::optional<Arg> next = st.pull();
                    if (!next) {
                        st.input_ended = true;
                        break;
                    }
                    st.fill(args, k, std::move(*next));
                }
            } catch (...) {
                // The input ends here: the items before it still run and reach
                // the output; stream() then throws (lowest index first).
                st.input_ended = true;
                st.source_error = std::current_exception();
                st.source_index = st.index_base + st.sourced + k;
            }
        }
        st.sourced += k;
        *n_filled = k;
        return 0;
    }

    // Keep-going: item `index` failed with `code`; the output skips it and
    // stream() throws at the end. Its exception, when C++ has it.
    std::exception_ptr failed_item_cause(std::size_t index, std::int32_t code, box *b) noexcept {
        if constexpr (boxed) {
            (void)index;
            (void)code;
            return b->error;
        } else {
            (void)b;
            std::exception_ptr cause;
            if (code == exception_code) {
                try {
                    failure f{};
                    if (ctx->take_if([&](const failure &x) { return x.index == index && window.contains(x.arg_slot); },
                                     f, true))
                        cause = f.error;
                } catch (...) {
                    // No lock: the item still fails, as lk::error with the library's message.
                }
            }
            return cause;
        }
    }

    static std::int32_t sink(void *user, std::size_t first, const void *results, const std::int32_t *status,
                             std::size_t n) noexcept {
        auto &st = *static_cast<stream_run *>(user);
        for (std::size_t k = 0; k < n; ++k) {
            const std::size_t index = first + k;
            std::unique_ptr<box> b;
            if constexpr (boxed) {
                std::lock_guard<std::mutex> lock(st.boxes_mutex);
                b = std::move(st.boxes.front());
                st.boxes.pop_front();
            }
            if (status[k] != 0) {
                st.note_item(index, st.failed_item_cause(index, status[k], b.get()));
                continue;
            }
            try {
                if constexpr (std::is_void_v<Result>) {
                    st.push(index);
                } else if constexpr (boxed) {
                    st.push(index, static_cast<const Result &>(*b->result));
                } else {
                    Result value;
                    std::memcpy(static_cast<void *>(std::addressof(value)),
                                static_cast<const unsigned char *>(results) + k * sizeof(Result), sizeof(Result));
                    st.push(index, static_cast<const Result &>(value));
                }
                ++st.delivered;
            } catch (...) {
                st.sink_error = std::current_exception();
                st.sink_index = index;
                return exception_code;
            }
        }
        return 0;
    }
};

} // namespace detail

/**
 * An invoker: a callable (and optionally a model) applied to the items of
 * each map, by n_jobs workers. Owns its lk_invoker; move-only.
 *
 * Arg: the element type of the arguments. Result: what the callable returns
 * (void: nothing is collected). Both are deduced from a non-generic callable:
 *
 *     lk::invoker inv([](const int &x) { return x * 0.5; });             // invoker<int, double>
 *     lk::invoker inv2(model, [](const Model &m, const int &x, const lk::task &t) { ... });
 *     lk::invoker<int, double> inv3([](const auto &x) { return x * 0.5; });
 */
template <class Arg, class Result>
class invoker {
    static_assert(std::is_object_v<Arg> && std::is_same_v<Arg, std::remove_cv_t<Arg>>,
                  "lk::invoker: Arg must be a non-const object type");
    static_assert(std::is_void_v<Result> ||
                      (std::is_object_v<Result> && std::is_same_v<Result, std::remove_cv_t<Result>> &&
                       !std::is_array_v<Result> && std::is_default_constructible_v<Result> &&
                       std::is_move_assignable_v<Result>),
                  "lk::invoker: Result must be void or a default-constructible, move-assignable object type");

public:
    using argument_type = Arg;
    using result_type = Result;

    /** An empty invoker (as after a move): every map throws lk::error(LK_ERR_INVALID). */
    invoker() noexcept = default;

    /**
     * Make an invoker of `func`, called as func(arg) or func(arg, task).
     * The invoker keeps a copy (or the moved) `func`. Throws lk::error.
     */
    template <class F, std::enable_if_t<detail::plain_callable_v<std::decay_t<F>, Arg, Result>, int> = 0>
    explicit invoker(F &&func, options opts = {}) {
        start<std::decay_t<F>>(std::forward<F>(func), std::move(opts));
    }

    /**
     * Make an invoker of `func`, called as func(model, arg) or func(model,
     * arg, task). `model` is used in place, not copied: keep it alive, and
     * unchanged while maps run, until the invoker is shut down. (To hand the
     * model over, capture it by move in `func` instead.) Throws lk::error.
     */
    template <class Model, class F,
              std::enable_if_t<detail::model_callable_v<std::decay_t<F>, Model, Arg, Result>, int> = 0>
    invoker(const Model &model, F &&func, options opts = {}) {
        using W = detail::with_model<Model, std::decay_t<F>>;
        start<W>(W{std::addressof(model), std::forward<F>(func)}, std::move(opts));
    }

    /** A temporary model would dangle: pass an lvalue, or capture the model in the callable. */
    template <class Model, class F,
              std::enable_if_t<detail::model_callable_v<std::decay_t<F>, Model, Arg, Result>, int> = 0>
    invoker(const Model &&model, F &&func, options opts = {}) = delete;

    invoker(const invoker &) = delete;
    invoker &operator=(const invoker &) = delete;

    /** Takes over `other`'s lk_invoker; `other` becomes empty. */
    invoker(invoker &&other) noexcept
        : ctx_(std::move(other.ctx_)), handle_(std::exchange(other.handle_, nullptr)) {}

    /** Shuts down this invoker's lk_invoker, then takes over `other`'s. */
    invoker &operator=(invoker &&other) noexcept {
        if (this != &other) {
            close();
            ctx_ = std::move(other.ctx_);
            handle_ = std::exchange(other.handle_, nullptr);
        }
        return *this;
    }

    /** Shuts the invoker down (waits for maps in flight); errors are ignored. */
    ~invoker() { close(); }

    void swap(invoker &other) noexcept {
        std::swap(ctx_, other.ctx_);
        std::swap(handle_, other.handle_);
    }
    friend void swap(invoker &a, invoker &b) noexcept { a.swap(b); }

    /** The C handle (NULL when empty), for the C functions this class does not wrap. Still owned here. */
    lk_invoker *get() const noexcept { return handle_; }

    /** True unless empty. */
    explicit operator bool() const noexcept { return handle_ != nullptr; }

    /**
     * Wait for maps in flight and free the workers; the invoker is empty
     * afterwards. A no-op when empty. Throws lk::error (for example when
     * called from one of this invoker's own callables), leaving it as it was.
     */
    void shutdown() {
        if (handle_ == nullptr) return;
        check(lk_invoker_shutdown(handle_));
        handle_ = nullptr;
        ctx_.reset();
    }

    /**
     * Make the maps in flight on this invoker stop promptly: they throw
     * lk::error(LK_ERR_CANCELLED). Async-signal-safe; returns the C status
     * (LK_ERR_INVALID when empty) instead of throwing.
     */
    lk_status cancel() const noexcept { return lk_invoker_cancel(handle_); }

    /**
     * Apply the callable to every element of `args` (a std::vector, std::array,
     * C array, std::span or any contiguous range of Arg); returns the results
     * in order (void when Result is void). Throws lk::item_error when the
     * callable threw, lk::error for a failing status.
     */
    template <class Range, std::enable_if_t<detail::contiguous_of_v<const Range, Arg>, int> = 0>
    auto map(const Range &args) const {
        return map(std::data(args), static_cast<std::size_t>(std::size(args)));
    }

    /** map over a braced list: inv.map({1, 2, 3}). */
    auto map(std::initializer_list<Arg> args) const { return map(args.begin(), args.size()); }

    /** map over `n` elements at `args` (which may be NULL when n is 0). */
    auto map(const Arg *args, std::size_t n) const {
        if constexpr (std::is_void_v<Result>) {
            run(args, n, nullptr);
        } else if constexpr (std::is_same_v<Result, bool>) {
            std::unique_ptr<bool[]> results(new bool[n == 0 ? 1 : n]());
            run(args, n, results.get());
            return std::vector<bool>(results.get(), results.get() + n);
        } else {
            std::vector<Result> results(n);
            run(args, n, results.data());
            return results;
        }
    }

    /**
     * map into caller storage: results[i] receives the result of args[i].
     * Slots of items that did not run keep their values. `results` must have
     * room for `n` elements (and not overlap another map's results in flight).
     */
    template <class R = Result, std::enable_if_t<!std::is_void_v<R>, int> = 0>
    void map_into(const Arg *args, std::size_t n, R *results) const {
        run(args, n, results);
    }

    /** map_into over ranges; both must have the same size (else lk::error(LK_ERR_INVALID)). */
    template <class In, class Out, class R = Result,
              std::enable_if_t<!std::is_void_v<R> && detail::contiguous_of_v<const In, Arg> &&
                                   detail::contiguous_of_v<Out, R> &&
                                   !std::is_const_v<std::remove_pointer_t<decltype(std::data(std::declval<Out &>()))>>,
                               int> = 0>
    void map_into(const In &args, Out &&results) const {
        const auto n = static_cast<std::size_t>(std::size(args));
        if (static_cast<std::size_t>(std::size(results)) != n)
            throw error(LK_ERR_INVALID, "lk::invoker::map_into: " + std::to_string(n) + " arguments but " +
                                            std::to_string(std::size(results)) + " result slots");
        run(std::data(args), n, std::data(results));
    }

    /**
     * Stream the items of `[first, last)` (input iterators: read once, in
     * order, as the workers need them) through the callable, handing each
     * result to `out` in index order, while at most `opts.window` items are
     * read but not yet handed over (lk_invoker_stream): for batches bigger
     * than memory. `out` is
     *
     * - a sink callable, `out(index, result)` or `out(result)` (for a void
     *   Result `out(index)` or `out()`): called on this thread, one item at
     *   a time, in index order; stream() returns the number of items;
     * - or an output iterator (`*out = result; ++out`, e.g. std::back_inserter
     *   or a pointer): stream() returns it, past the last result, as
     *   std::transform does.
     *
     * Items are numbered from opts.index_base (lk::task::index, the sink's
     * index, item_error::index()); seeds are those a map in the same place
     * would give. The input and the output run on the calling thread while
     * the workers compute (with n_jobs 1 everything takes turns on it).
     *
     * Throws, for the lowest index first:
     * - lk::item_error: the callable threw for item index() (fail-fast: the
     *   output has received every item below it; keep-going: every other
     *   item, and the failing ones are skipped);
     * - lk::stream_error (origin sink): the output threw at item index(); the
     *   stream stopped there;
     * - lk::stream_error (origin source): reading item index() threw; the
     *   items read before it were still run and handed to the output;
     * - lk::error: a failing status (LK_ERR_CANCELLED, LK_ERR_WORKER_DIED, an
     *   item's exception in a worker process, which is logged, ...).
     * The original exception is nested in item_error and stream_error.
     *
     * A trivially copyable Arg and Result pass through the library's window
     * as bytes; other types (std::string, std::vector: threads backend
     * only) travel boxed, one allocation per item. The stream must not map
     * or stream on this invoker from its input or output
     * (lk::error(LK_ERR_UNSUPPORTED)); other invokers are fine.
     */
    template <class It, class End, class Out,
              std::enable_if_t<detail::input_iterator_v<It> && detail::sentinel_for_v<End, It> &&
                                   std::is_constructible_v<Arg, decltype(*std::declval<It &>())> &&
                                   detail::stream_output_v<std::decay_t<Out>, Result>,
                               int> = 0>
    auto stream(It first, End last, Out &&out, const stream_options &opts = {}) const {
        auto pull = [&first, &last]() -> std::optional<Arg> {
            if (!(first != last)) return std::nullopt;
            std::optional<Arg> next(std::in_place, *first);
            ++first;
            return next;
        };
        return stream_to(pull, std::forward<Out>(out), opts);
    }

    /**
     * stream over an input range (a container, a std::span, an
     * std::istream_iterator range; anything with std::begin and std::end):
     * as stream(std::begin(input), std::end(input), out, opts).
     */
    template <class Input, class Out,
              std::enable_if_t<detail::input_range_of_v<std::remove_reference_t<Input>, Arg> &&
                                   detail::stream_output_v<std::decay_t<Out>, Result>,
                               int> = 0>
    auto stream(Input &&input, Out &&out, const stream_options &opts = {}) const {
        return stream(std::begin(input), std::end(input), std::forward<Out>(out), opts);
    }

    /**
     * stream over what a generator gives: `gen()` returns std::optional<T>
     * (T convertible to Arg), and std::nullopt ends the input. It is called
     * on this thread, one call per item, as the window has room, and never
     * again after it returned std::nullopt or threw.
     */
    template <class Gen, class Out,
              std::enable_if_t<detail::generator_of_v<std::remove_reference_t<Gen>, Arg> &&
                                   !detail::input_range_of_v<std::remove_reference_t<Gen>, Arg> &&
                                   detail::stream_output_v<std::decay_t<Out>, Result>,
                               int> = 0>
    auto stream(Gen &&gen, Out &&out, const stream_options &opts = {}) const {
        auto pull = [&gen]() -> std::optional<Arg> {
            auto next = std::invoke(gen);
            if (!next) return std::nullopt;
            return std::optional<Arg>(std::in_place, std::move(*next));
        };
        return stream_to(pull, std::forward<Out>(out), opts);
    }

private:
    template <class F, class G>
    void start(G &&func, options opts) {
        if (opts.backend == backend::processes &&
            !(std::is_trivially_copyable_v<Arg> && (std::is_void_v<Result> || std::is_trivially_copyable_v<Result>)))
            throw error(LK_ERR_INVALID, "lk::invoker: the process backend moves arguments and results as bytes, "
                                        "so Arg and Result must be trivially copyable");
        auto ctx = std::make_unique<detail::context<Arg, Result, F>>(std::forward<G>(func));
        lk_invoker_options copts{};
        lk_invoker_options_init(&copts, sizeof copts);
        copts.n_jobs = opts.n_jobs;
        copts.backend = static_cast<lk_backend>(opts.backend);
        copts.error_mode = static_cast<lk_error_mode>(opts.error_mode);
        copts.seeds = static_cast<lk_seeds>(opts.seeds);
        copts.range_func = &detail::range_trampoline<Arg, Result, F>;
        copts.grain = opts.grain;
        if (opts.progress) {
            ctx->progress = std::move(opts.progress);
            copts.progress = &detail::progress_trampoline;
            copts.progress_user = static_cast<detail::context_base *>(ctx.get());
        }
        lk_invoker *handle = nullptr;
        const void *model = static_cast<const detail::context<Arg, Result, F> *>(ctx.get());
        check(lk_invoker_new_with(model, nullptr, &copts, &handle));
        ctx->handle = handle;
        ctx_ = std::move(ctx);
        handle_ = handle;
    }

    void require_handle() const {
        if (handle_ == nullptr)
            throw error(LK_ERR_INVALID, "lk::invoker: empty (default-constructed, moved from or shut down)");
    }

    // The output of a stream as one call, push(index, result) (push(index) for
    // a void Result); returns what stream() returns.
    template <class Pull, class Out>
    auto stream_to(Pull &pull, Out &&out, const stream_options &opts) const {
        using O = std::decay_t<Out>;
        if constexpr (detail::sink_callable_v<O, Result>) {
            O &sink = out;
            auto push = [&sink](std::size_t index, const auto &...result) {
                if constexpr (std::is_invocable_v<O &, std::size_t, decltype(result)...>)
                    std::invoke(sink, index, result...);
                else
                    std::invoke(sink, result...);
            };
            return run_stream(pull, push, opts);
        } else {
            O it(std::forward<Out>(out));
            auto push = [&it](std::size_t, const Result &result) {
                *it = result;
                ++it;
            };
            run_stream(pull, push, opts);
            return it;
        }
    }

    template <class Pull, class Push>
    std::size_t run_stream(Pull &pull, Push &push, const stream_options &opts) const {
        require_handle();
        using run_t = detail::stream_run<Arg, Result, Pull, Push>;
        run_t st(ctx_.get(), pull, push, opts.index_base);
        lk_stream_options copts{};
        lk_stream_options_init(&copts, sizeof copts);
        copts.window = opts.window;
        copts.index_base = opts.index_base;
        // Boxed items: a pointer per argument slot and no results memory (see detail::boxed_stream_v).
        const std::size_t arg_size = run_t::boxed ? sizeof(typename run_t::box *) : sizeof(Arg);
        const std::size_t result_size =
            run_t::boxed || std::is_void_v<Result> ? 0 : sizeof(detail::result_slot_t<Result>);
        const lk_status status =
            lk_invoker_stream(handle_, &run_t::source, &run_t::sink, &st, arg_size, result_size, &copts);
        const std::string message = status == LK_OK ? std::string() : detail::last_error_or(status);
        std::exception_ptr progress_error = std::exchange(detail::pending_progress_error(), nullptr);
        // The exceptions of items that never reached the sink (fail-fast: the
        // failing one, and any after it that ran); taken whatever happened.
        if constexpr (run_t::boxed) {
            st.note_unsunk_boxes();
        } else {
            detail::failure rest{};
            if (ctx_->take_if([&](const detail::failure &f) { return st.window.contains(f.arg_slot); }, rest))
                st.note_item(rest.index, rest.error);
        }

        // The lowest index wins; at one index an item, then the input, then the output.
        enum kind { none, item, opaque, source, sink };
        kind first = none;
        std::size_t at = 0;
        auto consider = [&](kind k, std::size_t index) {
            if (first == none || index < at || (index == at && k < first)) {
                first = k;
                at = index;
            }
        };
        if (st.item_failed) consider(st.item_exception ? item : opaque, st.item_index);
        // A failure the library saw but C++ did not (a worker process's item, a
        // dead worker): under fail-fast its item never reached the sink, so it
        // lies below what the input failed to read and above what the output took.
        const bool item_status = status == LK_ERR_WORKER_DIED || status == LK_ERR_TIMEOUT ||
                                 (status == LK_ERR_CALLBACK && !st.sink_error);
        if (item_status && !st.item_failed) consider(opaque, st.source_error ? st.source_index : SIZE_MAX);
        if (st.source_error) consider(source, st.source_index);
        if (st.sink_error) consider(sink, st.sink_index);
        // Defensive: under fail-fast an item the output never got, with no
        // other explanation, failed (whatever the status says).
        if (first == none && status == LK_OK && st.delivered < st.sourced)
            throw error(LK_ERR_CALLBACK, "lk::invoker::stream: item " + std::to_string(opts.index_base + st.delivered) +
                                             " failed: the stream ended before it reached the output");
        switch (first) {
        case item: detail::throw_item_error(at, st.item_exception);
        case opaque:
            throw error(status != LK_OK ? status : LK_ERR_CALLBACK,
                        status != LK_OK ? message : "lk::invoker::stream: item " + std::to_string(at) + " failed");
        case source: detail::throw_stream_error(stream_error::origin::source, at, st.source_error);
        case sink: detail::throw_stream_error(stream_error::origin::sink, at, st.sink_error);
        case none: break;
        }
        if (progress_error) std::rethrow_exception(progress_error);
        if (status != LK_OK) throw error(status, message);
        return st.delivered;
    }

    void run(const Arg *args, std::size_t n, void *results) const {
        require_handle();
        // Exceptions are found again by their result slot, so even a Result of
        // void gets one distinct byte per item.
        std::unique_ptr<unsigned char[]> scratch;
        std::size_t result_size = sizeof(detail::result_slot_t<Result>);
        if constexpr (std::is_void_v<Result>) {
            scratch.reset(new unsigned char[n == 0 ? 1 : n]);
            results = scratch.get();
        }
        const lk_status status = lk_invoker_map(handle_, args, n, sizeof(Arg), results, result_size);
        const std::string message = status == LK_OK ? std::string() : detail::last_error_or(status);
        std::exception_ptr progress_error = std::exchange(detail::pending_progress_error(), nullptr);
        detail::failure first{};
        if (status != LK_OK &&
            ctx_->take(results, static_cast<unsigned char *>(results) + n * result_size, first))
            detail::throw_item_error(first.index, first.error);
        if (progress_error) std::rethrow_exception(progress_error);
        if (status != LK_OK) throw error(status, message);
    }

    // Destroy order matters: the lk_invoker must be shut down before its context goes.
    void close() noexcept {
        if (handle_ != nullptr) {
            // If shutdown fails (say, from the invoker's own callable), callbacks may
            // still run: leak the context rather than free it under them.
            if (lk_invoker_shutdown(handle_) != LK_OK) (void)ctx_.release();
            handle_ = nullptr;
        }
        ctx_.reset();
    }

    std::unique_ptr<detail::context_base> ctx_;
    lk_invoker *handle_ = nullptr;
};

template <class F>
invoker(F) -> invoker<typename detail::deduced_arg<F, 0>::type, typename detail::deduced_result<F>::type>;
template <class F>
invoker(F, options) -> invoker<typename detail::deduced_arg<F, 0>::type, typename detail::deduced_result<F>::type>;
template <class Model, class F>
invoker(const Model &, F)
    -> invoker<typename detail::deduced_arg<F, 1>::type, typename detail::deduced_result<F>::type>;
template <class Model, class F>
invoker(const Model &, F, options)
    -> invoker<typename detail::deduced_arg<F, 1>::type, typename detail::deduced_result<F>::type>;

// ---- Subprocess isolation -----------------------------------------------------

/** Where a run_sp function writes its answer (an lk_buffer in the child). */
class sp_output {
public:
    explicit sp_output(lk_buffer *buffer) noexcept : buffer_(buffer) {}

    /** Append `len` bytes at `data`. Throws lk::error (say, out of memory). */
    void append(const void *data, std::size_t len) { check(lk_buffer_append(buffer_, data, len)); }

    /** Append the bytes of a string. */
    void append(std::string_view text) { append(text.data(), text.size()); }

    /** Append the bytes of a trivially copyable value. */
    template <class T>
    void append_value(const T &value) {
        static_assert(std::is_trivially_copyable_v<T>, "lk::sp_output::append_value needs a trivially copyable T");
        append(std::addressof(value), sizeof(T));
    }

    /** Append the elements of a contiguous range of trivially copyable values. */
    template <class Range>
    void append_range(const Range &range) {
        using T = std::remove_cv_t<std::remove_pointer_t<decltype(std::data(range))>>;
        static_assert(std::is_trivially_copyable_v<T>, "lk::sp_output::append_range needs trivially copyable elements");
        append(std::data(range), static_cast<std::size_t>(std::size(range)) * sizeof(T));
    }

    /** The C buffer, for lk_buffer_append. */
    lk_buffer *get() const noexcept { return buffer_; }

private:
    lk_buffer *buffer_;
};

namespace detail {

// The child ends its answer with a tag byte: 0 = success; 1 = the function
// threw, preceded by the message and its length (a native uint64_t).
inline constexpr unsigned char sp_ok = 0;
inline constexpr unsigned char sp_threw = 1;

inline std::int32_t sp_fail(lk_buffer *out, const char *message) noexcept {
    const std::uint64_t len = std::strlen(message);
    if (lk_buffer_append(out, message, static_cast<std::size_t>(len)) != LK_OK ||
        lk_buffer_append(out, &len, sizeof len) != LK_OK || lk_buffer_append(out, &sp_threw, 1) != LK_OK)
        return exception_code;
    return 0;
}

template <class F>
std::int32_t sp_trampoline(const void *arg, lk_buffer *out) noexcept {
    // The child has its own copy-on-write copy of the function: calling it non-const is safe.
    F &func = *const_cast<F *>(static_cast<const F *>(arg));
    try {
        sp_output output(out);
        if constexpr (std::is_invocable_v<F &, sp_output &>) {
            std::invoke(func, output);
        } else {
            output.append_range(std::invoke(func));
        }
    } catch (const std::exception &e) {
        return sp_fail(out, e.what());
    } catch (...) {
        return sp_fail(out, "a non-standard exception");
    }
    return lk_buffer_append(out, &sp_ok, 1) == LK_OK ? 0 : exception_code;
}

struct buffer_guard {
    lk_buffer *buffer;
    ~buffer_guard() { lk_buffer_free(buffer); }
};

inline std::vector<std::byte> sp_decode(const lk_buffer &answer) {
    if (answer.len == 0 || answer.data == nullptr)
        throw error(LK_ERR_INTERNAL, "lk::run_sp: the child's answer has no status byte");
    const std::size_t body = answer.len - 1;
    const unsigned char tag = answer.data[body];
    if (tag == sp_ok) {
        std::vector<std::byte> bytes(body);
        if (body != 0) std::memcpy(bytes.data(), answer.data, body);
        return bytes;
    }
    std::uint64_t len = 0;
    if (tag == sp_threw && body >= sizeof len) {
        std::memcpy(&len, answer.data + body - sizeof len, sizeof len);
        if (len <= body - sizeof len) {
            const char *text = reinterpret_cast<const char *>(answer.data) + body - sizeof len - len;
            throw error(LK_ERR_CALLBACK,
                        "lk::run_sp: the function threw in the child process: " + std::string(text, len));
        }
    }
    throw error(LK_ERR_INTERNAL, "lk::run_sp: the child's answer is malformed");
}

} // namespace detail

/**
 * A standard allocator over lk_shared_alloc: memory that every process
 * forked after the first allocation maps at the same address, so the
 * workers of a process-backend invoker made afterwards use arrays there in
 * place (see lk_shared_alloc). Allocations are 64-byte aligned; a failure
 * throws lk::error (LK_ERR_SYSTEM when the region is full). Stateless: all
 * instances are equal. Only the process that first allocated may allocate
 * or free, so a container of it must not grow or be destroyed in a forked
 * child (its elements may be read and written there).
 */
template <class T>
struct shared_allocator {
    static_assert(alignof(T) <= 64, "lk::shared_allocator: blocks are 64-byte aligned");
    using value_type = T;

    shared_allocator() noexcept = default;
    template <class U>
    shared_allocator(const shared_allocator<U> &) noexcept {}

    T *allocate(std::size_t n) {
        if (n > static_cast<std::size_t>(-1) / sizeof(T)) throw std::bad_array_new_length();
        void *p = nullptr;
        check(lk_shared_alloc(n * sizeof(T), &p));
        if (p == nullptr) p = allocate_one_byte();
        return static_cast<T *>(p);
    }

    void deallocate(T *p, std::size_t) noexcept { lk_shared_free(p); }

    template <class U>
    bool operator==(const shared_allocator<U> &) const noexcept { return true; }
    template <class U>
    bool operator!=(const shared_allocator<U> &) const noexcept { return false; }

  private:
    // allocate(0) must return a unique pointer; lk_shared_alloc(0) gives NULL.
    static void *allocate_one_byte() {
        void *p = nullptr;
        check(lk_shared_alloc(1, &p));
        return p;
    }
};

/** A std::vector whose elements live in lk_shared_alloc memory (see shared_allocator). */
template <class T>
using shared_vector = std::vector<T, shared_allocator<T>>;

/** Limits for lk::run_sp (lk_sp_options). */
struct sp_options {
    /** Time limit (0: none). Past it the child is killed and run_sp throws lk::error(LK_ERR_TIMEOUT). */
    std::chrono::milliseconds timeout{0};
    /** Time between SIGTERM and SIGKILL after a time-out (0: the library's default, 500 ms). */
    std::chrono::milliseconds grace{0};
    /** Address-space limit for the child in bytes (0: none); allocations past it fail in the child. */
    std::uint64_t memory_limit = 0;
};

/**
 * Run `func` in a forked child process (lk_run_sp_with) and return the bytes
 * it produced. `func` is either `void(lk::sp_output &)`, appending its
 * answer, or `R()` returning a contiguous range of trivially copyable values
 * (std::vector<std::byte>, std::string, std::vector<double>, ...), whose
 * bytes are the answer. It sees a copy-on-write snapshot of this process;
 * what it changes stays in the child.
 *
 * Throws lk::error: LK_ERR_CALLBACK when `func` threw in the child (what()
 * carries the child's message), LK_ERR_WORKER_DIED when the child died or
 * exited without answering, LK_ERR_TIMEOUT past `opts.timeout`,
 * LK_ERR_SYSTEM when it could not be started, LK_ERR_INVALID for a limit
 * out of range.
 */
template <class F>
std::vector<std::byte> run_sp(F &&func, const sp_options &opts = {}) {
    using Fn = std::remove_reference_t<F>;
    static_assert(std::is_invocable_v<Fn &, sp_output &> || std::is_invocable_v<Fn &>,
                  "lk::run_sp: func must be callable as func(lk::sp_output &) or func()");
    if (opts.timeout.count() < 0 || opts.grace.count() < 0 ||
        opts.grace.count() > static_cast<std::int64_t>(UINT32_MAX))
        throw error(LK_ERR_INVALID, "lk::run_sp: timeout and grace must be >= 0 (grace below 2^32 ms)");
    lk_sp_options copts{};
    lk_sp_options_init(&copts, sizeof copts);
    copts.timeout_ms = static_cast<std::uint64_t>(opts.timeout.count());
    copts.grace_ms = static_cast<std::uint32_t>(opts.grace.count());
    copts.memory_limit = opts.memory_limit;
    lk_buffer answer{};
    detail::buffer_guard guard{&answer};
    check(lk_run_sp_with(&detail::sp_trampoline<Fn>, static_cast<const void *>(std::addressof(func)), &copts,
                         &answer));
    return detail::sp_decode(answer);
}

} // namespace lk

#endif /* LKPARALLEL_HPP */
