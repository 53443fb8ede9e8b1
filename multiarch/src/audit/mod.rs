//! Whether a whole fleet is ready for a set of platforms, proven by what its images hold:
//! every image reference of a fleet's Compose files, Kubernetes manifests, Dockerfiles and
//! lists ([`sources`], or a registry's namespace, [`catalog`]), each unique image checked
//! once for every platform the fleet needs, down to the programs in its layers
//! ([`fleet`]), with what was read kept on disk for the next run ([`cache`]); the findings
//! ([`report`]) as SARIF for code scanning ([`sarif`]) and as a page ([`html`]), and digest
//! pins of one platform rewritten to their index ([`fix_pins`]).

pub mod cache;
pub mod catalog;
pub mod fix_pins;
pub mod fleet;
pub mod html;
pub mod report;
pub mod sarif;
pub mod sources;
