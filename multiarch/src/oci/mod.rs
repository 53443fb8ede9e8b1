//! The OCI data model, with no I/O: image references ([`reference`]), the entries of an
//! index or a single manifest ([`index`]), and assembling a new index from images
//! ([`assemble`]). Everything above this layer passes these types, never strings.

pub mod assemble;
pub mod index;
pub mod reference;
