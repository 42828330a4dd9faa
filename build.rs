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
    let mut text = Vec::new();
    bindings.write(&mut text);
    let path = dir.join("include/lkparallel.h");
    if std::fs::read(&path).ok().as_deref() != Some(&text[..]) {
        std::fs::create_dir_all(dir.join("include")).unwrap();
        std::fs::write(&path, &text).unwrap();
    }
}

const HEADER: &str = "/*
 * lkparallel: run a model operation over a batch in parallel.
 *
 * Conventions (the whole contract is API.md):
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
