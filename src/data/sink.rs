//! Publishing an output set as a whole (and replacing a single file atomically, [`replace_file`]). A run writes its files into a staging directory beside `--out`
//! and publishes them with one atomic rename, so a reader of `DIR/labels.parquet`, `DIR/model.json`, …
//! sees the complete previous set or the complete new one at every instant, whatever kills the run.
//!
//! Layout, for `--out reports/segments`:
//! ```text
//! reports/segments                  symlink → .segments.strata/set-<time>-<random>
//! reports/.segments.strata/lock     advisory lock: one writer at a time; holds the writer's pid
//! reports/.segments.strata/set-…    published sets: the current one and the one it replaced
//! reports/.segments.strata/tmp-…    a run's staging (removed on failure; a killed run's by the next run)
//! ```
//! Why a symlink rather than exchanging whole directories: `rename(2)` of a link over a link is atomic on
//! every POSIX system and filesystem, while `renameat2(RENAME_EXCHANGE)` is Linux-only and missing on some
//! filesystems (NFS). A reader that resolves `DIR` once (`realpath`) also keeps a consistent set while the
//! next one is published, since the replaced set stays until the publish after. A plain directory left by
//! an earlier strata is taken over once, by `RENAME_EXCHANGE` where the system has it.
//!
//! A second run on the same `DIR` fails at once (exit 4) rather than waiting: a nightly job that overlaps
//! the previous night's should be noticed, not queued silently.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use crate::error::{Error, Result};

/// Files strata writes into an output directory. A plain directory holding nothing else (the output of a
/// strata from before sets were published by link) is taken over; a directory with other files is refused.
const KNOWN_FILES: &[&str] = &[
    "labels.parquet",
    "segments.parquet",
    "profiles.parquet",
    "model.json",
    "summary.json",
    "transitions.parquet",
    "migration.parquet",
    "drift.parquet",
    "sweep.parquet",
    "sweep.json",
    "explain.json",
    "dendrogram.json",
    "report.html",
];

/// Publishes a copy of the output set at `from` (a directory strata wrote) as `to`, as any run publishes:
/// `to` keeps its previous set until every file is copied and synced. Files strata did not write are not
/// copied.
pub fn publish_copy(from: &Path, to: &Path) -> Result<Vec<PathBuf>> {
    let mut set = OutputSet::create(to, &[from.to_path_buf()])?;
    let entries = fs::read_dir(from).map_err(|e| {
        Error::input(format!("cannot list the output set {}", from.display())).with_source(e)
    })?;
    for entry in entries {
        let entry = entry
            .map_err(|e| Error::input(format!("cannot list {}", from.display())).with_source(e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !KNOWN_FILES.contains(&name.as_str()) {
            continue;
        }
        let dest = set.path(&name);
        let copied = fs::copy(entry.path(), &dest).and_then(|_| File::open(&dest)?.sync_all());
        copied.map_err(|e| set.explain(Error::output(&dest, e)))?;
    }
    set.commit()
}

#[derive(Debug)]
enum Undo {
    /// A file or directory tree.
    Remove(PathBuf),
    /// A directory the run created, removed only if still empty.
    EmptyDir(PathBuf),
}

impl Undo {
    fn run(&self) {
        match self {
            Undo::Remove(p) => {
                // A writer thread may still be adding files while a signal handler removes the tree.
                for _ in 0..3 {
                    let r = match fs::symlink_metadata(p) {
                        Ok(m) if m.is_dir() => fs::remove_dir_all(p),
                        Ok(_) => fs::remove_file(p),
                        Err(_) => return,
                    };
                    if r.is_ok() {
                        return;
                    }
                }
            }
            Undo::EmptyDir(p) => {
                let _ = fs::remove_dir(p);
            }
        }
    }
}

/// Undo steps of every run in progress in this process: run by the owner when it fails and by
/// [`abandon_all`] when a signal ends the process.
static PENDING: Mutex<Vec<(u64, Vec<Undo>)>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

fn pending() -> MutexGuard<'static, Vec<(u64, Vec<Undo>)>> {
    PENDING.lock().unwrap_or_else(|e| e.into_inner())
}

/// A registered list of undo steps, run in reverse order when dropped unless [`Pending::clear`]ed.
pub(crate) struct Pending(u64);

impl Pending {
    pub(crate) fn new() -> Pending {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        pending().push((id, Vec::new()));
        Pending(id)
    }

    fn with<R>(&self, list: &mut [(u64, Vec<Undo>)], f: impl FnOnce(&mut Vec<Undo>) -> R) -> R {
        let entry = list.iter_mut().find(|(id, _)| *id == self.0);
        f(&mut entry.expect("registered").1)
    }

    fn push(&self, u: Undo) {
        self.with(&mut pending(), |steps| steps.push(u));
    }

    /// Registers a temporary file or directory to remove if the run ends early.
    pub(crate) fn remove_on_failure(&self, path: PathBuf) {
        self.push(Undo::Remove(path));
    }

    /// The run completed: nothing to undo.
    pub(crate) fn clear(&self) {
        self.with(&mut pending(), Vec::clear);
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let mut list = pending();
        if let Some(i) = list.iter().position(|(id, _)| *id == self.0) {
            let (_, steps) = list.remove(i);
            steps.iter().rev().for_each(Undo::run);
        }
    }
}

/// Output directories this process has published a new set to (under the [`pending`] lock).
static PUBLISHED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// What [`abandon_all`] found.
#[derive(Debug, Default)]
pub struct Abandoned {
    /// Some run's staging was removed: its `--out` keeps the previous set.
    pub runs: bool,
    /// Directories that had already received their new set before the signal took effect.
    pub published: Vec<PathBuf>,
}

impl Abandoned {
    /// What the user is told about the outputs' state, appended to "interrupted by SIGTERM".
    pub fn describe(&self) -> String {
        if self.runs {
            "; nothing was published, `out` is as it was".into()
        } else if !self.published.is_empty() {
            let dirs: Vec<String> = self
                .published
                .iter()
                .map(|d| d.display().to_string())
                .collect();
            format!(
                "; the signal came after the outputs were published: {} holds the new set, complete",
                dirs.join(", ")
            )
        } else {
            String::new()
        }
    }
}

/// Removes the staging of every run in progress and blocks all further publishing, for a process about to
/// exit on a signal. A publish already under way completes first (it holds the same lock), so `--out`
/// holds the previous set or the new one, never a mix; the result says which.
pub fn abandon_all() -> Abandoned {
    let mut list = pending();
    let runs = list.iter().any(|(_, steps)| !steps.is_empty());
    for (_, steps) in list.iter_mut() {
        steps.iter().rev().for_each(Undo::run);
        steps.clear();
    }
    let published = PUBLISHED.lock().map(|p| p.clone()).unwrap_or_default();
    // Never released: the process exits.
    std::mem::forget(list);
    Abandoned { runs, published }
}

/// The hidden directory beside `dir` that holds its sets, staging and lock.
fn store_of(dir: &Path) -> Result<(PathBuf, String)> {
    let name = match dir.components().next_back() {
        Some(Component::Normal(n)) => n.to_string_lossy().into_owned(),
        _ => {
            return Err(Error::usage(format!(
                "`out` {} must name a directory to create or replace (not '.', '..' or '/')",
                dir.display()
            )));
        }
    };
    let parent = parent_of(dir);
    Ok((parent.join(format!(".{name}.strata")), name))
}

fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// `path` made absolute with symlinks resolved as far as it exists (the rest appended as given).
fn resolve(path: &Path) -> PathBuf {
    let mut rest = Vec::new();
    let mut p = path.to_path_buf();
    loop {
        if let Ok(c) = fs::canonicalize(&p) {
            return rest
                .iter()
                .rev()
                .fold(c, |acc, r: &std::ffi::OsString| acc.join(r));
        }
        match (p.file_name(), p.parent()) {
            (Some(n), Some(parent)) => {
                rest.push(n.to_os_string());
                p = if parent.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    parent.to_path_buf()
                };
            }
            _ => return path.to_path_buf(),
        }
    }
}

/// Refuses an output directory that is, contains or lies inside one of the `inputs` (or inside the sets
/// strata keeps for it): publishing would replace or delete the data being read.
fn check_not_input(out: &Path, inputs: &[PathBuf]) -> Result<()> {
    let (store, _) = store_of(out)?;
    let (out_r, store_r) = (resolve(out), resolve(&store));
    for input in inputs {
        let i = resolve(input);
        if i.starts_with(&out_r) || out_r.starts_with(&i) || i.starts_with(&store_r) {
            return Err(Error::output(
                out,
                format!(
                    "it overlaps the input {}: writing there would replace or delete the data being read; choose an `out` outside every input",
                    input.display()
                ),
            ));
        }
    }
    Ok(())
}

/// `dir` (the `--out`) cannot be written because of `e`.
fn unwritable(dir: &Path, e: std::io::Error) -> Error {
    Error::output(dir, format!("{e}; choose a writable `out` directory"))
}

/// Removes the entries of the store whose names `old` picks (leftovers, replaced sets).
fn remove_entries(store: &Path, old: impl Fn(&str) -> bool) {
    for e in fs::read_dir(store).into_iter().flatten().flatten() {
        if old(&e.file_name().to_string_lossy()) {
            Undo::Remove(e.path()).run();
        }
    }
}

/// Creates `dir` and its missing ancestors, returning those it created (outermost first).
fn create_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut missing: Vec<&Path> = dir
        .ancestors()
        .take_while(|a| !a.as_os_str().is_empty() && !a.exists())
        .collect();
    missing.reverse();
    let mut created = Vec::new();
    for d in missing {
        match fs::create_dir(d) {
            Ok(()) => created.push(d.to_path_buf()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                created.iter().rev().for_each(|c: &PathBuf| {
                    let _ = fs::remove_dir(c);
                });
                return Err(unwritable(d, e));
            }
        }
    }
    Ok(created)
}

/// Takes the store's advisory lock, which the operating system releases when the process ends, however it
/// ends. Fails at once if another run holds it.
fn lock(store: &Path, dir: &Path) -> Result<File> {
    let path = store.join("lock");
    loop {
        fs::create_dir_all(store).map_err(|e| unwritable(dir, e))?;
        let mut f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::output(&path, e))?;
        match f.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                let holder = fs::read_to_string(&path).unwrap_or_default();
                let holder = holder.trim();
                let who = if holder.is_empty() {
                    String::new()
                } else {
                    format!(" (pid {holder})")
                };
                return Err(Error::output(
                    dir,
                    format!(
                        "another strata run{who} is writing it; wait for that run to end, or choose another `out`"
                    ),
                ));
            }
            Err(fs::TryLockError::Error(e)) => return Err(Error::output(&path, e)),
        }
        // A failed first run removes the store it made; if that happened between our open and our lock,
        // the file we locked is gone and the next run would lock a new one: start over.
        if same_file(&f, &path) {
            f.set_len(0)
                .and_then(|_| writeln!(f, "{}", std::process::id()))
                .map_err(|e| Error::output(&path, e))?;
            return Ok(f);
        }
    }
}

#[cfg(unix)]
fn same_file(f: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (f.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(_: &File, path: &Path) -> bool {
    path.exists()
}

/// Flushes a directory's entries (new names, renames) to disk.
fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::output(dir, e))?;
    let _ = dir;
    Ok(())
}

/// What `DIR` is now.
enum Current {
    Missing,
    /// strata's symlink to the published set.
    Link(PathBuf),
    /// A plain directory of strata outputs, replaced as a whole.
    PlainDir,
}

fn current(dir: &Path) -> Result<Current> {
    let meta = match fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Current::Missing),
        Err(e) => return Err(Error::output(dir, e)),
        Ok(m) => m,
    };
    if meta.file_type().is_symlink() {
        let target = fs::read_link(dir).map_err(|e| Error::output(dir, e))?;
        let (_, name) = store_of(dir)?;
        let mut parts = target.components();
        let ours = parts.next() == Some(Component::Normal(format!(".{name}.strata").as_ref()))
            && matches!(parts.next(), Some(Component::Normal(s)) if s.to_string_lossy().starts_with("set-"))
            && parts.next().is_none();
        if !ours {
            // Replacing the user's link would leave the folder it points to with stale outputs.
            return Err(Error::output(
                dir,
                format!(
                    "it is a symbolic link to {} that strata did not make; give that folder itself as `out`, or a new name",
                    target.display()
                ),
            ));
        }
        return Ok(Current::Link(target));
    }
    if !meta.is_dir() {
        return Err(Error::output(
            dir,
            "it exists and is not a directory; give a directory for `out`",
        ));
    }
    let entries = fs::read_dir(dir).map_err(|e| Error::output(dir, e))?;
    for e in entries {
        let e = e.map_err(|e| Error::output(dir, e))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let is_file = e.file_type().is_ok_and(|t| t.is_file());
        if KNOWN_FILES.contains(&name.as_str()) && !is_file {
            // strata writes plain files only: a directory (a Spark-style `labels.parquet/` of parts) or
            // a link of that name holds someone else's data.
            return Err(Error::output(
                dir,
                format!(
                    "it holds '{name}', which is not a file strata wrote (a directory or a link); strata replaces its `out` as a whole, so move that data or give a new directory"
                ),
            ));
        }
        if !KNOWN_FILES.contains(&name.as_str()) && !name.starts_with(".strata-tmp-") {
            return Err(Error::output(
                dir,
                format!(
                    "it is a directory holding '{name}', which strata did not write; strata replaces its `out` as a whole, so give a new directory or one strata made"
                ),
            ));
        }
    }
    Ok(Current::PlainDir)
}

fn stamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!(
        "{secs}-{}-{}",
        std::process::id(),
        NEXT_ID.fetch_add(1, Ordering::Relaxed)
    )
}

/// An output set being written; nothing is visible in `DIR` until [`OutputSet::commit`].
pub struct OutputSet {
    dir: PathBuf,
    store: PathBuf,
    store_name: String,
    staging: PathBuf,
    files: Vec<String>,
    pending: Pending,
    _lock: File,
}

impl OutputSet {
    /// Prepares to replace `dir` with the outputs of a run that reads `inputs`: refuses a `dir` that
    /// overlaps them, creates missing parents, takes the lock, removes leftovers of killed runs and makes a
    /// staging directory. Fails before any work if `dir` cannot be written or is busy.
    pub fn create(dir: &Path, inputs: &[PathBuf]) -> Result<OutputSet> {
        check_not_input(dir, inputs)?;
        // `out/` names the link `out` (a trailing slash would make rename(2) want a directory).
        let dir: &Path = &dir.components().collect::<PathBuf>();
        let (store, name) = store_of(dir)?;
        let pending = Pending::new();
        for d in create_dirs(&parent_of(dir))? {
            pending.push(Undo::EmptyDir(d));
        }
        let lock = lock(&store, dir)?;
        // Until a set is published, a failure removes the store again.
        let published = fs::read_dir(&store).is_ok_and(|mut es| {
            es.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("set-")))
        });
        if !published {
            pending.push(Undo::Remove(store.clone()));
        }
        current(dir)?;
        // What killed runs left: staging, a link not yet swapped in, a replaced plain directory (only a
        // lock holder writes here, and we hold it).
        remove_entries(&store, |n| {
            ["tmp-", "link-", "old-"].iter().any(|p| n.starts_with(p))
        });
        let staging = store.join(format!("tmp-{}", stamp()));
        fs::create_dir(&staging).map_err(|e| unwritable(dir, e))?;
        pending.push(Undo::Remove(staging.clone()));
        Ok(OutputSet {
            dir: dir.to_path_buf(),
            store_name: format!(".{name}.strata"),
            store,
            staging,
            files: Vec::new(),
            pending,
            _lock: lock,
        })
    }

    /// Path for staged file `name` (`DIR/name` once published).
    pub fn path(&mut self, name: &str) -> PathBuf {
        if !self.files.iter().any(|f| f == name) {
            self.files.push(name.to_string());
        }
        self.staging.join(name)
    }

    /// The staging directory: the set's files as they will be published.
    pub fn staged(&self) -> &Path {
        &self.staging
    }

    /// `e` with the staged paths in its message named as they will be published (`DIR/labels.parquet`
    /// rather than `.DIR.strata/tmp-…/labels.parquet`).
    pub fn explain(&self, e: Error) -> Error {
        e.replace_in_message(
            &self.staging.display().to_string(),
            &self.dir.display().to_string(),
        )
    }

    /// Writes `value` as pretty JSON to staged file `name`.
    pub fn write_json<T: serde::Serialize>(&mut self, name: &str, value: &T) -> Result<()> {
        let path = self.path(name);
        super::write::write_json(&path, value)
    }

    /// Publishes the set: `DIR` names it from now on. Returns the published paths (`DIR/name`).
    pub fn commit(self) -> Result<Vec<PathBuf>> {
        // Signals wait while the set is published: DIR ends up old or new, never without a set.
        let mut list = pending();
        let set_name = format!("set-{}", stamp());
        let set = self.store.join(&set_name);
        let before = current(&self.dir)?;
        sync_dir(&self.staging)?;
        fs::rename(&self.staging, &set).map_err(|e| Error::output(&set, e))?;
        self.pending
            .with(&mut list, |s| s.push(Undo::Remove(set.clone())));
        let link = self.store.join(format!("link-{set_name}"));
        symlink(&Path::new(&self.store_name).join(&set_name), &link)?;
        self.pending
            .with(&mut list, |s| s.push(Undo::Remove(link.clone())));
        match before {
            Current::PlainDir => take_over(&link, &self.dir)?,
            _ => fs::rename(&link, &self.dir).map_err(|e| Error::output(&self.dir, e))?,
        }
        sync_dir(&parent_of(&self.dir))?;
        self.pending.with(&mut list, Vec::clear);
        if let Ok(mut p) = PUBLISHED.lock() {
            p.push(self.dir.clone());
        }
        drop(list);
        // Keep the new set and the one it replaced (a reader may have resolved DIR just before).
        let keep_prev = match before {
            Current::Link(t) => t.file_name().map(|n| n.to_string_lossy().into_owned()),
            _ => None,
        };
        remove_entries(&self.store, |n| {
            let old_set = n.starts_with("set-") && n != set_name && Some(n) != keep_prev.as_deref();
            old_set || n.starts_with("old-")
        });
        Ok(self.files.iter().map(|f| self.dir.join(f)).collect())
    }
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> Result<()> {
    std::os::unix::fs::symlink(target, link).map_err(|e| Error::output(link, e))
}

#[cfg(windows)]
fn symlink(target: &Path, link: &Path) -> Result<()> {
    std::os::windows::fs::symlink_dir(target, link).map_err(|e| Error::output(link, e))
}

/// Replaces the plain directory `dir` (an earlier strata's output) by the symlink `link`: one atomic
/// exchange on Linux; elsewhere, or where the filesystem lacks it, two renames (`dir` briefly absent).
fn take_over(link: &Path, dir: &Path) -> Result<()> {
    let old = link.with_file_name(format!("old-{}", stamp()));
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        if renameat_with(CWD, link, CWD, dir, RenameFlags::EXCHANGE).is_ok() {
            // `link` now names the old directory.
            return fs::rename(link, &old).map_err(|e| Error::output(&old, e));
        }
    }
    fs::rename(dir, &old).map_err(|e| Error::output(dir, e))?;
    fs::rename(link, dir).map_err(|e| Error::output(dir, e))
}

/// Replaces the file `path` as a whole: `fill` writes a temporary file beside it (removed if the run fails
/// or is interrupted), which is then renamed over `path`. The file gets the mode of every other file
/// strata writes (0666 less the umask), not the temporary file's private 0600.
pub fn replace_file(path: &Path, fill: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut builder = tempfile::Builder::new();
    builder.prefix(".strata-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let tmp = builder
        .tempfile_in(dir)
        .map_err(|e| Error::output(dir, format!("{e}; choose a writable output path")))?;
    let pending = Pending::new();
    pending.remove_on_failure(tmp.path().to_path_buf());
    fill(tmp.path())?;
    tmp.persist(path)
        .map_err(|e| Error::output(path, e.error))?;
    pending.clear();
    Ok(())
}

/// Writes `bytes` to `path` atomically (see [`replace_file`]).
pub fn write_file_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    replace_file(path, |tmp| {
        std::fs::OpenOptions::new()
            .write(true)
            .open(tmp)
            .and_then(|mut f| f.write_all(bytes).and_then(|_| f.sync_all()))
            .map_err(|e| Error::output(path, e))
    })
}
