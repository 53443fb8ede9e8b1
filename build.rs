//! Records the target triple the server is compiled for, shown on its page and in `/arch`.
fn main() {
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=ARCH_SERVER_TARGET={target}");
    println!("cargo:rerun-if-changed=build.rs");
}
