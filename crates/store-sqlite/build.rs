//! Rebuilds the crate when a migration is added or changed: `sqlx::migrate!` embeds the
//! `migrations` directory at compile time, and cargo would not otherwise notice a new file.
//!
//! Compiles the appender's VFS (`c/gather_vfs.c`, see there and `appender.rs` for why) and
//! SQLite's memory settings (`c/memory.c`) against the SQLite that `libsqlite3-sys` bundles and
//! the mimalloc that `libmimalloc-sys` builds (their `include` metadata), and links them whole:
//! each does its work in a constructor, which nothing names, so an ordinary static link would
//! drop it.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=c");
    let sqlite = std::env::var("DEP_SQLITE3_INCLUDE")
        .expect("libsqlite3-sys (bundled) names the directory of its sqlite3.h");
    let mimalloc = std::env::var("DEP_MIMALLOC_INCLUDE_DIR")
        .expect("libmimalloc-sys names the directory of its mimalloc.h");
    cc::Build::new()
        .file("c/gather_vfs.c")
        .file("c/memory.c")
        .include(sqlite)
        .include(mimalloc)
        .warnings(true)
        .extra_warnings(true)
        .warnings_into_errors(true)
        .link_lib_modifier("+whole-archive")
        .compile("chatsync_gather_vfs");
}
