//! Generates the Optuna storage service (messages and tonic server) from
//! `proto/optuna_storage.proto`. protox parses the file, so no `protoc` is needed.
//!
//! Links the `ets` binary with its start-up functions side by side (`startup-order.txt`,
//! written by `bench/compare/startup_order.py`): start-up then touches a few dozen 64 KiB
//! windows of the code segment instead of ~240, and the kernel maps each touched window whole,
//! so RSS after start-up drops by ~8 MiB (docs/benchmarks.md, issue 18). Only where Rust
//! links with LLD by default (x86_64 Linux since Rust 1.90; the workspace needs 1.95); names
//! the binary no longer has are skipped.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "proto/optuna_storage.proto";
    println!("cargo:rerun-if-changed={proto}");
    let descriptors = protox::compile([proto], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(false)
        .compile_fds(descriptors)?;

    let order = "startup-order.txt";
    println!("cargo:rerun-if-changed={order}");
    if std::env::var("TARGET").as_deref() == Ok("x86_64-unknown-linux-gnu") {
        let path = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR")?).join(order);
        println!(
            "cargo:rustc-link-arg-bin=ets=-Wl,--symbol-ordering-file={}",
            path.display()
        );
        println!("cargo:rustc-link-arg-bin=ets=-Wl,--no-warn-symbol-ordering");
    }
    Ok(())
}
