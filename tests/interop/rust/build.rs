// Expose the pinned libp2p version (from Cargo.lock) to the program: the `started` event's
// `version` field.
fn main() {
    println!("cargo:rerun-if-changed=Cargo.lock");
    let lock = std::fs::read_to_string("Cargo.lock").expect("Cargo.lock");
    let mut version = None;
    let mut in_libp2p = false;
    for line in lock.lines() {
        if line == "[[package]]" {
            in_libp2p = false;
        } else if line == "name = \"libp2p\"" {
            in_libp2p = true;
        } else if in_libp2p {
            if let Some(v) = line.strip_prefix("version = \"") {
                version = Some(v.trim_end_matches('"').to_string());
                break;
            }
        }
    }
    println!(
        "cargo:rustc-env=RUST_PEER_LIBP2P_VERSION={}",
        version.expect("libp2p in Cargo.lock")
    );
}
