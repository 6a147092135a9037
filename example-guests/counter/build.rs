//! Links the wasm32 build with the dense memory layout of the host's default
//! pool slot: a 16 KiB stack and exactly 256 KiB (4 pages) of linear memory
//! that never grows, so a session costs no extra kernel mapping and only the
//! pages it touches. Native builds (unit tests) are left alone.

fn main() {
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo:rustc-link-arg=-zstack-size=16384");
        println!("cargo:rustc-link-arg=--initial-memory=262144");
        println!("cargo:rustc-link-arg=--max-memory=262144");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
