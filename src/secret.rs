//! The deployment's secrets, shared by `veil serve` and the other commands on one machine: the
//! API secret that signs join tokens, and the admin key that opens the admin API (`/api`).
//!
//! An environment variable (hex) wins (`VEIL_API_SECRET`, `VEIL_ADMIN_KEY`); otherwise each
//! lives in a file of the data directory (`api_secret`, `admin_key`), created with mode 0600 on
//! first use, so the commands agree without the user copying anything.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use veil_signaling::token::ApiSecret;

/// One of the deployment's secrets: where it lives.
#[derive(Debug, Clone, Copy)]
pub struct Secret {
    file: &'static str,
    env: &'static str,
}

/// Signs and checks join tokens.
pub const API_SECRET: Secret = Secret { file: "api_secret", env: "VEIL_API_SECRET" };

/// Opens the admin API; distinct from the API secret, so handing out one does not hand out
/// the other.
pub const ADMIN_KEY: Secret = Secret { file: "admin_key", env: "VEIL_ADMIN_KEY" };

/// Loads the API secret from the environment or the data directory, creating it if needed.
pub fn load_or_create(data_dir: &Path) -> anyhow::Result<ApiSecret> {
    load_or_create_named(data_dir, API_SECRET)
}

/// Loads `secret` from the environment or the data directory, which must hold it already: a
/// command that talks to a running server needs the server's key, not a new one.
pub fn load_existing(data_dir: &Path, secret: Secret) -> anyhow::Result<ApiSecret> {
    let path = data_dir.join(secret.file);
    if std::env::var_os(secret.env).is_none() && !path.exists() {
        anyhow::bail!(
            "no {} in {}: run this on the machine that runs `veil serve`, with the same data \
             directory (--data-dir), or set {}",
            secret.file,
            data_dir.display(),
            secret.env
        );
    }
    load_or_create_named(data_dir, secret)
}

/// Loads `secret` from the environment or the data directory, creating it if needed.
pub fn load_or_create_named(data_dir: &Path, secret: Secret) -> anyhow::Result<ApiSecret> {
    if let Ok(hex) = std::env::var(secret.env) {
        return ApiSecret::from_hex(hex.trim()).with_context(|| {
            format!("{} is not a usable secret (expected at least 64 hex digits)", secret.env)
        });
    }
    let path = data_dir.join(secret.file);
    match fs::read_to_string(&path) {
        Ok(text) => ApiSecret::from_hex(text.trim()).with_context(|| {
            format!("{} does not hold a usable secret; delete it to make a new one", path.display())
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(data_dir, &path, secret),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn create(data_dir: &Path, path: &Path, named: Secret) -> anyhow::Result<ApiSecret> {
    fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    let secret = ApiSecret::generate();
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(secret.to_hex().as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
            Ok(secret)
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            load_or_create_named(data_dir, named)
        }
        Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_is_created_once_and_reused() {
        let dir = std::env::temp_dir().join(format!("veil-secret-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let first = load_or_create(&dir).unwrap();
        let second = load_or_create(&dir).unwrap();
        assert_eq!(first.to_hex(), second.to_hex());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.join(API_SECRET.file)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let admin = load_or_create_named(&dir, ADMIN_KEY).unwrap();
        assert_ne!(admin.to_hex(), first.to_hex(), "the admin key is another secret");
        fs::remove_dir_all(&dir).unwrap();
    }
}
