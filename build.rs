//! Writes include/lkparallel.h with cbindgen (only when it changed) and gives
//! the shared library its versioned SONAME.

use std::path::PathBuf;

fn main() {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let version = std::env::var("CARGO_PKG_VERSION").unwrap();
    let major: u32 = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap().parse().unwrap();
    let minor: u32 = std::env::var("CARGO_PKG_VERSION_MINOR").unwrap().parse().unwrap();
    let patch: u32 = std::env::var("CARGO_PKG_VERSION_PATCH").unwrap().parse().unwrap();

    // While 0.x, every minor release may break the ABI, so it is part of the SONAME.
    let soname = if major == 0 { format!("liblkparallel.so.0.{minor}") } else { format!("liblkparallel.so.{major}") };
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");

    // The fork-based parts (run_sp, the process backend) exist on Linux
    // unless the `portable` feature asks for the threads-only fallback.
    println!("cargo::rustc-check-cfg=cfg(lk_fork)");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux");
    if linux && std::env::var_os("CARGO_FEATURE_PORTABLE").is_none() {
        println!("cargo:rustc-cfg=lk_fork");
    }

    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");

    let mut config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    config.after_includes = Some(format!(
        "\n/** The version this header belongs to, from Cargo.toml; lk_version() gives the library's. */\n\
         #define LKPARALLEL_VERSION \"{version}\"\n\
         /** Major version: a change means an incompatible ABI (from 1.0 on). */\n\
         #define LKPARALLEL_VERSION_MAJOR {major}\n\
         /** Minor version: while the major version is 0, a change may break the ABI. */\n\
         #define LKPARALLEL_VERSION_MINOR {minor}\n\
         /** Patch version: fixes only. */\n\
         #define LKPARALLEL_VERSION_PATCH {patch}\n"
    ));
    config.header = Some(HEADER.to_string());
    let bindings = cbindgen::Builder::new()
        .with_crate(&dir)
        .with_config(config)
        .generate()
        .expect("cbindgen could not generate include/lkparallel.h");
    let mut raw = Vec::new();
    bindings.write(&mut raw);
    let text = in_reading_order(&String::from_utf8(raw).expect("cbindgen writes UTF-8")).into_bytes();
    let path = dir.join("include/lkparallel.h");
    if std::fs::read(&path).ok().as_deref() != Some(&text[..]) {
        std::fs::create_dir_all(dir.join("include")).unwrap();
        std::fs::write(&path, &text).unwrap();
    }
}

const HEADER: &str = "/*
 * lkparallel: run a model operation over a batch in parallel.
 *
 * Conventions (the whole contract is docs/api.md):
 * - Fallible functions return lk_status; on failure lk_last_error() has a
 *   message for this thread, and outputs are left untouched.
 * - Every function is thread-safe unless its comment says otherwise, never
 *   lets a Rust panic unwind into the caller, and never aborts the process on
 *   bad input.
 * - Handles (lk_invoker *) are looked up on every call: a dead one is
 *   LK_ERR_INVALID, never a crash, and handle values are never reused.
 * - Integers that C passes in (backend, log level, option fields) are checked:
 *   unknown values are LK_ERR_INVALID.
 * - Options structs carry their size: initialise them with their _init
 *   function and `sizeof`, then set fields.
 */";

/// The header's sections, in the order a user meets the API; each names
/// the items (types, constants, functions) it holds, in order. An item
/// cbindgen emits that no section names fails the build, so nothing new is
/// left out unplaced.
const SECTIONS: &[(&str, &[&str])] = &[
    ("Statuses and tasks", &["lk_status", "lk_task"]),
    ("Invokers", &["lk_invoker", "lk_op_fn", "lk_invoker_new"]),
    (
        "Maps",
        &[
            "lk_invoker_map",
            "LK_ITEM_SKIPPED",
            "LK_ITEM_WORKER_DIED",
            "LK_ITEM_TIMED_OUT",
            "LK_SCHEDULE_BLOCK",
            "LK_SCHEDULE_CYCLIC",
            "LK_SCHEDULE_DYNAMIC",
            "LK_RESULTS_ALL",
            "LK_RESULTS_ROOT",
            "LK_RESULTS_OWNED",
            "LK_RESULTS_OWNED_COMPACT",
            "lk_map_options",
            "lk_map_options_init",
            "lk_invoker_map_with",
        ],
    ),
    ("Range maps: the per-item loop in the caller's code", &["lk_range", "lk_range_fn", "LK_RANGE_STOPPED", "lk_range_seed", "lk_range_stopped"]),
    (
        "Invoker options",
        &[
            "lk_backend",
            "LK_BACKEND_THREADS",
            "LK_BACKEND_PROCESSES",
            "lk_error_mode",
            "LK_ERRORS_FAIL_FAST",
            "LK_ERRORS_KEEP_GOING",
            "lk_seeds",
            "LK_SEEDS_PER_ITEM",
            "LK_SEEDS_OFF",
            "lk_progress_fn",
            "lk_worker_init_fn",
            "lk_invoker_options",
            "lk_invoker_options_init",
            "lk_invoker_new_with",
        ],
    ),
    ("Streaming maps", &["lk_source_fn", "lk_sink_fn", "lk_stream_options", "lk_stream_options_init", "lk_invoker_stream"]),
    ("Cancel and shutdown", &["lk_invoker_cancel", "lk_invoker_shutdown"]),
    ("Shared memory: arrays process workers use in place", &["lk_shared_alloc", "lk_shared_free"]),
    ("Process counts and where a callback runs", &["lk_proc_count", "lk_cpu_count", "lk_inner_threads", "lk_is_worker", "lk_is_mp_worker"]),
    (
        "Isolated children: run_sp and buffers",
        &["lk_buffer", "lk_sp_fn", "lk_sp_options", "lk_sp_options_init", "lk_run_sp", "lk_run_sp_with", "lk_buffer_append", "lk_buffer_free"],
    ),
    ("Seeds", &["lk_seed_init", "lk_root_seed", "lk_derive_seed"]),
    (
        "Logging",
        &["lk_log_level", "LK_LOG_ERROR", "LK_LOG_WARN", "LK_LOG_INFO", "LK_LOG_DEBUG", "LK_LOG_TRACE", "lk_log_fn", "lk_set_log_callback", "lk_log"],
    ),
    ("Errors and version", &["lk_last_error", "lk_version"]),
    (
        "Beyond one machine: distributed maps",
        &["lk_comm", "lk_comm_ops", "LK_COMM_COUNTERS", "lk_comm_new", "lk_comm_free", "lk_comm_rank", "lk_comm_size", "lk_comm_abort", "lk_comm_report_failure", "lk_index_range", "lk_invoker_owned_ranges"],
    ),
];

/// What the header defines inline: it calls nothing, so a range
/// function's loop can use it at no cost. `lk_range_seed` repeats the
/// library's seed derivation (a test holds them equal).
const INLINE: &[(&str, &str)] = &[
    (
        "lk_range_seed",
        "/**
 * The `task->seed` item `index` (a task index, index_base applied) gets
 * through an item function: `lk_derive_seed(seed_base, index)`, or 0 with
 * `LK_SEEDS_OFF`. Defined here, calling nothing.
 */
static inline uint64_t lk_range_seed(const lk_range *range, size_t index) {
    uint64_t z;
    if (!range->seeds) {
        return 0;
    }
    z = range->seed_base ^ (((uint64_t)index + 1) * UINT64_C(0x9e3779b97f4a7c15));
    z ^= z >> 33;
    z *= UINT64_C(0xff51afd7ed558ccd);
    z ^= z >> 33;
    z *= UINT64_C(0xc4ceb9fe1a85ec53);
    return z ^ (z >> 33);
}",
    ),
    (
        "lk_range_stopped",
        "/**
 * Non-zero once the map is cancelled (on any rank, for a distributed map)
 * or, under fail-fast, has a failing item (for a stream: one below this
 * range); never because of a keep-going failure. A long range may poll it
 * and stop early: set `range->failed` to the first item it did not do and
 * return `LK_RANGE_STOPPED`. Defined here, calling nothing: two loads.
 */
static inline int lk_range_stopped(const lk_range *range) {
    return *(const volatile size_t *)range->stop_at <= range->offset
        || *(const volatile uint64_t *)range->cancel_word != range->cancel_epoch;
}",
    ),
];

/// The name a block of cbindgen's output declares.
fn item_name(block: &str) -> Option<String> {
    let code: Vec<&str> = block.lines().filter(|l| !l.trim_start().starts_with("/*") && !l.trim_start().starts_with('*')).collect();
    let first = code.first()?.trim();
    let ident = |s: &str| s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>();
    if let Some(rest) = first.strip_prefix("#define ") {
        return Some(ident(rest));
    }
    if let Some(rest) = first.strip_prefix("typedef struct ").or_else(|| first.strip_prefix("typedef enum ")) {
        return Some(ident(rest));
    }
    if first.starts_with("typedef ") {
        // `typedef int32_t lk_backend;` or `typedef int32_t (*lk_op_fn)(...`
        if let Some(p) = first.find("(*") {
            return Some(ident(&first[p + 2..]));
        }
        return first.trim_end_matches(';').rsplit(' ').next().map(ident);
    }
    // A function: the identifier before its `(`.
    let open = first.find('(')?;
    first[..open].rsplit([' ', '*']).next().map(ident)
}

/// cbindgen writes items grouped by kind; this puts them in `SECTIONS`'
/// order, types and functions together, inside one `extern "C"` block.
fn in_reading_order(text: &str) -> String {
    let start = text.find("#define LKPARALLEL_VERSION_PATCH").expect("version macros");
    let start = start + text[start..].find('\n').unwrap() + 1;
    let end = text.rfind("#endif  /* LKPARALLEL_H */").expect("include guard");
    let mut blocks: Vec<(String, String)> = Vec::new();
    // cbindgen's own `extern "C"` lines give way to ours.
    for block in text[start..end].split("\n\n").map(str::trim).filter(|b| !b.is_empty() && !b.contains("__cplusplus")) {
        let name = item_name(block).unwrap_or_else(|| panic!("cannot name this block of the header:\n{block}"));
        blocks.push((name, block.to_string()));
    }
    for (name, code) in INLINE {
        blocks.push((name.to_string(), code.to_string()));
    }
    let mut out = String::from(&text[..start]);
    out.push_str("\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n");
    for (title, names) in SECTIONS {
        out.push_str(&format!("\n/* ---------------- {title} ---------------- */\n"));
        for name in *names {
            let pos = blocks.iter().position(|(n, _)| n == name).unwrap_or_else(|| panic!("the header has no `{name}`"));
            let (_, code) = blocks.remove(pos);
            out.push('\n');
            out.push_str(&code);
            out.push('\n');
        }
    }
    if let Some((name, _)) = blocks.first() {
        panic!("`{name}` is in no section of the header (build.rs SECTIONS)");
    }
    out.push_str("\n#ifdef __cplusplus\n}  /* extern \"C\" */\n#endif\n\n");
    out.push_str(&text[end..]);
    out
}
