//! Pseudonymisation as a use case: key files on disk and the database's record of which key
//! it uses, so every command that takes raw customer ids maps them the same way or refuses.
//! The keyed hash itself is `crate::privacy`. Identifying context fields (an email in a
//! context) are rules kept in the database's settings and carried by the same `UnitIds`, so
//! one mapper turns a line's raw values into stored ones before anything reaches the store.

use super::{AppError, Env, Result};
use crate::lines::IngestRecord;
use crate::privacy::{Key, KEY_BYTES};
use crate::store::{PseudonymizeStart, Store, PSEUDONYMIZE_FINGERPRINT, PSEUDONYMIZE_KEY_FILE};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

/// What a rejected line's raw text becomes when the database keeps ids out: the line could
/// not be read, so nothing in it can be mapped, and its text may hold a customer id.
pub const WITHHELD_LINE: &str =
    "(raw line withheld: this database pseudonymises ids or drops context fields, and the line \
     could not be read to map them)";

/// What happens to an identifying context field before a context is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContextRule {
    /// The value becomes `key.context_value(field, value)`: still joinable, not readable.
    Hash,
    /// The field is removed.
    Drop,
}

impl ContextRule {
    pub fn name(self) -> &'static str {
        match self {
            ContextRule::Hash => "hash",
            ContextRule::Drop => "drop",
        }
    }

    pub fn parse(s: &str) -> Option<ContextRule> {
        match s {
            "hash" => Some(ContextRule::Hash),
            "drop" => Some(ContextRule::Drop),
            _ => None,
        }
    }
}

/// How the raw ids a command was given become the ids the database stores.
#[derive(Debug, Clone)]
pub struct UnitIds {
    key: Option<Key>,
    /// Identifying context fields, by name.
    context: BTreeMap<String, ContextRule>,
}

impl UnitIds {
    /// Raw ids are stored as given: a database that does not pseudonymise.
    pub fn raw() -> UnitIds {
        UnitIds {
            key: None,
            context: BTreeMap::new(),
        }
    }

    pub fn pseudonymized(key: Key) -> UnitIds {
        UnitIds {
            key: Some(key),
            context: BTreeMap::new(),
        }
    }

    /// The same mapping with these identifying context fields.
    pub fn with_context_rules(mut self, rules: BTreeMap<String, ContextRule>) -> UnitIds {
        self.context = rules;
        self
    }

    pub fn context_rules(&self) -> &BTreeMap<String, ContextRule> {
        &self.context
    }

    /// Whether a raw input line may hold something this mapping keeps out of the database
    /// (so a rejected line's raw text must not be stored as it came).
    pub fn redacts(&self) -> bool {
        self.key.is_some() || !self.context.is_empty()
    }

    /// Applies the context rules to a context object; true when it changed.
    pub fn map_context(&self, context: &mut Map<String, Value>) -> bool {
        let mut changed = false;
        for (field, rule) in &self.context {
            if !context.contains_key(field) {
                continue;
            }
            changed = true;
            match (rule, &self.key) {
                (ContextRule::Hash, Some(key)) => {
                    if let Some(value) = context.get_mut(field) {
                        let raw = match &*value {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        *value = Value::String(key.context_value(field, &raw));
                    }
                }
                // `hash` without a key is refused when the rule is set and when ids are
                // mapped (`unit_ids`); dropping is the safe reading if one slips through.
                (ContextRule::Hash, None) | (ContextRule::Drop, _) => {
                    context.remove(field);
                }
            }
        }
        changed
    }

    /// A parsed line with its unit id and context as the database stores them.
    pub fn map_record(&self, record: IngestRecord) -> IngestRecord {
        if !self.redacts() {
            return record;
        }
        match record {
            IngestRecord::Assignment(mut a) => {
                a.unit = self.stored(&a.unit).into_owned();
                if !self.context.is_empty() {
                    if let Ok(Value::Object(mut m)) = serde_json::from_str::<Value>(&a.context) {
                        if self.map_context(&mut m) {
                            // The covariate is re-read: a dropped `pre_value` is no covariate.
                            a.pre_value = crate::lines::check_context(&m).ok().flatten();
                            a.context = Value::Object(m).to_string();
                        }
                    }
                }
                IngestRecord::Assignment(a)
            }
            IngestRecord::Event(mut e) => {
                e.unit = self.stored(&e.unit).into_owned();
                IngestRecord::Event(e)
            }
            other => other,
        }
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
    let rules = context_rules(store)?;
    let ids = unit_ids_for_key(store, recorded, path, env)?;
    if ids.key.is_none() {
        if let Some((field, _)) = rules.iter().find(|(_, r)| **r == ContextRule::Hash) {
            return Err(AppError::Invalid(format!(
                "context field `{field}` is marked `hash`, which needs the key; give it with \
                 --pseudonymize KEYFILE, or mark the field `drop`"
            )));
        }
    }
    Ok(ids.with_context_rules(rules))
}

fn unit_ids_for_key(
    store: &mut Store,
    recorded: Option<String>,
    path: Option<std::path::PathBuf>,
    env: &Env,
) -> Result<UnitIds> {
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

/// The identifying context fields the database names; an unknown rule text is refused by name
/// rather than read as `keep`.
pub fn context_rules(store: &Store) -> Result<BTreeMap<String, ContextRule>> {
    store
        .context_rules()?
        .into_iter()
        .map(|(field, rule)| match ContextRule::parse(&rule) {
            Some(r) => Ok((field, r)),
            None => Err(AppError::Invalid(format!(
                "setting for context field `{field}` is `{rule}`, not hash or drop; set it \
                 again with `liftdeck privacy context {field} hash|drop|keep`"
            ))),
        })
        .collect()
}

/// Marks a context field identifying (`Some(rule)`) or not (`None`, keep), audited. `hash`
/// needs the key: the database must pseudonymise (or start to, with `key_file`). Returns how
/// many assignments were stored before, whose contexts the rule does not rewrite.
pub fn set_context_rule(
    store: &mut Store,
    env: &Env,
    field: &str,
    rule: Option<ContextRule>,
    key_file: Option<&Path>,
) -> Result<i64> {
    if field.is_empty() || field.len() > 128 || field.chars().any(char::is_control) {
        return Err(AppError::Invalid(format!(
            "context field `{}` must be 1 to 128 characters without control characters",
            crate::text::escape_control(field)
        )));
    }
    if field == "pre_value" && rule == Some(ContextRule::Hash) {
        return Err(AppError::Invalid(
            "`pre_value` is the CUPED covariate and must stay a number; mark it `drop` instead"
                .into(),
        ));
    }
    if rule == Some(ContextRule::Hash) {
        let recorded = store.setting(PSEUDONYMIZE_FINGERPRINT)?;
        let named = store.setting(PSEUDONYMIZE_KEY_FILE)?;
        let path = key_file
            .map(Path::to_path_buf)
            .or_else(|| named.map(Into::into));
        if recorded.is_none() && path.is_none() {
            return Err(AppError::Invalid(format!(
                "marking `{field}` hash needs a pseudonymisation key: give --pseudonymize \
                 KEYFILE (create one with `liftdeck keygen KEYFILE`), or mark it drop"
            )));
        }
        // Checks the key against the database (and records first use) before the rule lands.
        unit_ids_for_key(store, recorded, path, env)?;
    }
    let before = store.assignment_count()?;
    store.set_context_rule(
        field,
        rule.map(ContextRule::name),
        env.clock.now(),
        &env.actor,
    )?;
    Ok(before)
}

/// What `privacy status` shows.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PrivacyStatus {
    pub pseudonymizing: bool,
    pub fingerprint: Option<String>,
    pub key_file: Option<String>,
    /// Field name -> `hash` or `drop`.
    pub context: BTreeMap<String, String>,
}

pub fn status(store: &Store) -> Result<PrivacyStatus> {
    let fingerprint = store.setting(PSEUDONYMIZE_FINGERPRINT)?;
    Ok(PrivacyStatus {
        pseudonymizing: fingerprint.is_some(),
        fingerprint,
        key_file: store.setting(PSEUDONYMIZE_KEY_FILE)?,
        context: store.context_rules()?.into_iter().collect(),
    })
}

/// Writes a new key to `path`: 32 bytes from the thread CSPRNG (ChaCha seeded by the OS),
/// created new (an existing file is never overwritten: ids hashed with the old key would stop
/// matching) and private to its owner from the first byte. Returns the key's fingerprint.
pub fn create_key_file(path: &Path) -> std::io::Result<String> {
    use std::io::Write;
    let mut bytes = [0u8; KEY_BYTES];
    rand::fill(&mut bytes[..]);
    let key = Key::from_bytes(bytes);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(key.to_file_text().as_bytes())?;
    file.sync_all()?;
    Ok(key.fingerprint())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lines::AssignmentLine;

    fn line(context: &str) -> IngestRecord {
        IngestRecord::Assignment(AssignmentLine {
            campaign: "c".into(),
            unit: "u-42".into(),
            arm: "a".into(),
            propensity: Some(0.5),
            context: context.into(),
            pre_value: Some(2.0),
            ts: 0,
        })
    }

    #[test]
    fn rules_hash_drop_and_leave_other_fields_alone() {
        let key = Key::from_bytes([7; KEY_BYTES]);
        let rules = BTreeMap::from([
            ("email".to_string(), ContextRule::Hash),
            ("pre_value".to_string(), ContextRule::Drop),
        ]);
        let ids = UnitIds::pseudonymized(key.clone()).with_context_rules(rules);
        let IngestRecord::Assignment(a) =
            ids.map_record(line(r#"{"email":"a@b.c","device":"m","pre_value":2.0}"#))
        else {
            panic!("an assignment stays one");
        };
        assert_eq!(
            a.unit, "p1-gjzuor6ihbz4viexrhkzw6ngxi",
            "the unit test vector"
        );
        let m: Map<String, Value> = serde_json::from_str(&a.context).expect("object");
        assert_eq!(m["email"], key.context_value("email", "a@b.c"));
        assert_eq!(m["device"], "m");
        assert!(!m.contains_key("pre_value"));
        assert_eq!(a.pre_value, None, "a dropped covariate is no covariate");
        // Untouched contexts keep their own text.
        let IngestRecord::Assignment(b) = ids.map_record(line(r#"{"device":"m"}"#)) else {
            panic!("assignment");
        };
        assert_eq!(b.context, r#"{"device":"m"}"#);
        assert_eq!(b.pre_value, Some(2.0));
    }

    #[test]
    fn hash_without_a_key_drops_rather_than_stores_the_value() {
        let rules = BTreeMap::from([("email".to_string(), ContextRule::Hash)]);
        let ids = UnitIds::raw().with_context_rules(rules);
        let mut m = serde_json::from_str(r#"{"email":"a@b.c"}"#).expect("object");
        assert!(ids.map_context(&mut m));
        assert!(m.is_empty());
        assert!(ids.redacts());
        assert!(!UnitIds::raw().redacts());
    }
}
