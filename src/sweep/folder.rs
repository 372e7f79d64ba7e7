//! A sweep folder that many processes on many hosts may fill at once (job arrays sharing
//! one `--out`), without deleting or duplicating each other's work.
//!
//! - **Who is writing**: every invocation has an [`Owner`] token (host, process id, a
//!   random part) that names its temporary files, so names never collide across hosts.
//! - **Claims**: before computing a run, an invocation creates `.claim-<run id>` with
//!   `O_EXCL` (atomic on local and NFS v3+ file systems); a run claimed by someone else is
//!   skipped. A claim is refreshed (its mtime touched) every [`HEARTBEAT`] by a background
//!   thread while its owner works, and is stale when its owner is known dead (same host,
//!   same boot, same PID namespace, process gone) or when it has not been refreshed for
//!   [`STALE_AFTER`] (an owner killed on another host). Stale claims and the temporary
//!   folders of dead owners are removed; nothing of a live owner ever is. Whoever removes
//!   a claim (a takeover, the cleanup, its owner giving it back) first locks the claim file
//!   (`flock`, which NFS clients map to a lock on the server) and checks it again under the
//!   lock: two invocations can never both judge one claim stale and then remove a live
//!   claim made in between.
//! - **A run folder appears complete or not at all**: it is written under
//!   `.tmp-<run id>-<token>`, every file synced, `status.toml` last, then renamed into place
//!   (a damaged folder it replaces is first renamed aside, so the window in which neither
//!   exists is one rename), and the parent folder synced.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime};

use crate::config::RunSpec;
use crate::output::summary::{self, RunStatus, CONFIG_FILE, STATUS_FILE};

/// How often a live owner refreshes its claims.
pub const HEARTBEAT: Duration = Duration::from_secs(10);
/// A claim not refreshed for this long belongs to a dead owner.
pub const STALE_AFTER: Duration = Duration::from_secs(90);

const CLAIM_PREFIX: &str = ".claim-";
const TMP_PREFIX: &str = ".tmp-";
/// Ends the name of the folder a commit moves aside: `.tmp-<run id>-<token>-old`.
const ASIDE_SUFFIX: &str = "-old";

/// This invocation, as its claims and temporary names identify it.
#[derive(Clone, Debug, PartialEq)]
pub struct Owner {
    /// `<host>_<pid>_<random>`: unique across hosts and time.
    pub token: String,
    pub host: String,
    /// The kernel's boot id: a process id means something only within one boot.
    pub boot: String,
    /// The PID namespace: processes in other namespaces (containers) are invisible here.
    pub pid_ns: String,
    pub pid: u32,
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path).map(|s| s.trim().to_string()).unwrap_or_default()
}

impl Owner {
    pub fn new() -> Owner {
        let host: String = read_trimmed("/proc/sys/kernel/hostname")
            .chars()
            .chain(std::env::var("HOSTNAME").unwrap_or_default().chars())
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .take(40)
            .collect();
        let host = if host.is_empty() { "host".to_string() } else { host };
        let pid = std::process::id();
        let random: u32 = rand::random();
        let pid_ns = std::fs::read_link("/proc/self/ns/pid").map(|p| p.display().to_string()).unwrap_or_default();
        Owner {
            token: format!("{host}_{pid}_{random:08x}"),
            host,
            boot: read_trimmed("/proc/sys/kernel/random/boot_id"),
            pid_ns,
            pid,
        }
    }

    fn to_toml(&self) -> String {
        let mut t = toml::Table::new();
        for (k, v) in [("token", &self.token), ("host", &self.host), ("boot", &self.boot), ("pid_ns", &self.pid_ns)] {
            t.insert(k.into(), toml::Value::String(v.clone()));
        }
        t.insert("pid".into(), toml::Value::Integer(self.pid as i64));
        toml::to_string(&t).expect("plain values")
    }

    fn from_toml(text: &str) -> Option<Owner> {
        let t: toml::Table = text.parse().ok()?;
        let s = |k: &str| t.get(k).and_then(|v| v.as_str()).map(String::from);
        Some(Owner {
            token: s("token")?,
            host: s("host")?,
            boot: s("boot")?,
            pid_ns: s("pid_ns")?,
            pid: t.get("pid")?.as_integer()? as u32,
        })
    }

    /// Whether `other` is known to be dead: on this very machine and PID namespace, and
    /// its process is gone.
    fn knows_dead(&self, other: &Owner) -> bool {
        let same_place = other.boot == self.boot && !self.boot.is_empty() && other.pid_ns == self.pid_ns;
        same_place && other.token != self.token && !Path::new("/proc").join(other.pid.to_string()).exists()
    }
}

impl Default for Owner {
    fn default() -> Self {
        Owner::new()
    }
}

fn age(path: &Path) -> Option<Duration> {
    let m = std::fs::metadata(path).ok()?.modified().ok()?;
    Some(SystemTime::now().duration_since(m).unwrap_or_default())
}

/// Remove the claim file at `path` if `remove(content)` says so, judged under an exclusive
/// lock on the file and only if the path still names the file that was locked (it was not
/// removed and claimed again meanwhile). `wait`: wait for the lock, else give up when
/// someone else holds it (another invocation taking the same claim over). Returns whether
/// the path is free of that claim now.
fn remove_claim_if(path: &Path, wait: bool, remove: impl FnOnce(&str) -> bool) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    // Opened for writing: NFS needs it for an exclusive lock. Append mode writes nothing.
    // Another user's claim (a folder shared by a group) may only be readable: locally a
    // lock needs no more.
    let open = |append| std::fs::OpenOptions::new().read(true).append(append).open(path);
    let f = match open(true) {
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => open(false),
        r => r,
    };
    let f = match f {
        Ok(f) => f,
        Err(e) => return e.kind() == std::io::ErrorKind::NotFound,
    };
    // A file system without locks (Lustre mounted without -o flock, old NFS without a lock
    // manager) fails the call: the claim is then judged without one, as before locks.
    let busy = if wait {
        f.lock().is_err_and(|e| !unsupported(&e))
    } else {
        match f.try_lock() {
            Ok(()) => false,
            Err(std::fs::TryLockError::WouldBlock) => true,
            Err(std::fs::TryLockError::Error(e)) => !unsupported(&e),
        }
    };
    if busy {
        return false;
    }
    let same = match (f.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    };
    // Read by path under the lock: the content of the very file that was locked.
    let removed =
        same && remove(&std::fs::read_to_string(path).unwrap_or_default()) && std::fs::remove_file(path).is_ok();
    drop(f);
    removed
}

/// Whether a lock call failed because the file system has no locks.
fn unsupported(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::ENOLCK | libc::EOPNOTSUPP | libc::EINVAL))
        || e.kind() == std::io::ErrorKind::Unsupported
}

/// Give a claim of `token` back: remove it unless it is someone else's now (taken over
/// while this owner was too slow to refresh it).
fn give_back(path: &Path, token: &str) {
    remove_claim_if(path, true, |text| Owner::from_toml(text).is_none_or(|o| o.token == token));
}

/// The claims this process holds, refreshed by a background thread.
pub struct Claims {
    token: String,
    held: Arc<(Mutex<Option<Vec<PathBuf>>>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Claims {
    /// The claims of `owner` (none yet).
    pub fn new(owner: &Owner) -> Claims {
        let held: Arc<(Mutex<Option<Vec<PathBuf>>>, Condvar)> =
            Arc::new((Mutex::new(Some(Vec::new())), Condvar::new()));
        let h = held.clone();
        let thread = std::thread::spawn(move || {
            let (lock, cv) = &*h;
            let mut g = lock.lock().unwrap_or_else(|e| e.into_inner());
            // The state is checked before every wait, so a stop that comes before the first
            // wait is not missed.
            while let Some(paths) = g.as_ref() {
                for p in paths {
                    if let Ok(f) = std::fs::OpenOptions::new().append(true).open(p) {
                        let _ = f.set_modified(SystemTime::now());
                    }
                }
                g = cv.wait_timeout(g, HEARTBEAT).unwrap_or_else(|e| e.into_inner()).0;
            }
        });
        Claims { token: owner.token.clone(), held, thread: Some(thread) }
    }

    fn hold(&self, p: PathBuf) {
        if let Some(v) = self.held.0.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            v.push(p);
        }
    }

    fn release(&self, p: &Path) {
        if let Some(v) = self.held.0.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            v.retain(|q| q != p);
        }
        give_back(p, &self.token);
    }
}

impl Drop for Claims {
    fn drop(&mut self) {
        let (lock, cv) = &*self.held;
        let left = lock.lock().unwrap_or_else(|e| e.into_inner()).take();
        cv.notify_all();
        // Whatever is still held (an interrupted sweep) is released.
        for p in left.unwrap_or_default() {
            give_back(&p, &self.token);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One sweep's folder, as seen by one invocation.
pub struct SweepFolder<'a> {
    pub dir: PathBuf,
    owner: &'a Owner,
    claims: &'a Claims,
}

/// The outcome of trying to claim a run.
pub enum Claim {
    /// Ours now: compute it.
    Acquired(PathBuf),
    /// Another live invocation is computing it.
    Held(String),
    /// It is finished on disk already.
    Finished,
}

impl<'a> SweepFolder<'a> {
    /// A folder for the sweep that this invocation can write to, with the leftovers of dead
    /// invocations removed.
    pub fn prepare(dir: PathBuf, owner: &'a Owner, claims: &'a Claims) -> Result<SweepFolder<'a>, String> {
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: cannot create output folder: {e}", dir.display()))?;
        let probe = dir.join(format!(".write-probe-{}", owner.token));
        std::fs::write(&probe, b"").map_err(|e| format!("{}: output folder is not writable: {e}", dir.display()))?;
        let _ = std::fs::remove_file(probe);
        let folder = SweepFolder { dir, owner, claims };
        folder.clean()?;
        Ok(folder)
    }

    fn claim_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{CLAIM_PREFIX}{id}"))
    }

    /// The live owner of a claim file, or `None` if the claim is absent or stale.
    fn live_claim(&self, path: &Path) -> Option<Owner> {
        let text = std::fs::read_to_string(path).ok()?;
        // A claim being written right now reads empty: a fresh file is live.
        let Some(other) = Owner::from_toml(&text) else {
            return age(path)
                .filter(|a| *a < STALE_AFTER)
                .map(|_| Owner { token: String::new(), ..self.owner.clone() });
        };
        if self.owner.knows_dead(&other) || age(path).is_none_or(|a| a >= STALE_AFTER) {
            return None;
        }
        Some(other)
    }

    /// Remove a claim judged stale, unless another invocation is removing it right now or it
    /// is live when judged again under the lock.
    fn remove_stale_claim(&self, path: &Path) -> bool {
        remove_claim_if(path, false, |_| self.live_claim(path).is_none())
    }

    /// Remove stale claims, temporary run folders whose owner holds no live claim on them,
    /// and old temporary files of the summary writers.
    fn clean(&self) -> Result<(), String> {
        let entries = std::fs::read_dir(&self.dir)
            .map_err(|e| format!("{}: cannot read output folder: {e}", self.dir.display()))?;
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let path = e.path();
            if name.starts_with(CLAIM_PREFIX) {
                if self.live_claim(&path).is_none() {
                    self.remove_stale_claim(&path);
                }
            } else if let Some(rest) = name.strip_prefix(TMP_PREFIX) {
                // `<method>-<hex>-<token>`, or `<method>-<hex>-<token>-old` for the folder a
                // commit moves aside (a token never ends in "-old": it ends in hex digits);
                // a name in another form is a leftover of an earlier version of qnet-exp
                // (which named them by process id only).
                let mut parts = rest.splitn(3, '-');
                let id = format!("{}-{}", parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                let token = parts.next().unwrap_or("");
                let token = token.strip_suffix(ASIDE_SUFFIX).unwrap_or(token);
                let live = self.live_claim(&self.claim_path(&id)).is_some_and(|o| o.token == token);
                if !live {
                    let _ = std::fs::remove_dir_all(&path);
                }
            } else if name.starts_with('.') && name.contains(".tmp-") && age(&path).is_some_and(|a| a >= STALE_AFTER) {
                // `.runs.csv.tmp-<token>` and the like, left by an interrupted writer.
                let _ = std::fs::remove_file(&path);
            }
        }
        Ok(())
    }

    /// Claim a run for this invocation, unless it is finished or someone else computes it.
    pub fn claim(&self, id: &str) -> std::io::Result<Claim> {
        let path = self.claim_path(id);
        for _ in 0..2 {
            if is_finished(&self.dir.join(id)) {
                return Ok(Claim::Finished);
            }
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    // Not synced: a claim lost in a crash is stale anyway.
                    f.write_all(self.owner.to_toml().as_bytes())?;
                    // Someone may have finished it between the check and the claim.
                    if is_finished(&self.dir.join(id)) {
                        let _ = std::fs::remove_file(&path);
                        return Ok(Claim::Finished);
                    }
                    self.claims.hold(path.clone());
                    return Ok(Claim::Acquired(path));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => match self.live_claim(&path) {
                    Some(o) => return Ok(Claim::Held(format!("host {} (pid {})", o.host, o.pid))),
                    // Stale: remove it and try once more (another waiter may win the race, or
                    // be removing it right now: then it is left to that one).
                    None => {
                        self.remove_stale_claim(&path);
                    }
                },
                Err(e) => return Err(e),
            }
        }
        Ok(Claim::Held("another invocation (claim just taken)".into()))
    }

    /// Give a claim back (the run was abandoned or written).
    pub fn release(&self, claim: &Path) {
        self.claims.release(claim);
    }

    /// A fresh temporary folder for a run.
    pub fn temp_dir(&self, id: &str) -> std::io::Result<PathBuf> {
        let tmp = self.dir.join(format!("{TMP_PREFIX}{id}-{}", self.owner.token));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)?;
        }
        std::fs::create_dir(&tmp)?;
        Ok(tmp)
    }

    /// Finish a run folder: config.toml, status.toml last, everything synced, renamed into
    /// place. On error the temporary folder is removed.
    pub fn commit(&self, tmp: &Path, spec: &RunSpec, status: &RunStatus) -> std::io::Result<()> {
        let result = (|| {
            crate::output::csv::write_file(&tmp.join(CONFIG_FILE), spec.to_toml().as_bytes())?;
            crate::output::csv::write_file(&tmp.join(STATUS_FILE), status.to_toml().as_bytes())?;
            sync_tree(tmp)?;
            let fin = self.dir.join(&spec.id);
            let aside = self.dir.join(format!("{TMP_PREFIX}{}-{}{ASIDE_SUFFIX}", spec.id, self.owner.token));
            let replaced = fin.exists();
            if replaced {
                std::fs::rename(&fin, &aside)?;
            }
            std::fs::rename(tmp, &fin)?;
            sync_dir(&self.dir)?;
            // The run is in place: an aside folder already gone is no error.
            if replaced {
                match std::fs::remove_dir_all(&aside) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    r => r?,
                }
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = std::fs::remove_dir_all(tmp);
        }
        result
    }

    /// Drop a run's temporary folder (an interrupted run).
    pub fn abandon(&self, tmp: &Path) {
        let _ = std::fs::remove_dir_all(tmp);
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Make a finished temporary run folder durable: every file, then the folder itself.
/// (`syncfs` would do it in one journal commit, but it also waits for every other writer on
/// the file system: with compilers writing beside it, a test sweep took 5x longer.)
fn sync_tree(dir: &Path) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        std::fs::File::open(e?.path())?.sync_data()?;
    }
    sync_dir(dir)
}

/// A run folder counts as finished when the summary can read it, its status says so and
/// its metrics are complete: `run` and `summarize` agree on what is done, and a damaged or
/// truncated folder is redone.
pub fn is_finished(run_dir: &Path) -> bool {
    run_dir.is_dir() && summary::read_run(run_dir).is_ok_and(|r| r.status.finished)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_exclude_others_and_stale_ones_are_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let me = Owner::new();
        let claims = Claims::new(&me);
        let f = SweepFolder::prepare(dir.path().join("s"), &me, &claims).unwrap();
        let Claim::Acquired(path) = f.claim("sr-000000000001").unwrap() else { panic!("first claim") };
        // The same run again, as another live invocation on another host.
        let other = Owner { token: "elsewhere_1_0".into(), host: "elsewhere".into(), boot: "b".into(), ..me.clone() };
        let g = SweepFolder { dir: f.dir.clone(), owner: &other, claims: &claims };
        assert!(matches!(g.claim("sr-000000000001").unwrap(), Claim::Held(_)));
        // Its temporary folder survives the other's cleanup; a dead owner's does not.
        // So does the folder a commit of its moves aside; a dead owner's does not.
        let tmp = f.temp_dir("sr-000000000001").unwrap();
        let aside = f.dir.join(format!(".tmp-sr-000000000001-{}-old", me.token));
        std::fs::create_dir(&aside).unwrap();
        let dead_tmp = f.dir.join(".tmp-sr-000000000002-deadhost_7_0");
        let dead_aside = f.dir.join(".tmp-sr-000000000002-deadhost_7_0-old");
        std::fs::create_dir(&dead_tmp).unwrap();
        std::fs::create_dir(&dead_aside).unwrap();
        g.clean().unwrap();
        assert!(tmp.is_dir() && aside.is_dir() && !dead_tmp.exists() && !dead_aside.exists());
        // A claim of a process that is gone on this machine is stale at once.
        let gone = Owner { token: "x_4194999_0".into(), pid: 4_194_999, ..me.clone() };
        std::fs::write(f.claim_path("sr-000000000003"), gone.to_toml()).unwrap();
        assert!(matches!(f.claim("sr-000000000003").unwrap(), Claim::Acquired(_)));
        // An old claim from another host is stale once not refreshed for STALE_AFTER.
        let far = Owner { token: "far_9_0".into(), host: "far".into(), boot: "other-boot".into(), ..me.clone() };
        let old = f.claim_path("sr-000000000004");
        std::fs::write(&old, far.to_toml()).unwrap();
        assert!(matches!(f.claim("sr-000000000004").unwrap(), Claim::Held(_)));
        let file = std::fs::OpenOptions::new().append(true).open(&old).unwrap();
        file.set_modified(SystemTime::now() - STALE_AFTER - Duration::from_secs(1)).unwrap();
        assert!(matches!(f.claim("sr-000000000004").unwrap(), Claim::Acquired(_)));
        f.release(&path);
        assert!(!path.exists());
    }

    #[test]
    fn a_stale_claim_being_taken_over_is_left_to_the_taker() {
        let dir = tempfile::tempdir().unwrap();
        let me = Owner::new();
        let claims = Claims::new(&me);
        let f = SweepFolder::prepare(dir.path().join("s"), &me, &claims).unwrap();
        let gone = Owner { token: "x_4194999_0".into(), pid: 4_194_999, ..me.clone() };
        let path = f.claim_path("sr-000000000001");
        std::fs::write(&path, gone.to_toml()).unwrap();
        // Another invocation holds the lock: it is removing the stale claim right now.
        let taker = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        taker.lock().unwrap();
        assert!(matches!(f.claim("sr-000000000001").unwrap(), Claim::Held(_)));
        f.clean().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), gone.to_toml(), "left to the taker");
        // The taker removed it and claimed the run: that claim is live, and ours to keep.
        std::fs::remove_file(&path).unwrap();
        drop(taker);
        let other = Owner { token: "y_1_0".into(), host: "y".into(), boot: "b".into(), ..me.clone() };
        std::fs::write(&path, other.to_toml()).unwrap();
        assert!(matches!(f.claim("sr-000000000001").unwrap(), Claim::Held(_)));
        // Giving back a claim that is someone else's now leaves it.
        claims.release(&path);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), other.to_toml());
        // Once free of locks, a stale claim is taken over.
        std::fs::write(&path, gone.to_toml()).unwrap();
        assert!(matches!(f.claim("sr-000000000001").unwrap(), Claim::Acquired(_)));
    }
}
