//! Release builds of the server binary on Linux/glibc link with `build/hot-text.ld`, which
//! places the functions a running server uses together (see `scripts/text-order`): fewer
//! executable pages become resident. `FERROKEEPER_TEXT_ORDER=off` links without it (for a
//! linker that cannot take a GNU `INSERT` script, such as mold).

use std::path::PathBuf;

fn main() {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    let script = PathBuf::from(var("CARGO_MANIFEST_DIR")).join("build/hot-text.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    println!("cargo:rerun-if-env-changed=FERROKEEPER_TEXT_ORDER");
    let wanted = var("PROFILE") == "release"
        && var("CARGO_CFG_TARGET_OS") == "linux"
        && var("CARGO_CFG_TARGET_ENV") == "gnu"
        && var("FERROKEEPER_TEXT_ORDER") != "off";
    if !wanted {
        return;
    }
    if script.is_file() {
        // two arguments, so that a path with a comma or a space stays one path
        println!("cargo:rustc-link-arg-bin=ferrokeeper=-T");
        println!("cargo:rustc-link-arg-bin=ferrokeeper={}", script.display());
    } else {
        println!(
            "cargo:warning=linking without {}: the executable's pages are not grouped",
            script.display()
        );
    }
}
