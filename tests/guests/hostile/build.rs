//! Links the wasm32 build with a 16 KiB stack and 256 KiB of initial linear
//! memory but, unlike the example guests, no maximum: the memory may grow, so
//! that the host's memory limit, not the guest's own, is what stops it.

fn main() {
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo:rustc-link-arg=-zstack-size=16384");
        println!("cargo:rustc-link-arg=--initial-memory=262144");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
