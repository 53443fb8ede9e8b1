//! The static check: the image's config names the platform its index entry claims, and
//! the entrypoint and every program in the usual binary folders, read out of the layers,
//! are for that CPU, down to its level.

use oci_client::Reference;

use multiarch_platform::Platform;

use super::userland::PageSize;
use super::{Check, Scope, StaticCheck, binary, userland};
use crate::error::{Error, Result};
use crate::oci::layers::{self, Layer};
use crate::registry::Registry;
use crate::verify::elf::{ElfError, ElfIdent};

/// Reads the config, the entrypoint and (in [`Scope::Userland`]) every program of one
/// platform's image.
///
/// # Errors
/// Only when the registry cannot be read; a mismatch is a [`Check::Fail`].
pub(crate) async fn check_static(
    registry: &Registry,
    reference: &Reference,
    platform: &Platform,
    digest: &str,
    scope: Scope,
) -> Result<StaticCheck> {
    let image = registry.fetch_image(reference, digest).await?;
    let (config, (check, page_size)) = match crate::oci::index::config_platform(&image.config) {
        Ok(configured) if &configured == platform => {
            let judged =
                check_binaries(registry, reference, platform, digest, &image, scope).await?;
            (Some(configured), judged)
        }
        Ok(configured) => {
            let check = Check::Fail(format!(
                "the image config says {configured}, the index says {platform}"
            ));
            (Some(configured), (check, None))
        }
        Err(e) => (
            None,
            (
                Check::Fail(format!("the image config names no valid platform: {e}")),
                None,
            ),
        ),
    };
    Ok(StaticCheck {
        config,
        check,
        page_size,
    })
}

/// A verdict, and the largest page size the programs read start on.
type Judged = (Check, Option<PageSize>);

/// The entrypoint and (in [`Scope::Userland`]) every program, read out of the layers.
async fn check_binaries(
    registry: &Registry,
    reference: &Reference,
    platform: &Platform,
    digest: &str,
    image: &crate::registry::PlatformImage,
    scope: Scope,
) -> Result<Judged> {
    let config = &image.config;

    let runtime = config.config().as_ref();
    let strings = |v: Option<&Vec<String>>| v.cloned().unwrap_or_default();
    let candidates = layers::program_candidates(
        &strings(runtime.and_then(|c| c.entrypoint().as_ref())),
        &strings(runtime.and_then(|c| c.cmd().as_ref())),
        &strings(runtime.and_then(|c| c.env().as_ref())),
    );
    if candidates.is_empty() {
        return Ok((
            Check::Fail("the image has neither an entrypoint nor a command".into()),
            None,
        ));
    }

    let by_digest = reference.clone_with_digest(digest.to_string());
    let mut downloaded = Vec::with_capacity(image.manifest.layers().len());
    for descriptor in image.manifest.layers() {
        downloaded.push(registry.fetch_layer(&by_digest, descriptor).await?);
    }

    let mut program = candidates[0].clone();
    // Follow one `#!` interpreter: a script's platform is its interpreter's.
    for _ in 0..2 {
        let found = candidates_found(reference, &downloaded, &program, &candidates)?;
        let Some((path, head)) = found else {
            return Ok((
                Check::Fail(format!(
                    "`{program}` (the entrypoint) is not in the image's layers"
                )),
                None,
            ));
        };
        match ElfIdent::parse(&head) {
            Ok(_) => {
                let (entrypoint, page) = judge_entrypoint(reference, &downloaded, &path, platform)?;
                return match (entrypoint, scope) {
                    (Check::Pass(detail), Scope::Userland) => {
                        let (check, userland) =
                            judge_userland(reference, &downloaded, platform, detail)?;
                        Ok((check, PageSize::smaller(page, userland)))
                    }
                    (entrypoint, _) => Ok((entrypoint, page)),
                };
            }
            Err(ElfError::Script(interpreter)) => {
                program = interpreter
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string();
            }
            Err(e) => return Ok((Check::Fail(format!("`{path}` is {e}")), None)),
        }
    }
    Ok((
        Check::Fail(format!("`{program}` is a script run by another script")),
        None,
    ))
}

fn candidates_found(
    reference: &Reference,
    layers: &[Layer],
    program: &str,
    candidates: &[String],
) -> Result<Option<(String, Vec<u8>)>> {
    let list: Vec<&str> = if candidates.first().map(String::as_str) == Some(program) {
        candidates.iter().map(String::as_str).collect()
    } else {
        vec![program]
    };
    for path in list {
        let found = layers::read_head(layers, path).map_err(layers_error(reference, path))?;
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

/// The entrypoint, read whole: it must run on the platform's CPU, and when it is linked
/// dynamically its loader must be in the image, or the container cannot start ("exec user
/// process caused: no such file or directory").
fn judge_entrypoint(
    reference: &Reference,
    layers: &[Layer],
    path: &str,
    platform: &Platform,
) -> Result<Judged> {
    let whole = layers::read_file(layers, path, userland::MAX_BINARY)
        .map_err(layers_error(reference, path))?
        .map(|(_, bytes)| bytes)
        .unwrap_or_default();
    let page = crate::verify::elf::largest_page_size(&whole)
        .ok()
        .flatten()
        .map(|bytes| PageSize {
            bytes,
            limited_by: path.to_string(),
        });
    let mut detail = match binary::judge(path, &whole, platform) {
        Check::Pass(detail) => detail,
        other => return Ok((other, page)),
    };
    let loader = match crate::verify::elf::interpreter(&whole) {
        Ok(loader) => loader,
        Err(e) => return Ok((Check::Fail(format!("`{path}` is {e}")), page)),
    };
    if let Some(loader) = loader {
        if let Some(missing) = judge_loader(reference, layers, &loader, path, platform)? {
            return Ok((missing, page));
        }
        detail += &format!(", dynamically linked ({loader} is there)");
    }
    Ok((Check::Pass(detail), page))
}

/// Every ELF file in the usual binary folders, and the loaders they name.
fn judge_userland(
    reference: &Reference,
    layers: &[Layer],
    platform: &Platform,
    entrypoint: String,
) -> Result<Judged> {
    let userland = userland::scan(layers, platform).map_err(layers_error(reference, "/"))?;
    let page = userland.page_size.clone();
    if let Some(failure) = userland.failure(platform) {
        return Ok((
            Check::Fail(format!("{entrypoint} fits, but {failure}")),
            page,
        ));
    }
    for (loader, user) in &userland.loaders {
        if let Some(missing) = judge_loader(reference, layers, loader, user, platform)? {
            return Ok((missing, page));
        }
    }
    Ok((Check::Pass(entrypoint + &userland.summary()), page))
}

/// `Some(failure)` when the `loader` that `user` names is missing or for another CPU.
fn judge_loader(
    reference: &Reference,
    layers: &[Layer],
    loader: &str,
    user: &str,
    platform: &Platform,
) -> Result<Option<Check>> {
    let found = layers::read_head(layers, loader).map_err(layers_error(reference, loader))?;
    let Some((_, head)) = found else {
        return Ok(Some(Check::Fail(format!(
            "{user} is dynamically linked and its loader `{loader}` is not in the image: it cannot start (\"exec user process caused: no such file or directory\")"
        ))));
    };
    if let Ok(ident) = ElfIdent::parse(&head) {
        if binary::judge_header(loader, ident, platform).failed() {
            return Ok(Some(Check::Fail(format!(
                "the loader `{loader}` of {user} is {}, not a {platform} one",
                ident.describe()
            ))));
        }
    }
    Ok(None)
}

fn layers_error(reference: &Reference, path: &str) -> impl FnOnce(layers::LayerError) -> Error {
    let (reference, path) = (reference.whole(), path.to_string());
    move |source| Error::Layers {
        reference,
        path,
        source,
    }
}
