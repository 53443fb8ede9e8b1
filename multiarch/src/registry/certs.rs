//! Trust as Docker has it: a registry's CA from `/etc/docker/certs.d/HOST:PORT/`, and
//! telling a certificate problem apart from a plain-HTTP server in a TLS error.

use std::path::PathBuf;

/// Where Docker reads a registry's CA (`ca.crt`, any `*.crt`) and client certificate.
pub(crate) fn certs_d_dirs(registry: &str) -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from("/etc/docker/certs.d").join(registry)];
    if let Some(config) = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
    {
        dirs.push(config.join("docker/certs.d").join(registry));
    }
    dirs
}

/// The CAs in the certs.d folders of `registries`, as oci-client takes them.
pub(super) fn certs_d_roots(registries: &[String]) -> Vec<oci_client::client::Certificate> {
    let mut roots = Vec::new();
    for dir in registries.iter().flat_map(|r| certs_d_dirs(r)) {
        let Ok(files) = std::fs::read_dir(&dir) else {
            continue;
        };
        for file in files.flatten() {
            let path = file.path();
            if path.extension().is_some_and(|e| e == "crt") {
                match std::fs::read(&path) {
                    Ok(data) => roots.push(oci_client::client::Certificate {
                        encoding: oci_client::client::CertificateEncoding::Pem,
                        data,
                    }),
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "cannot read a CA from certs.d")
                    }
                }
            }
        }
    }
    roots
}

/// A TLS handshake with a plain-HTTP server fails with a record-layer complaint.
pub(super) fn chain_mentions_tls(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        let text = e.to_string().to_ascii_lowercase();
        if text.contains("invalidcontenttype")
            || text.contains("corrupt message")
            || text.contains("wrong version number")
            || text.contains("http request to an https server")
            || text.contains("invalid content type")
        {
            return true;
        }
        cause = e.source();
    }
    false
}

/// The TLS verifier's complaint about the registry's certificate, if that is what failed
/// (`invalid peer certificate: UnknownIssuer`).
pub(super) fn certificate_problem(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        let text = e.to_string();
        if text.contains("invalid peer certificate") || text.contains("certificate verify failed") {
            return Some(text);
        }
        cause = e.source();
    }
    None
}
