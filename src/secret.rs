//! The deployment's API secret, shared by `veil serve` and `veil token` on one machine.
//!
//! `VEIL_API_SECRET` (hex) wins; otherwise the secret lives in `<data dir>/api_secret`, created
//! with mode 0600 on first use, so both commands agree without the user copying anything.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use veil_signaling::token::ApiSecret;

const FILE: &str = "api_secret";

/// Loads the secret from the environment or the data directory, creating it if needed.
pub fn load_or_create(data_dir: &Path) -> anyhow::Result<ApiSecret> {
    if let Ok(hex) = std::env::var("VEIL_API_SECRET") {
        return ApiSecret::from_hex(hex.trim())
            .context("VEIL_API_SECRET is not a usable secret (expected at least 32 hex digits)");
    }
    let path = data_dir.join(FILE);
    match fs::read_to_string(&path) {
        Ok(text) => ApiSecret::from_hex(text.trim()).with_context(|| {
            format!("{} does not hold a usable secret; delete it to make a new one", path.display())
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(data_dir, &path),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn create(data_dir: &Path, path: &Path) -> anyhow::Result<ApiSecret> {
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
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_or_create(data_dir),
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
            let mode = fs::metadata(dir.join(FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        fs::remove_dir_all(&dir).unwrap();
    }
}
