//! Rebuilds the crate when a migration is added or changed: `sqlx::migrate!` embeds the
//! `migrations` directory at compile time, and cargo would not otherwise notice a new file.
//!
//! Compiles the appender's VFS (`c/gather_vfs.c`, see there and `appender.rs` for why) and
//! the page cache's wrapper (`c/page_cache.c`) against the SQLite that `libsqlite3-sys`
//! bundles (its `include` metadata), and links them whole: each sets itself up in a
//! constructor, which nothing names, so an ordinary static link would drop it.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=c");
    let include = std::env::var("DEP_SQLITE3_INCLUDE")
        .expect("libsqlite3-sys (bundled) names the directory of its sqlite3.h");
    cc::Build::new()
        .file("c/gather_vfs.c")
        .file("c/page_cache.c")
        .include(include)
        .warnings(true)
        .extra_warnings(true)
        .warnings_into_errors(true)
        .link_lib_modifier("+whole-archive")
        .compile("chatsync_gather_vfs");
}
