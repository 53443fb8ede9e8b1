//! The OCI data model, with no I/O: image references ([`reference`]), the entries of an
//! index or a single manifest ([`index`]), assembling a new index from images
//! ([`assemble`]), editing one ([`edit`]), finding a file in layers ([`layers`]), and
//! reading an image layout archive ([`layout`]). Everything above this layer passes these types, never strings.

pub mod assemble;
pub mod edit;
pub mod index;
pub mod layers;
pub mod layout;
pub mod reference;
