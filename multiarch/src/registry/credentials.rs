//! Credentials as `docker login` stored them: the Docker config and its helpers, looked
//! up under the registry's own name (Docker Hub's under its index URL).

use oci_client::Reference;
use oci_client::secrets::RegistryAuth;

/// Credentials for the reference's registry from the Docker config, if any.
pub(super) fn auth_for(reference: &Reference) -> RegistryAuth {
    match stored_credential(reference.resolve_registry()) {
        Some(docker_credential::DockerCredential::UsernamePassword(user, password)) => {
            RegistryAuth::Basic(user, password)
        }
        Some(docker_credential::DockerCredential::IdentityToken(token)) => {
            RegistryAuth::Bearer(token)
        }
        None => RegistryAuth::Anonymous,
    }
}

/// What `docker login` stored for the reference's registry, in the form the engine's
/// push takes.
pub(crate) fn engine_credentials(
    reference: &Reference,
) -> Option<bollard::auth::DockerCredentials> {
    let server = credential_server(reference.resolve_registry());
    Some(match docker_credential::get_credential(server).ok()? {
        docker_credential::DockerCredential::UsernamePassword(username, password) => {
            bollard::auth::DockerCredentials {
                username: Some(username),
                password: Some(password),
                serveraddress: Some(server.to_string()),
                ..Default::default()
            }
        }
        docker_credential::DockerCredential::IdentityToken(token) => {
            bollard::auth::DockerCredentials {
                identitytoken: Some(token),
                serveraddress: Some(server.to_string()),
                ..Default::default()
            }
        }
    })
}

/// The user name and password `docker login HOST` stored, if any (a token is not one).
pub fn stored_login(host: &str) -> Option<(String, String)> {
    match stored_credential(host)? {
        docker_credential::DockerCredential::UsernamePassword(user, password) => {
            Some((user, password))
        }
        docker_credential::DockerCredential::IdentityToken(_) => None,
    }
}

pub(super) fn stored_credential(registry: &str) -> Option<docker_credential::DockerCredential> {
    docker_credential::get_credential(credential_server(registry)).ok()
}

/// The key `docker login` files a registry's credentials under: Docker Hub's is its
/// old index URL, every other registry's is its host[:port].
pub(super) fn credential_server(registry: &str) -> &str {
    match registry {
        "index.docker.io" | "docker.io" | "registry-1.docker.io" => "https://index.docker.io/v1/",
        other => other,
    }
}
