//! Storage faults and free space: why the journal cannot take a write, told
//! apart by type (SQLite's result codes, the OS error behind them), and the
//! room left for new events — on the volume, and under the journal's size
//! cap — against the reserve kept for verdicts and compaction.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rusqlite::ErrorCode;
use rusqlite::ffi;
use serde::Serialize;
use tokio::sync::watch;
use utoipa::ToSchema;

/// Why the journal cannot take new events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StorageFault {
    /// The volume is full (`ENOSPC`, `EDQUOT`, `SQLITE_FULL`), or the
    /// journal reached its size cap.
    Full,
    /// Less room than the reserve is left: new events are refused, while
    /// verdicts and compaction still write.
    Reserve,
    /// The file system is read-only (`EROFS`, `SQLITE_READONLY`) or denies
    /// writing (`EACCES`, `EPERM`).
    ReadOnly,
    /// The journal file or its directory is gone: moved, deleted or
    /// unmounted.
    Missing,
    /// The storage failed an I/O (`EIO`, `SQLITE_IOERR_*`), or an fsync.
    Io,
}

impl StorageFault {
    pub const ALL: [StorageFault; 5] =
        [StorageFault::Full, StorageFault::Reserve, StorageFault::ReadOnly, StorageFault::Missing, StorageFault::Io];

    /// The label of `shootlog_journal_refusals_total{cause}`.
    pub fn as_str(self) -> &'static str {
        match self {
            StorageFault::Full => "full",
            StorageFault::Reserve => "reserve",
            StorageFault::ReadOnly => "read_only",
            StorageFault::Missing => "missing",
            StorageFault::Io => "io",
        }
    }

    fn index(self) -> usize {
        match self {
            StorageFault::Full => 0,
            StorageFault::Reserve => 1,
            StorageFault::ReadOnly => 2,
            StorageFault::Missing => 3,
            StorageFault::Io => 4,
        }
    }

    /// The problem code a refused write answers (`/problems/<code>`, with
    /// `-` for `_`).
    pub fn problem_code(self) -> &'static str {
        match self {
            StorageFault::Full | StorageFault::Reserve => "storage_full",
            StorageFault::ReadOnly => "storage_read_only",
            StorageFault::Missing => "storage_missing",
            StorageFault::Io => "storage_io_error",
        }
    }

    pub fn problem_title(self) -> &'static str {
        match self {
            StorageFault::Full | StorageFault::Reserve => "Storage full",
            StorageFault::ReadOnly => "Storage read-only",
            StorageFault::Missing => "Storage missing",
            StorageFault::Io => "Storage I/O error",
        }
    }

    /// A client's `Retry-After`: the reserve drains by itself (the
    /// forwarder settles, compaction frees pages); a full disk, a read-only
    /// or missing volume wait for an operator; a failed fsync restarts the
    /// process.
    pub fn retry_after_secs(self) -> u64 {
        match self {
            StorageFault::Reserve => 10,
            StorageFault::Full => 30,
            StorageFault::ReadOnly | StorageFault::Missing => 60,
            StorageFault::Io => 10,
        }
    }

    /// What an OS error says about the storage, if anything.
    pub fn of_io_kind(kind: std::io::ErrorKind) -> Option<StorageFault> {
        use std::io::ErrorKind as K;
        match kind {
            K::StorageFull | K::QuotaExceeded | K::FileTooLarge => Some(StorageFault::Full),
            K::ReadOnlyFilesystem | K::PermissionDenied => Some(StorageFault::ReadOnly),
            K::NotFound | K::StaleNetworkFileHandle => Some(StorageFault::Missing),
            _ => None,
        }
    }

    /// What an I/O error of the journal says about the storage: by its
    /// kind, else `Io` for any OS error.
    pub fn of_io(e: &std::io::Error) -> Option<StorageFault> {
        Self::of_io_kind(e.kind()).or_else(|| e.raw_os_error().map(|_| StorageFault::Io))
    }

    /// What a SQLite error says about the storage, by its result code and,
    /// where SQLite reports one (`SQLITE_IOERR_*`, `SQLITE_CANTOPEN`), the
    /// OS error behind it. `None`: not a storage fault (a constraint, a
    /// corrupt file, a bug).
    pub fn of_sqlite(e: &rusqlite::Error, errno: Option<i32>) -> Option<StorageFault> {
        let rusqlite::Error::SqliteFailure(err, _) = e else {
            return None;
        };
        let by_errno =
            || errno.filter(|n| *n != 0).and_then(|n| Self::of_io_kind(std::io::Error::from_raw_os_error(n).kind()));
        match err.code {
            ErrorCode::DiskFull => Some(StorageFault::Full),
            ErrorCode::ReadOnly if err.extended_code == ffi::SQLITE_READONLY_DBMOVED => Some(StorageFault::Missing),
            ErrorCode::ReadOnly | ErrorCode::PermissionDenied => Some(StorageFault::ReadOnly),
            ErrorCode::CannotOpen => Some(by_errno().unwrap_or(StorageFault::Missing)),
            ErrorCode::SystemIoFailure => Some(by_errno().unwrap_or(StorageFault::Io)),
            _ => None,
        }
    }
}

/// Whether a SQLite error is a failed fsync (of the WAL, the database or
/// their directory): after one, the page cache can no longer be trusted.
pub fn is_failed_sync(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(err, _)
        if err.extended_code == ffi::SQLITE_IOERR_FSYNC || err.extended_code == ffi::SQLITE_IOERR_DIR_FSYNC)
}

/// The OS error SQLite saw last on this connection (`sqlite3_system_errno`),
/// which tells `EROFS` from `EIO` behind a `SQLITE_IOERR_WRITE`.
pub(super) fn system_errno(conn: &rusqlite::Connection) -> Option<i32> {
    // SAFETY: `handle` is the live connection's own pointer, used only for
    // this read-only call on the thread that owns the connection;
    // `sqlite3_system_errno` only reads a field of the connection.
    let n = unsafe { ffi::sqlite3_system_errno(conn.handle()) };
    (n != 0).then_some(n)
}

/// A failed read of the reader connection, as the storage fault it is
/// (with the OS error behind it); other errors as they are.
pub(super) fn read_error(conn: &rusqlite::Connection, e: super::JournalError) -> super::JournalError {
    let super::JournalError::Storage(se) = &e else {
        return e;
    };
    let errno = system_errno(conn);
    let Some(fault) = StorageFault::of_sqlite(se, errno) else {
        return e;
    };
    let os = errno.map(|n| format!(", {}", std::io::Error::from_raw_os_error(n))).unwrap_or_default();
    let what = match fault {
        StorageFault::Full | StorageFault::Reserve => "its volume is full",
        StorageFault::ReadOnly => "its file system denies access",
        StorageFault::Missing => "the journal file is gone (moved, deleted or unmounted)",
        StorageFault::Io => "an I/O error",
    };
    super::JournalError::Unwritable { fault, detail: format!("the journal could not be read: {what} ({se}{os})") }
}

/// A number of bytes, written with a binary unit (`64MiB`, `512KiB`,
/// `2GiB`) or as a plain number of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl FromStr for ByteSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (digits, unit) = t.split_at(split);
        let n: u64 = digits.parse().map_err(|_| format!("{s:?} is not a size (e.g. 64MiB, 512KiB, 1048576)"))?;
        let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kib" => 1 << 10,
            "m" | "mib" => 1 << 20,
            "g" | "gib" => 1 << 30,
            "t" | "tib" => 1 << 40,
            other => return Err(format!("{s:?}: unknown unit {other:?} (use KiB, MiB, GiB or TiB)")),
        };
        n.checked_mul(mult).map(ByteSize).ok_or_else(|| format!("{s:?} is too large"))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&human(self.0))
    }
}

/// The smallest size cap the journal takes: its schema alone needs a few
/// pages.
pub const MIN_MAX_SIZE: u64 = 64 << 10;

/// `--journal-max-size`: a [`ByteSize`] of at least [`MIN_MAX_SIZE`].
pub fn parse_max_size(s: &str) -> Result<ByteSize, String> {
    let size: ByteSize = s.parse()?;
    if size.0 < MIN_MAX_SIZE {
        return Err(format!("the journal's size cap must be at least {}", human(MIN_MAX_SIZE)));
    }
    Ok(size)
}

/// The room kept free for verdicts and compaction: a size, or a share of
/// the volume (`5%`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reserve {
    Bytes(u64),
    /// Percent of the volume's size, 0..=50.
    Percent(u8),
}

/// The reserve unless configured otherwise.
pub const DEFAULT_RESERVE: Reserve = Reserve::Bytes(64 << 20);

impl Reserve {
    /// In bytes, for a volume of `volume_size` bytes (unknown: 0 for a
    /// share).
    pub fn bytes(self, volume_size: Option<u64>) -> u64 {
        match self {
            Reserve::Bytes(b) => b,
            Reserve::Percent(p) => volume_size.unwrap_or(0) / 100 * u64::from(p),
        }
    }
}

impl FromStr for Reserve {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().strip_suffix('%') {
            Some(p) => match p.trim().parse::<u8>() {
                Ok(p) if p <= 50 => Ok(Reserve::Percent(p)),
                _ => Err(format!("{s:?}: a share of the volume is a whole percent from 0% to 50%")),
            },
            None => s.parse::<ByteSize>().map(|b| Reserve::Bytes(b.0)),
        }
    }
}

impl fmt::Display for Reserve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reserve::Bytes(b) => f.write_str(&human(*b)),
            Reserve::Percent(p) => write!(f, "{p}% of the volume"),
        }
    }
}

/// `1.5 MiB`, `512 KiB`, `17 B`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 || v.fract() == 0.0 { format!("{v:.0} {}", UNITS[unit]) } else { format!("{v:.1} {}", UNITS[unit]) }
}

/// The volume a path is on, as `statvfs` sees it.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Volume {
    /// Bytes an unprivileged writer may still use (`f_bavail`).
    pub free: u64,
    pub size: u64,
    pub read_only: bool,
}

#[cfg(unix)]
pub(super) fn volume(dir: &Path) -> std::io::Result<Volume> {
    let s = rustix::fs::statvfs(dir)?;
    Ok(Volume {
        free: s.f_bavail.saturating_mul(s.f_frsize),
        size: s.f_blocks.saturating_mul(s.f_frsize),
        read_only: s.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY),
    })
}

#[cfg(not(unix))]
pub(super) fn volume(_dir: &Path) -> std::io::Result<Volume> {
    Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "statvfs"))
}

/// Which file a path names, to notice that the journal's file was moved,
/// deleted or replaced under the open connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FileIdentity {
    dev: u64,
    ino: u64,
}

impl FileIdentity {
    #[cfg(unix)]
    pub fn of(path: &Path) -> std::io::Result<Self> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path)?;
        Ok(Self { dev: m.dev(), ino: m.ino() })
    }

    #[cfg(not(unix))]
    pub fn of(path: &Path) -> std::io::Result<Self> {
        std::fs::metadata(path).map(|_| Self { dev: 0, ino: 0 })
    }
}

/// The journal's storage as measured before a group of writes.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Measure {
    /// Room for new data: the volume's free space plus the journal's free
    /// pages, or the room under the cap, whichever is smaller. `None`:
    /// unknown (no statvfs and no cap).
    pub room: Option<u64>,
    pub volume: Option<Volume>,
    /// Bytes of the database's pages.
    pub db_bytes: u64,
    /// Whether the size cap, not the volume, bounds the room.
    pub by_cap: bool,
    pub reserve: u64,
}

/// What `/readyz` and `/metrics` show of the journal's storage.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageStatus {
    /// Whether the journal takes new events.
    pub writable: bool,
    /// Why not, when it does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<StorageFault>,
    /// Room for new events, bytes: the volume's free space plus the
    /// journal's free pages, or the room left under the size cap if
    /// smaller.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub free_bytes: Option<u64>,
    /// Free bytes of the journal's volume (statvfs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_free_bytes: Option<u64>,
    /// Below this much room, new events are refused (`storage_full`).
    pub reserve_bytes: u64,
    /// The database's size in bytes (without its WAL).
    pub size_bytes: u64,
    /// The journal's size cap, if one is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
}

/// The storage half of the journal's shared state: written by the writer
/// thread, read by `/readyz` and `/metrics` without asking it.
pub(super) struct Health {
    state: Mutex<State>,
    free: AtomicU64,
    volume_free: AtomicU64,
    known: AtomicBool,
    reserve: AtomicU64,
    size: AtomicU64,
    max_bytes: Option<u64>,
    refusals: [AtomicU64; 5],
    /// Turns true, once, when an fsync failed.
    fatal: watch::Sender<bool>,
    path: PathBuf,
}

#[derive(Debug, Clone, Default)]
struct State {
    fault: Option<StorageFault>,
    detail: String,
}

impl Health {
    pub fn new(path: &Path, max_bytes: Option<u64>) -> Self {
        Self {
            state: Mutex::new(State::default()),
            free: AtomicU64::new(0),
            volume_free: AtomicU64::new(0),
            known: AtomicBool::new(false),
            reserve: AtomicU64::new(0),
            size: AtomicU64::new(0),
            max_bytes,
            refusals: Default::default(),
            fatal: watch::channel(false).0,
            path: path.to_path_buf(),
        }
    }

    pub fn record(&self, m: &Measure) {
        self.known.store(m.room.is_some(), Ordering::Relaxed);
        self.free.store(m.room.unwrap_or(0), Ordering::Relaxed);
        self.volume_free.store(m.volume.map_or(u64::MAX, |v| v.free), Ordering::Relaxed);
        self.reserve.store(m.reserve, Ordering::Relaxed);
        self.size.store(m.db_bytes, Ordering::Relaxed);
    }

    /// The current fault, if any.
    pub fn fault(&self) -> Option<(StorageFault, String)> {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.fault.map(|f| (f, s.detail.clone()))
    }

    /// Sets the state; one log line when the fault changes (not when only
    /// its detail does).
    pub fn set(&self, fault: Option<StorageFault>, detail: &str) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let before = s.fault;
        s.fault = fault;
        s.detail = detail.to_string();
        drop(s);
        if before == fault {
            return;
        }
        let free = self.free.load(Ordering::Relaxed);
        let reserve = self.reserve.load(Ordering::Relaxed);
        let journal = self.path.display();
        match fault {
            None => tracing::info!(
                %journal, free_bytes = free, reserve_bytes = reserve, was = before.map_or("", |f| f.as_str()),
                "journal storage recovered: new events are taken again"
            ),
            Some(f @ StorageFault::Reserve) => tracing::warn!(
                %journal, cause = f.as_str(), free_bytes = free, reserve_bytes = reserve,
                "journal storage below its reserve: new events are refused (503 storage_full), verdicts and compaction go on: {detail}"
            ),
            Some(f) => tracing::error!(
                %journal, cause = f.as_str(), free_bytes = free, reserve_bytes = reserve,
                "journal storage fault: new events are refused (503 {}): {detail}", f.problem_code()
            ),
        }
    }

    pub fn count_refusal(&self, fault: StorageFault) {
        self.refusals[fault.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub fn refusals(&self) -> [(StorageFault, u64); 5] {
        StorageFault::ALL.map(|f| (f, self.refusals[f.index()].load(Ordering::Relaxed)))
    }

    pub fn set_fatal(&self) {
        self.fatal.send_replace(true);
    }

    pub fn is_fatal(&self) -> bool {
        *self.fatal.borrow()
    }

    pub fn fatal_watch(&self) -> watch::Receiver<bool> {
        self.fatal.subscribe()
    }

    pub fn status(&self) -> StorageStatus {
        let fault = self.fault().map(|(f, _)| f);
        let volume_free = self.volume_free.load(Ordering::Relaxed);
        StorageStatus {
            writable: fault.is_none(),
            fault,
            free_bytes: self.known.load(Ordering::Relaxed).then(|| self.free.load(Ordering::Relaxed)),
            volume_free_bytes: (volume_free != u64::MAX).then_some(volume_free),
            reserve_bytes: self.reserve.load(Ordering::Relaxed),
            size_bytes: self.size.load(Ordering::Relaxed),
            max_bytes: self.max_bytes,
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn sqlite_error(extended: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(ffi::Error::new(extended), None)
    }

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!("64MiB".parse::<ByteSize>(), Ok(ByteSize(64 << 20)));
        assert_eq!("512 KiB".parse::<ByteSize>(), Ok(ByteSize(512 << 10)));
        assert_eq!("2g".parse::<ByteSize>(), Ok(ByteSize(2 << 30)));
        assert_eq!("1048576".parse::<ByteSize>(), Ok(ByteSize(1 << 20)));
        assert!("64MB".parse::<ByteSize>().is_err());
        assert!("-1".parse::<ByteSize>().is_err());
        assert!("99999999999TiB".parse::<ByteSize>().is_err());
        assert!(parse_max_size("1KiB").is_err());
        assert_eq!(parse_max_size("64KiB"), Ok(ByteSize(64 << 10)));
    }

    #[test]
    fn a_reserve_is_a_size_or_a_share_of_the_volume() {
        assert_eq!("64MiB".parse::<Reserve>(), Ok(Reserve::Bytes(64 << 20)));
        assert_eq!("0".parse::<Reserve>(), Ok(Reserve::Bytes(0)));
        assert_eq!("5%".parse::<Reserve>(), Ok(Reserve::Percent(5)));
        assert!("51%".parse::<Reserve>().is_err());
        assert!("1.5%".parse::<Reserve>().is_err());
        assert_eq!(Reserve::Percent(5).bytes(Some(1000 << 20)), 50 << 20);
        assert_eq!(Reserve::Percent(5).bytes(None), 0);
        assert_eq!(Reserve::Bytes(7).bytes(None), 7);
        assert_eq!(DEFAULT_RESERVE.to_string(), "64 MiB");
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human(17), "17 B");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(64 << 20), "64 MiB");
    }

    #[test]
    fn sqlite_errors_are_classified_by_code_and_os_error() {
        use StorageFault as F;
        assert_eq!(F::of_sqlite(&sqlite_error(ffi::SQLITE_FULL), None), Some(F::Full));
        assert_eq!(F::of_sqlite(&sqlite_error(ffi::SQLITE_READONLY), None), Some(F::ReadOnly));
        assert_eq!(F::of_sqlite(&sqlite_error(ffi::SQLITE_READONLY_DBMOVED), None), Some(F::Missing));
        assert_eq!(F::of_sqlite(&sqlite_error(ffi::SQLITE_CANTOPEN), None), Some(F::Missing));
        assert_eq!(F::of_sqlite(&sqlite_error(ffi::SQLITE_CANTOPEN), Some(libc_erofs())), Some(F::ReadOnly));
        assert_eq!(F::of_sqlite(&sqlite_error(ffi::SQLITE_IOERR_WRITE), None), Some(F::Io));
        assert_eq!(F::of_sqlite(&sqlite_error(ffi::SQLITE_IOERR_WRITE), Some(libc_erofs())), Some(F::ReadOnly));
        assert_eq!(F::of_sqlite(&sqlite_error(ffi::SQLITE_IOERR_WRITE), Some(libc_enospc())), Some(F::Full));
        assert_eq!(
            F::of_sqlite(&sqlite_error(ffi::SQLITE_IOERR_FSYNC), Some(rustix::io::Errno::IO.raw_os_error())),
            Some(F::Io)
        );
        assert_eq!(F::of_sqlite(&sqlite_error(ffi::SQLITE_CONSTRAINT_UNIQUE), None), None);
        assert_eq!(F::of_sqlite(&sqlite_error(ffi::SQLITE_CORRUPT), None), None);
        assert_eq!(F::of_sqlite(&rusqlite::Error::QueryReturnedNoRows, None), None);
        assert!(is_failed_sync(&sqlite_error(ffi::SQLITE_IOERR_FSYNC)));
        assert!(is_failed_sync(&sqlite_error(ffi::SQLITE_IOERR_DIR_FSYNC)));
        assert!(!is_failed_sync(&sqlite_error(ffi::SQLITE_IOERR_WRITE)));
    }

    #[test]
    fn io_errors_are_classified_by_kind() {
        use StorageFault as F;
        use std::io::{Error, ErrorKind};
        assert_eq!(F::of_io(&Error::from(ErrorKind::StorageFull)), Some(F::Full));
        assert_eq!(F::of_io(&Error::from(ErrorKind::ReadOnlyFilesystem)), Some(F::ReadOnly));
        assert_eq!(F::of_io(&Error::from(ErrorKind::NotFound)), Some(F::Missing));
        assert_eq!(F::of_io(&Error::from_raw_os_error(libc_enospc())), Some(F::Full));
        assert_eq!(F::of_io(&Error::from_raw_os_error(rustix::io::Errno::IO.raw_os_error())), Some(F::Io));
        assert_eq!(F::of_io(&Error::other("not an OS error")), None);
    }

    fn libc_erofs() -> i32 {
        rustix::io::Errno::ROFS.raw_os_error()
    }

    fn libc_enospc() -> i32 {
        rustix::io::Errno::NOSPC.raw_os_error()
    }
}
