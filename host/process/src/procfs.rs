//! Reading `/proc`: the one parser of `/proc/PID/stat`, and readers that reuse
//! buffers and file descriptors so the monitor can poll hundreds of workers
//! without allocating.
//!
//! Owns: every path under `/proc` the process module reads, and how it is parsed.
//!
//! Guarantees: a kept-open file ([`StatFile`], [`ChildrenFile`], [`FdDir`])
//! refers to the process it was opened for. Once that process is reaped the
//! file reads an error (ESRCH) or nothing, never another process's data, even
//! if the pid is reused.
//!
//! Must never: signal, wait for or change a process. This file only reads.

use std::fs::File;
use std::io::{self, Read};
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::OnceLock;

use rustix::fs::{Mode, OFlags, RawDir, SeekFrom};

/// The fields of `/proc/PID/stat` Warden uses.
///
/// Times are in clock ticks (see [`clock_ticks`]); `start_time` is field 22,
/// ticks after boot, which with the pid and the boot id names a process
/// uniquely.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Stat {
    /// Field 3: `R`, `S`, `D`, `Z`, …
    pub(crate) state: u8,
    pub(crate) ppid: i32,
    pub(crate) pgrp: i32,
    pub(crate) session: i32,
    pub(crate) utime: u64,
    pub(crate) stime: u64,
    /// CPU of children this process has waited for.
    pub(crate) cutime: u64,
    pub(crate) cstime: u64,
    pub(crate) threads: u64,
    pub(crate) start_time: u64,
    pub(crate) rss_pages: u64,
}

impl Stat {
    /// Parses one `/proc/PID/stat` line. The command name (field 2) may hold
    /// spaces and parentheses, so fields are counted from the last `)`.
    pub(crate) fn parse(buf: &[u8]) -> Option<Stat> {
        let close = buf.iter().rposition(|&b| b == b')')?;
        let rest = buf.get(close + 2..)?;
        let mut stat = Stat::default();
        // Index 0 is field 3 (state): field N is at index N - 3.
        for (i, field) in rest.split(|&b| b == b' ' || b == b'\n').enumerate() {
            match i {
                0 => stat.state = *field.first()?,
                1 => stat.ppid = i32::try_from(parse_i64(field)?).ok()?,
                2 => stat.pgrp = i32::try_from(parse_i64(field)?).ok()?,
                3 => stat.session = i32::try_from(parse_i64(field)?).ok()?,
                11 => stat.utime = parse_u64(field)?,
                12 => stat.stime = parse_u64(field)?,
                13 => stat.cutime = non_negative(parse_i64(field)?),
                14 => stat.cstime = non_negative(parse_i64(field)?),
                17 => stat.threads = non_negative(parse_i64(field)?),
                19 => stat.start_time = parse_u64(field)?,
                21 => {
                    stat.rss_pages = non_negative(parse_i64(field)?);
                    return Some(stat);
                }
                _ => {}
            }
        }
        None
    }

    /// A zombie (`Z`) or a dead task (`X`): it runs no more code.
    pub(crate) fn is_dead(&self) -> bool {
        matches!(self.state, b'Z' | b'X')
    }

    /// CPU ticks of this process and of the children it has reaped.
    pub(crate) fn total_ticks(&self) -> u64 {
        self.utime
            .saturating_add(self.stime)
            .saturating_add(self.cutime)
            .saturating_add(self.cstime)
    }
}

fn non_negative(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn parse_u64(field: &[u8]) -> Option<u64> {
    if field.is_empty() {
        return None;
    }
    field.iter().try_fold(0u64, |acc, &b| {
        let digit = b.checked_sub(b'0').filter(|d| *d <= 9)?;
        acc.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

fn parse_i64(field: &[u8]) -> Option<i64> {
    match field.split_first() {
        Some((b'-', digits)) => i64::try_from(parse_u64(digits)?).ok().map(|v| -v),
        _ => i64::try_from(parse_u64(field)?).ok(),
    }
}

/// Parses a whitespace-separated list of pids (a `children` file) into `out`.
pub(crate) fn parse_pids(buf: &[u8], out: &mut Vec<i32>) {
    for field in buf.split(|b| b.is_ascii_whitespace()) {
        if let Some(pid) = parse_u64(field).and_then(|p| i32::try_from(p).ok()) {
            out.push(pid);
        }
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("unparsable {what}"))
}

/// Reads a whole file into `buf` (cleared first), at most `cap` bytes.
fn read_capped(path: &Path, buf: &mut Vec<u8>, cap: u64) -> io::Result<()> {
    buf.clear();
    File::open(path)?.take(cap).read_to_end(buf)?;
    Ok(())
}

/// Reads `/proc/PID/stat` once.
pub(crate) fn read_stat(pid: i32, buf: &mut Vec<u8>) -> io::Result<Stat> {
    read_capped(Path::new(&format!("/proc/{pid}/stat")), buf, 4096)?;
    Stat::parse(buf).ok_or_else(|| invalid("/proc/PID/stat"))
}

/// Reads a file of the kept-open kind from offset 0 into `buf`, growing it
/// as needed; returns the number of bytes read.
fn pread_all(file: &File, buf: &mut Vec<u8>) -> io::Result<usize> {
    if buf.len() < 1024 {
        buf.resize(1024, 0);
    }
    let mut n = 0;
    loop {
        if n == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        let read = file.read_at(&mut buf[n..], n as u64)?;
        if read == 0 {
            return Ok(n);
        }
        n += read;
    }
}

/// `/proc/PID/stat` kept open and re-read with `pread` at each poll: one
/// syscall per sample instead of open + read + close.
#[derive(Debug)]
pub(crate) struct StatFile(File);

impl StatFile {
    pub(crate) fn open(pid: i32) -> io::Result<Self> {
        File::open(format!("/proc/{pid}/stat")).map(Self)
    }

    pub(crate) fn read(&self, buf: &mut Vec<u8>) -> io::Result<Stat> {
        let n = pread_all(&self.0, buf)?;
        if n == 0 {
            return Err(io::Error::from_raw_os_error(
                rustix::io::Errno::SRCH.raw_os_error(),
            ));
        }
        Stat::parse(&buf[..n]).ok_or_else(|| invalid("/proc/PID/stat"))
    }
}

/// `/proc/PID/task/PID/children` of a single-threaded process, kept open.
#[derive(Debug)]
pub(crate) struct ChildrenFile(File);

impl ChildrenFile {
    pub(crate) fn open(pid: i32) -> io::Result<Self> {
        File::open(format!("/proc/{pid}/task/{pid}/children")).map(Self)
    }

    /// Appends the children of the main thread to `out`.
    pub(crate) fn read(&self, buf: &mut Vec<u8>, out: &mut Vec<i32>) -> io::Result<()> {
        let n = pread_all(&self.0, buf)?;
        parse_pids(&buf[..n], out);
        Ok(())
    }
}

/// Appends the children of every thread of `pid` to `out` (a child's parent
/// is the thread that forked it, so a multi-threaded process has one
/// `children` file per thread).
pub(crate) fn children_of_all_threads(
    pid: &str,
    buf: &mut Vec<u8>,
    out: &mut Vec<i32>,
) -> io::Result<()> {
    for entry in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let tid = entry?.file_name();
        let path = format!("/proc/{pid}/task/{}/children", tid.to_string_lossy());
        match read_capped(Path::new(&path), buf, 1 << 20) {
            Ok(()) => parse_pids(buf, out),
            // The thread ended between the listing and the read.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The direct children of this (the host's) process, including orphans a
/// subreaper adopted.
pub(crate) fn host_children(buf: &mut Vec<u8>, out: &mut Vec<i32>) -> io::Result<()> {
    children_of_all_threads("self", buf, out)
}

/// `/proc/PID/fd` kept open; counted with `getdents` into a caller's buffer.
#[derive(Debug)]
pub(crate) struct FdDir(OwnedFd);

impl FdDir {
    pub(crate) fn open(pid: i32) -> io::Result<Self> {
        let fd = rustix::fs::open(
            format!("/proc/{pid}/fd"),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Self(fd))
    }

    /// Counts the open descriptors; `scratch` is reused across calls.
    ///
    /// Since Linux 6.2 `stat` of `/proc/PID/fd` reports the count as its
    /// size (a bitmap count in the kernel); older kernels report 0 and the
    /// entries are counted with `getdents`, which makes the kernel build a
    /// dentry per descriptor (several times slower).
    pub(crate) fn count(&self, scratch: &mut [MaybeUninit<u8>]) -> io::Result<u64> {
        let size = rustix::fs::fstat(&self.0)?.st_size;
        if size > 0 {
            return Ok(u64::try_from(size).unwrap_or(0));
        }
        rustix::fs::seek(&self.0, SeekFrom::Start(0))?;
        let mut dir = RawDir::new(&self.0, scratch);
        let mut n = 0;
        while let Some(entry) = dir.next() {
            let entry = entry?;
            let name = entry.file_name().to_bytes();
            if name != b"." && name != b".." {
                n += 1;
            }
        }
        Ok(n)
    }
}

/// Counts the open descriptors of `pid` once.
pub(crate) fn count_fds(pid: i32, scratch: &mut [MaybeUninit<u8>]) -> io::Result<u64> {
    FdDir::open(pid)?.count(scratch)
}

/// The value of `key` in the initial environment of `pid`, if set.
/// Unreadable for zombies and for processes of other users.
pub(crate) fn environ_value(pid: i32, key: &str, buf: &mut Vec<u8>) -> io::Result<Option<String>> {
    read_capped(Path::new(&format!("/proc/{pid}/environ")), buf, 1 << 20)?;
    let key = key.as_bytes();
    Ok(buf.split(|&b| b == 0).find_map(|entry| {
        let value = entry.strip_prefix(key)?.strip_prefix(b"=")?;
        std::str::from_utf8(value).ok().map(str::to_owned)
    }))
}

/// The cgroup v2 path of `pid` (the `0::PATH` line of `/proc/PID/cgroup`,
/// relative to the cgroup namespace's root), if it has one. Still readable
/// for a zombie, which stays listed in the cgroup it died in.
pub(crate) fn cgroup_of(pid: i32, buf: &mut Vec<u8>) -> io::Result<Option<String>> {
    read_capped(Path::new(&format!("/proc/{pid}/cgroup")), buf, 64 << 10)?;
    Ok(parse_cgroup_v2(buf))
}

/// The `0::PATH` line of a `/proc/PID/cgroup` file.
pub(crate) fn parse_cgroup_v2(buf: &[u8]) -> Option<String> {
    buf.split(|&b| b == b'\n').find_map(|line| {
        let path = line.strip_prefix(b"0::")?;
        std::str::from_utf8(path).ok().map(str::to_owned)
    })
}

/// Now, in the unit of [`Stat::start_time`]: clock ticks since boot
/// (`CLOCK_BOOTTIME`, which the kernel uses for start times too).
pub(crate) fn boot_ticks_now() -> u64 {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
    let ticks = clock_ticks();
    u64::try_from(now.tv_sec)
        .unwrap_or(0)
        .saturating_mul(ticks)
        .saturating_add(
            u64::try_from(now.tv_nsec)
                .unwrap_or(0)
                .saturating_mul(ticks)
                / 1_000_000_000,
        )
}

/// Every pid currently listed in `/proc`.
pub(crate) fn all_pids() -> io::Result<Vec<i32>> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc")? {
        let name = entry?.file_name();
        if let Some(pid) = name.to_str().and_then(|s| s.parse::<i32>().ok()) {
            pids.push(pid);
        }
    }
    Ok(pids)
}

/// The kernel's boot id, read once.
pub(crate) fn boot_id() -> io::Result<&'static str> {
    static BOOT_ID: OnceLock<String> = OnceLock::new();
    if let Some(id) = BOOT_ID.get() {
        return Ok(id);
    }
    let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id")?
        .trim()
        .to_owned();
    Ok(BOOT_ID.get_or_init(|| id))
}

/// Clock ticks per second (`USER_HZ`), the unit of `/proc/PID/stat` times.
pub(crate) fn clock_ticks() -> u64 {
    rustix::param::clock_ticks_per_second().max(1)
}

/// Bytes per page, the unit of `/proc/PID/stat` RSS.
pub(crate) fn page_size() -> u64 {
    rustix::param::page_size() as u64
}

/// Whether an error means "that process no longer exists".
pub(crate) fn is_gone(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::NotFound
        || err.raw_os_error() == Some(rustix::io::Errno::SRCH.raw_os_error())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_spaces_and_parens_in_the_name() {
        let line = b"4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 7 3 -2 5 20 0 2 0 123456 1000000 321 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
        let stat = Stat::parse(line).expect("parses");
        assert_eq!(stat.state, b'S');
        assert_eq!(stat.ppid, 1);
        assert_eq!(stat.pgrp, 4242);
        assert_eq!(stat.session, 4242);
        assert_eq!(
            (stat.utime, stat.stime, stat.cutime, stat.cstime),
            (7, 3, 0, 5)
        );
        assert_eq!(stat.threads, 2);
        assert_eq!(stat.start_time, 123456);
        assert_eq!(stat.rss_pages, 321);
        assert_eq!(stat.total_ticks(), 15);
    }

    #[test]
    fn reads_the_v2_line_of_a_cgroup_file() {
        let file = b"9:name=systemd:/\n4:memory:/a/b\n0::/warden-x/y\n";
        assert_eq!(parse_cgroup_v2(file).as_deref(), Some("/warden-x/y"));
        assert_eq!(parse_cgroup_v2(b"4:memory:/a\n"), None);
        let me = i32::try_from(std::process::id()).expect("pid fits");
        let start = read_stat(me, &mut Vec::new()).expect("own stat").start_time;
        assert!(boot_ticks_now() >= start);
    }

    #[test]
    fn rejects_truncated_stat() {
        assert_eq!(Stat::parse(b"1 (x) S 0 1"), None);
        assert_eq!(Stat::parse(b"garbage"), None);
    }

    #[test]
    fn reads_own_stat_fds_and_children() {
        let me = i32::try_from(std::process::id()).expect("pid fits");
        let mut buf = Vec::new();
        let stat = read_stat(me, &mut buf).expect("own stat");
        assert!(stat.start_time > 0);
        let kept = StatFile::open(me).expect("open");
        assert_eq!(
            kept.read(&mut buf).expect("pread").start_time,
            stat.start_time
        );
        let mut scratch = vec![MaybeUninit::uninit(); 4096];
        assert!(
            FdDir::open(me)
                .expect("fd dir")
                .count(&mut scratch)
                .expect("count")
                >= 3
        );
        let mut kids = Vec::new();
        host_children(&mut buf, &mut kids).expect("children");
        assert!(boot_id().expect("boot id").len() >= 32);
    }
}
