//! Pseudonymisation as a use case: key files on disk and the database's record of which key
//! it uses, so every command that takes raw customer ids maps them the same way or refuses.
//! The keyed hash itself is `crate::privacy`.

use super::{AppError, Env, Result};
use crate::privacy::Key;
use crate::store::{PseudonymizeStart, Store, PSEUDONYMIZE_FINGERPRINT, PSEUDONYMIZE_KEY_FILE};
use std::borrow::Cow;
use std::path::Path;

/// How the raw ids a command was given become the ids the database stores.
#[derive(Debug, Clone)]
pub struct UnitIds {
    key: Option<Key>,
}

impl UnitIds {
    /// Raw ids are stored as given: a database that does not pseudonymise.
    pub fn raw() -> UnitIds {
        UnitIds { key: None }
    }

    pub fn pseudonymized(key: Key) -> UnitIds {
        UnitIds { key: Some(key) }
    }

    pub fn is_pseudonymized(&self) -> bool {
        self.key.is_some()
    }

    pub fn key(&self) -> Option<&Key> {
        self.key.as_ref()
    }

    /// The id the database holds for the raw id `raw`.
    pub fn stored<'a>(&self, raw: &'a str) -> Cow<'a, str> {
        match &self.key {
            Some(key) => Cow::Owned(key.unit_id(raw)),
            None => Cow::Borrowed(raw),
        }
    }
}

/// Reads a key file, naming the file in every error. A key readable by other users of a
/// shared host is refused: anyone who can read it can test guessed ids.
pub fn read_key_file(path: &Path) -> Result<Key> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| AppError::Invalid(format!("cannot read key file {}: {e}", path.display())))?;
    refuse_shared_key(path)?;
    Key::parse(&text).map_err(|e| AppError::Invalid(format!("key file {}: {e}", path.display())))
}

#[cfg(unix)]
fn refuse_shared_key(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(AppError::Invalid(format!(
            "key file {} can be read by other users (mode {mode:04o}); run `chmod 600 {}`",
            path.display(),
            path.display()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn refuse_shared_key(_path: &Path) -> Result<()> {
    Ok(())
}

/// The ids a command that takes raw ids (`ingest`, `assign`, `import`, `forget`) must use.
///
/// `key_file` is the `--pseudonymize` flag; without it the key file the database names is
/// used. A database that pseudonymises refuses to run without its key, and refuses a key with
/// another fingerprint, so raw ids never land beside hashed ones. The first key given to a
/// database that holds no ids yet makes it a pseudonymising database from then on.
pub fn unit_ids(store: &mut Store, key_file: Option<&Path>, env: &Env) -> Result<UnitIds> {
    let recorded = store.setting(PSEUDONYMIZE_FINGERPRINT)?;
    let named = store.setting(PSEUDONYMIZE_KEY_FILE)?;
    let path = key_file
        .map(Path::to_path_buf)
        .or_else(|| named.map(Into::into));
    match (recorded, path) {
        (None, None) => Ok(UnitIds::raw()),
        (Some(fingerprint), None) => Err(AppError::Invalid(format!(
            "this database pseudonymises unit ids (key fingerprint {fingerprint}); give its \
             key with --pseudonymize KEYFILE"
        ))),
        (Some(fingerprint), Some(path)) => {
            let key = read_key_file(&path)?;
            if key.fingerprint() != fingerprint {
                return Err(AppError::Invalid(format!(
                    "key file {} has fingerprint {}, but this database pseudonymises with key \
                     {fingerprint}; ids hashed with another key would not match its customers",
                    path.display(),
                    key.fingerprint()
                )));
            }
            Ok(UnitIds::pseudonymized(key))
        }
        (None, Some(path)) => {
            let key = read_key_file(&path)?;
            let absolute = std::fs::canonicalize(&path).unwrap_or(path.clone());
            let ts = env.clock.now();
            match store.start_pseudonymizing(
                &key.fingerprint(),
                absolute.to_str(),
                ts,
                &env.actor,
            )? {
                PseudonymizeStart::Started => Ok(UnitIds::pseudonymized(key)),
                PseudonymizeStart::HoldsRawIds(n) => Err(AppError::Invalid(format!(
                    "this database already holds {n} assigned units under raw ids; \
                     pseudonymising now would store hashed ids beside them. Start a new \
                     database with --pseudonymize"
                ))),
            }
        }
    }
}
