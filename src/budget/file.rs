//! Sharing the state between processes: one state file per access key and window, read,
//! changed and replaced under an advisory lock.
//!
//! The lock is taken on a separate `.lock` file that is never replaced, so the state itself
//! can be replaced atomically (written to `.tmp`, then renamed): a process that dies
//! mid-write leaves the previous state intact, and the OS drops its lock with it. The lock
//! is held only for one read-modify-write.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::state::{Limits, State};

/// Names the format, so a file of another program is recognised as foreign.
const FORMAT: &str = "wks-waiter rate budget";
const VERSION: u32 = 1;
/// The largest state file read: ten thousand sends take about 200 KB.
const MAX_FILE_BYTES: u64 = 4 << 20;
/// Mixed into the hash of the access key, so that the file name is not a plain SHA-256 of
/// it that a lookup table could reverse.
const KEY_DOMAIN: &[u8] = b"wks-waiter rate budget key\n";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    format: String,
    version: u32,
    window_ns: u64,
    state: State,
}

/// The state file of one access key and window, with its lock.
#[derive(Debug)]
pub(crate) struct SharedFile {
    lock: File,
    path: PathBuf,
    tmp: PathBuf,
}

/// What reading the state file found.
enum Found {
    Missing,
    Valid(State),
    Invalid(String),
}

impl SharedFile {
    /// Opens (creating as needed) the lock file of `key`'s budget in `dir`.
    ///
    /// `private` directories (the defaults) are created `0700` and refused when another
    /// user could read or replace them; a directory the user named is taken as it is.
    pub(crate) fn open(
        dir: &Path,
        private: bool,
        key: &str,
        limits: &Limits,
    ) -> Result<Self, String> {
        prepare_dir(dir, private)?;
        let stem = file_stem(key, limits.window_ns);
        let path = dir.join(format!("{stem}.json"));
        let lock_path = dir.join(format!("{stem}.lock"));
        let lock = private_file_options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(|e| format!("cannot open {}: {e}", lock_path.display()))?;
        // Fail now rather than at the first request if this file system cannot lock.
        self::lock(&lock)
            .and_then(|()| lock.unlock())
            .map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?;
        Ok(Self {
            lock,
            tmp: dir.join(format!("{stem}.json.tmp")),
            path,
        })
    }

    /// The state file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `change` on the shared state under the lock, and writes the state back if it
    /// changed. A state file that cannot be trusted is replaced, with a warning, by one
    /// that allows nothing for a window (it may have recorded a full window of sends made
    /// just now).
    ///
    /// On success `mirror` holds the state as written. On an I/O error it holds the state
    /// as read, before `change` — the caller falls back to it and applies `change` again.
    pub(crate) fn transact<R>(
        &mut self,
        now: u64,
        limits: &Limits,
        mirror: &mut State,
        change: &mut dyn FnMut(&mut State) -> R,
    ) -> io::Result<R> {
        lock(&self.lock)?;
        let result = self.transact_locked(now, limits, mirror, change);
        let unlocked = self.lock.unlock();
        let value = result?;
        unlocked?;
        Ok(value)
    }

    fn transact_locked<R>(
        &mut self,
        now: u64,
        limits: &Limits,
        mirror: &mut State,
        change: &mut dyn FnMut(&mut State) -> R,
    ) -> io::Result<R> {
        let (read, replace) = match self.read(limits) {
            // Deleted since this budget last saw it (or never written): continue from what
            // this budget last saw rather than forget the sends it counted.
            Found::Missing => (mirror.clone(), *mirror != State::default()),
            Found::Valid(state) => (state, false),
            Found::Invalid(reason) => {
                log::warn!(
                    "rate budget: replacing {}: {reason}; no request for {:?}, as it may have counted a full window",
                    self.path.display(),
                    std::time::Duration::from_nanos(limits.hold_ns()),
                );
                (State::blackout(now, limits), true)
            }
        };
        let mut state = read.clone();
        *mirror = read;
        let value = change(&mut state);
        if replace || state != *mirror {
            self.write(limits, &state)?;
        }
        *mirror = state;
        Ok(value)
    }

    fn read(&self, limits: &Limits) -> Found {
        let file = match File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Found::Missing,
            Err(e) => return Found::Invalid(format!("unreadable: {e}")),
        };
        let mut bytes = Vec::new();
        if let Err(e) = file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes) {
            return Found::Invalid(format!("unreadable: {e}"));
        }
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Found::Invalid(format!("larger than {MAX_FILE_BYTES} bytes"));
        }
        let stored: Stored = match serde_json::from_slice(&bytes) {
            Ok(stored) => stored,
            Err(e) => return Found::Invalid(format!("not a budget state ({e})")),
        };
        if stored.format != FORMAT || stored.version != VERSION {
            return Found::Invalid(format!(
                "foreign format {:?} version {}",
                stored.format, stored.version
            ));
        }
        if stored.window_ns != limits.window_ns {
            return Found::Invalid(format!(
                "kept for a window of {} ns, not {} ns",
                stored.window_ns, limits.window_ns
            ));
        }
        match stored.state.defect() {
            Some(defect) => Found::Invalid(defect),
            None => Found::Valid(stored.state),
        }
    }

    fn write(&self, limits: &Limits, state: &State) -> io::Result<()> {
        let stored = Stored {
            format: FORMAT.to_owned(),
            version: VERSION,
            window_ns: limits.window_ns,
            state: state.clone(),
        };
        let bytes = serde_json::to_vec(&stored).map_err(io::Error::other)?;
        let mut tmp = private_file_options()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&self.tmp)?;
        tmp.write_all(&bytes)?;
        drop(tmp);
        fs::rename(&self.tmp, &self.path)
    }
}

/// Takes the exclusive lock, again if a signal interrupted the wait (`flock` is not
/// restarted under every signal disposition).
fn lock(file: &File) -> io::Result<()> {
    loop {
        match file.lock() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// `budget-<hash of the key>-<window>`: the access key never appears in clear, and budgets
/// of different windows keep separate logs (each prunes by its own window).
fn file_stem(key: &str, window_ns: u64) -> String {
    let digest = Sha256::new()
        .chain_update(KEY_DOMAIN)
        .chain_update(key.as_bytes())
        .finalize();
    let mut stem = String::from("budget-");
    for byte in &digest[..16] {
        let _ = write!(stem, "{byte:02x}");
    }
    if window_ns.is_multiple_of(1_000_000_000) {
        let _ = write!(stem, "-{}s", window_ns / 1_000_000_000);
    } else {
        let _ = write!(stem, "-{window_ns}ns");
    }
    stem
}

/// The default directory: `$XDG_RUNTIME_DIR/wks-waiter` (private to the user by the XDG
/// specification), else `wks-waiter-<user>` under the temporary directory.
pub(crate) fn default_dir(xdg_runtime_dir: Option<OsString>, temp_dir: &Path) -> PathBuf {
    match xdg_runtime_dir.map(PathBuf::from) {
        // The specification says to ignore a relative path.
        Some(runtime) if runtime.is_absolute() => runtime.join("wks-waiter"),
        _ => temp_dir.join(format!("wks-waiter-{}", user_tag())),
    }
}

/// Tells users apart in a shared temporary directory, so that one user's directory does
/// not lock another out. macOS and Windows give each user their own temporary directory;
/// Linux has `/proc/self` to read the user ID from.
fn user_tag() -> String {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let Ok(meta) = fs::metadata("/proc/self") {
            return meta.uid().to_string();
        }
    }
    let name = ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|var| std::env::var(var).ok())
        .unwrap_or_default();
    let name: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(64)
        .collect();
    if name.is_empty() || name.chars().all(|c| c == '.') {
        "user".to_owned()
    } else {
        name
    }
}

/// Creates `dir` (mode 0700) if missing and checks it is a usable directory.
fn prepare_dir(dir: &Path, private: bool) -> Result<(), String> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    // A private directory must be ours: not a link someone else planted, not open to
    // others. With mode 0700, being able to open files inside it proves ownership.
    let meta = if private {
        fs::symlink_metadata(dir)
    } else {
        fs::metadata(dir)
    }
    .map_err(|e| format!("cannot inspect {}: {e}", dir.display()))?;
    if !meta.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(format!(
                "{} is open to other users (mode {mode:o}, expected 700)",
                dir.display()
            ));
        }
    }
    Ok(())
}

fn private_file_options() -> OpenOptions {
    #[allow(unused_mut)] // Only Unix has modes to set.
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_name_hides_the_key_and_names_the_window() {
        let stem = file_stem("AKIDEXAMPLE1234", 60_000_000_000);
        assert!(
            stem.starts_with("budget-") && stem.ends_with("-60s"),
            "{stem}"
        );
        assert!(!stem.to_lowercase().contains("akidexample"), "{stem}");
        assert_eq!(stem.len(), "budget-".len() + 32 + "-60s".len());
        assert_ne!(stem, file_stem("AKIDEXAMPLE1235", 60_000_000_000));
        assert!(file_stem("AK", 1_500_000_000).ends_with("-1500000000ns"));
    }

    #[test]
    fn the_runtime_dir_is_preferred_when_absolute() {
        let temp = Path::new("/tmp");
        assert_eq!(
            default_dir(Some("/run/user/1000".into()), temp),
            Path::new("/run/user/1000/wks-waiter")
        );
        for unusable in [None, Some(OsString::from("relative/dir")), Some("".into())] {
            let dir = default_dir(unusable, temp);
            assert!(dir.starts_with(temp), "{}", dir.display());
            let name = dir.file_name().unwrap().to_str().unwrap();
            assert!(name.starts_with("wks-waiter-") && name.len() > 11, "{name}");
        }
    }
}
