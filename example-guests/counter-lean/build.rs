//! Links the wasm32 build into the host's default pool slot like the
//! `counter` guest (exactly 256 KiB of linear memory that never grows), but
//! with a 2 KiB stack instead of 16 KiB: the stack comes first (rustc links
//! wasm with `--stack-first`), so a small one puts the stack top, the static
//! data and the heap all in the first 4 KiB page of memory. Native builds
//! (unit tests) are left alone.

fn main() {
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo:rustc-link-arg=-zstack-size=2048");
        println!("cargo:rustc-link-arg=--initial-memory=262144");
        println!("cargo:rustc-link-arg=--max-memory=262144");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
