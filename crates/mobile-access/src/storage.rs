//! Where the SDK keeps what must survive a restart: the device key (when it is a software key),
//! the member's credentials and the fast-exchange secrets. Apps implement [`SecureStorage`] over
//! the Keychain or the Android Keystore; [`FileStorage`] is the desktop default.

use std::{
    collections::HashMap,
    fs,
    io::Write,
    path::{Path, PathBuf},
    sync::Mutex,
};

use crate::{Error, Result};

/// A small secret key-value store. Values are secrets: implementations must not log them.
pub trait SecureStorage: Send + Sync {
    /// The value under `key`, if any.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// Stores `value` under `key`, replacing what was there, atomically.
    fn set(&self, key: &str, value: &[u8]) -> Result<()>;
    /// Removes `key`; removing a missing key is not an error.
    fn delete(&self, key: &str) -> Result<()>;
}

/// Storage in memory: for tests and for apps that must not persist anything.
#[derive(Debug, Default)]
pub struct MemoryStorage {
    values: Mutex<HashMap<String, Vec<u8>>>,
}

impl MemoryStorage {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl SecureStorage for MemoryStorage {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.values.lock().map_err(|_| poisoned())?.get(key).cloned())
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        self.values.lock().map_err(|_| poisoned())?.insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<()> {
        self.values.lock().map_err(|_| poisoned())?.remove(key);
        Ok(())
    }
}

fn poisoned() -> Error {
    Error::Storage("storage lock poisoned".to_owned())
}

/// One file per key in a directory readable only by the user (0700, files 0600), written
/// atomically (temporary file, then rename) so a crash never leaves half a key behind.
#[derive(Debug, Clone)]
pub struct FileStorage {
    dir: PathBuf,
}

impl FileStorage {
    /// Opens (creating if needed) the store in `dir`.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|e| io_error("creating", &dir, &e))?;
        restrict(&dir, 0o700)?;
        Ok(Self { dir })
    }

    fn path(&self, key: &str) -> Result<PathBuf> {
        let valid = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !valid || key.starts_with('.') {
            return Err(Error::Storage(format!("invalid storage key {key:?}")));
        }
        Ok(self.dir.join(key))
    }
}

fn io_error(action: &str, path: &Path, error: &std::io::Error) -> Error {
    Error::Storage(format!("{action} {}: {error}", path.display()))
}

#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(|e| io_error("restricting", path, &e))
}

#[cfg(not(unix))]
fn restrict(_path: &Path, _mode: u32) -> Result<()> {
    Ok(())
}

impl SecureStorage for FileStorage {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let path = self.path(key)?;
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error("reading", &path, &e)),
        }
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        let path = self.path(key)?;
        let temporary = self.dir.join(format!(".{key}.tmp"));
        let mut file = fs::File::create(&temporary).map_err(|e| io_error("creating", &temporary, &e))?;
        restrict(&temporary, 0o600)?;
        file.write_all(value).and_then(|()| file.sync_all()).map_err(|e| io_error("writing", &temporary, &e))?;
        fs::rename(&temporary, &path).map_err(|e| io_error("replacing", &path, &e))
    }

    fn delete(&self, key: &str) -> Result<()> {
        let path = self.path(key)?;
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_error("deleting", &path, &e)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn file_storage_survives_reopening_and_refuses_path_tricks() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStorage::open(dir.path().join("keys")).unwrap();
        store.set("device-key", b"secret").unwrap();
        store.set("device-key", b"newer").unwrap();
        let reopened = FileStorage::open(dir.path().join("keys")).unwrap();
        assert_eq!(reopened.get("device-key").unwrap().as_deref(), Some(&b"newer"[..]));
        assert_eq!(reopened.get("missing").unwrap(), None);
        reopened.delete("device-key").unwrap();
        reopened.delete("device-key").unwrap();
        assert_eq!(reopened.get("device-key").unwrap(), None);
        for bad in ["../escape", "", ".hidden", "a/b"] {
            assert!(matches!(store.set(bad, b"x"), Err(Error::Storage(_))), "{bad}");
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            store.set("k", b"v").unwrap();
            let mode = fs::metadata(dir.path().join("keys").join("k")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
