//! The ELF header reader, and the layer reader that finds binaries, never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use multiarch::verify::elf::ElfIdent;
use multiarch::oci::layers::{Layer, read_head};

fuzz_target!(|bytes: &[u8]| {
    if let Ok(ident) = ElfIdent::parse(bytes) {
        let _ = ident.describe();
        let _ = ident.architecture();
    }
    for media_type in [
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.v1.tar",
    ] {
        let layer = Layer::in_memory(media_type, bytes.to_vec());
        let _ = read_head(std::slice::from_ref(&layer), "/arch-server");
    }
});
