//! The cell's root: a read-only tmpfs holding read-only binds of only what
//! the runtime needs, the agent folder, a fresh /proc, a minimal /dev, a tiny
//! synthetic /etc, the membrane socket, and the writable tmpfs. Then
//! pivot_root into it and detach the host's root.
//!
//! Runs in the cell's init, inside the new mount namespace, before the agent
//! exists.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use std::os::fd::{AsRawFd, OwnedFd};

use nix::fcntl::{open, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::Mode;
use nix::sys::statvfs::{statvfs, FsFlags};

use crate::identity::CELL_AGENT_ID;
use crate::{
    CellSpec, CELL_AGENT_DIR, CELL_SDK_DIR, CELL_SILO_EXE, CELL_SOCKET_PATH, CELL_TMP_DIR,
};

/// Host paths bound read-only at the same place when they exist: what a
/// dynamically linked program and python3 need. Symlinks (merged /usr) are
/// recreated as symlinks.
pub(crate) const RUNTIME_PATHS: [&str; 7] = [
    "/usr", "/lib", "/lib64", "/lib32", "/libx32", "/bin", "/sbin",
];

/// Host files copied into the synthetic /etc by bind, when present.
const ETC_BINDS: [&str; 2] = ["/etc/ld.so.cache", "/etc/localtime"];

const DEVICES: [&str; 5] = ["null", "zero", "full", "random", "urandom"];

/// A failed step, named for the error message.
pub(crate) struct Failure {
    pub(crate) stage: String,
    pub(crate) message: String,
}

fn fail<E: std::fmt::Display>(stage: impl Into<String>) -> impl FnOnce(E) -> Failure {
    let stage = stage.into();
    move |e| Failure {
        stage,
        message: e.to_string(),
    }
}

/// In-cell paths that are read-only binds of the host (for Landlock).
pub(crate) fn readonly_paths(spec: &CellSpec) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = RUNTIME_PATHS
        .iter()
        .map(PathBuf::from)
        .filter(|p| {
            fs::symlink_metadata(p)
                .map(|m| !m.file_type().is_symlink())
                .unwrap_or(false)
        })
        .collect();
    v.extend(spec.ro_binds.iter().cloned());
    if spec.sdk_dir.is_some() {
        v.push(PathBuf::from(CELL_SDK_DIR));
    }
    // The folder, not the file: a Landlock rule on a file may not carry directory rights.
    if let Some(dir) = spec
        .silo_exe
        .as_ref()
        .and(Path::new(CELL_SILO_EXE).parent())
    {
        v.push(dir.to_path_buf());
    }
    v
}

/// A bind source opened (O_PATH) while we still had the host identity, so
/// that folders behind root-only directories can be bound after we drop it.
struct Source {
    fd: OwnedFd,
    is_dir: bool,
}

impl Source {
    fn open(p: &Path) -> Result<Source, Failure> {
        let fd = open(p, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(fail(format!("open {}", p.display())))?;
        let is_dir = fs::metadata(p).map(|m| m.is_dir()).unwrap_or(false);
        Ok(Source { fd, is_dir })
    }

    fn path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.fd.as_raw_fd()))
    }
}

/// Builds the root under `new_root` and pivots into it. Bind sources are
/// opened first; then `drop_identity` runs (files in a user namespace can
/// only be created by a mapped uid); then the root is assembled.
pub(crate) fn build(
    spec: &CellSpec,
    new_root: &Path,
    drop_identity: impl FnOnce() -> Result<(), Failure>,
) -> Result<(), Failure> {
    let none: Option<&str> = None;
    mount(none, "/", none, MsFlags::MS_REC | MsFlags::MS_PRIVATE, none)
        .map_err(fail("make mounts private"))?;

    let mut binds: Vec<(PathBuf, Source)> = Vec::new();
    let mut links: Vec<(PathBuf, PathBuf)> = Vec::new();
    for p in RUNTIME_PATHS
        .iter()
        .map(Path::new)
        .chain(spec.ro_binds.iter().map(PathBuf::as_path))
    {
        let Ok(meta) = fs::symlink_metadata(p) else {
            continue;
        };
        if meta.file_type().is_symlink() {
            let link = fs::read_link(p).map_err(fail(format!("read link {}", p.display())))?;
            links.push((p.to_path_buf(), link));
        } else {
            binds.push((p.to_path_buf(), Source::open(p)?));
        }
    }
    for f in ETC_BINDS.iter().map(Path::new).filter(|p| p.is_file()) {
        binds.push((f.to_path_buf(), Source::open(f)?));
    }
    if let Some(dir) = &spec.agent_dir {
        binds.push((PathBuf::from(CELL_AGENT_DIR), Source::open(dir)?));
    }
    if let Some(dir) = &spec.sdk_dir {
        binds.push((PathBuf::from(CELL_SDK_DIR), Source::open(dir)?));
    }
    if let Some(exe) = &spec.silo_exe {
        binds.push((PathBuf::from(CELL_SILO_EXE), Source::open(exe)?));
    }
    let socket = match &spec.socket {
        Some(s) => Some(Source::open(s)?),
        None => None,
    };
    drop_identity()?;
    mount(
        Some("tmpfs"),
        new_root,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("size=1m,nr_inodes=256,mode=0755"),
    )
    .map_err(fail("mount the root tmpfs"))?;

    for (p, link) in &links {
        let target = inside(new_root, p);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(fail(format!("create {}", parent.display())))?;
        }
        symlink(link, &target).map_err(fail(format!("link {}", p.display())))?;
    }
    let etc = new_root.join("etc");
    fs::create_dir(&etc).map_err(fail("create /etc"))?;
    for (p, src) in &binds {
        let target = inside(new_root, p);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(fail(format!("create {}", parent.display())))?;
        }
        bind_readonly(&src.path(), &target, src.is_dir, true)?;
    }

    // A tiny /etc: who the agent is, no secrets of the host.
    let files = [
        (
            "passwd",
            format!("root:x:0:0:cell init:/:/usr/sbin/nologin\nagent:x:{CELL_AGENT_ID}:{CELL_AGENT_ID}:silo agent:{CELL_TMP_DIR}:/usr/sbin/nologin\n"),
        ),
        ("group", format!("root:x:0:\nagent:x:{CELL_AGENT_ID}:\n")),
        ("hostname", "silo-cell\n".to_string()),
        ("hosts", "127.0.0.1 localhost silo-cell\n::1 localhost\n".to_string()),
        ("nsswitch.conf", "passwd: files\ngroup: files\nhosts: files\n".to_string()),
    ];
    for (name, body) in files {
        fs::write(etc.join(name), body).map_err(fail(format!("write /etc/{name}")))?;
    }

    let tmp = inside(new_root, Path::new(CELL_TMP_DIR));
    fs::create_dir(&tmp).map_err(fail("create /tmp"))?;
    let opts = format!(
        "size={},nr_inodes={},mode=0700,uid={CELL_AGENT_ID},gid={CELL_AGENT_ID}",
        spec.limits.tmpfs_bytes, spec.limits.tmpfs_inodes
    );
    mount(
        Some("tmpfs"),
        &tmp,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some(opts.as_str()),
    )
    .map_err(fail("mount the agent tmpfs"))?;

    let proc_dir = new_root.join("proc");
    fs::create_dir(&proc_dir).map_err(fail("create /proc"))?;
    mount(
        Some("proc"),
        &proc_dir,
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        none,
    )
    .map_err(fail("mount /proc"))?;
    let sys = proc_dir.join("sys");
    bind_readonly(&sys, &sys, true, true)?;

    build_dev(&new_root.join("dev"))?;

    let socket_inside = inside(new_root, Path::new(CELL_SOCKET_PATH));
    if let Some(parent) = socket_inside.parent() {
        fs::create_dir_all(parent).map_err(fail("create /run/silo"))?;
    }
    if let Some(sock) = &socket {
        bind_file(&sock.path(), &socket_inside, false)?;
    }

    mount(
        none,
        new_root,
        none,
        MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        none,
    )
    .map_err(fail("make the root read-only"))?;

    nix::unistd::chdir(new_root).map_err(fail("enter the new root"))?;
    nix::unistd::pivot_root(".", ".").map_err(fail("pivot_root"))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(fail("detach the host root"))?;
    nix::unistd::chdir("/").map_err(fail("chdir /"))?;
    Ok(())
}

fn build_dev(dev: &Path) -> Result<(), Failure> {
    let none: Option<&str> = None;
    fs::create_dir(dev).map_err(fail("create /dev"))?;
    mount(
        Some("tmpfs"),
        dev,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("size=64k,nr_inodes=64,mode=0755"),
    )
    .map_err(fail("mount /dev"))?;
    for d in DEVICES {
        // Device nodes cannot be created in a user namespace; bind the host's.
        bind_file(&Path::new("/dev").join(d), &dev.join(d), true)?;
    }
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        symlink(target, dev.join(name)).map_err(fail(format!("link /dev/{name}")))?;
    }
    mount(
        none,
        dev,
        none,
        MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("size=64k,nr_inodes=64,mode=0755"),
    )
    .map_err(fail("make /dev read-only"))
}

fn inside(root: &Path, p: &Path) -> PathBuf {
    root.join(p.strip_prefix("/").unwrap_or(p))
}

fn bind_file(src: &Path, dst: &Path, device: bool) -> Result<(), Failure> {
    fs::write(dst, b"").map_err(fail(format!("create {}", dst.display())))?;
    bind_readonly(src, dst, false, !device)
}

/// Binds `src` at `dst` read-only, nosuid, and nodev unless it is a device.
/// Flags the kernel locked on the source mount (noexec, atime…) are kept,
/// since a user namespace may not clear them.
fn bind_readonly(src: &Path, dst: &Path, is_dir: bool, nodev: bool) -> Result<(), Failure> {
    let none: Option<&str> = None;
    if is_dir {
        fs::create_dir_all(dst).map_err(fail(format!("create {}", dst.display())))?;
    } else if !dst.exists() {
        fs::write(dst, b"").map_err(fail(format!("create {}", dst.display())))?;
    }
    mount(Some(src), dst, none, MsFlags::MS_BIND, none)
        .map_err(fail(format!("bind {}", src.display())))?;
    let current = statvfs(dst)
        .map_err(fail(format!("statvfs {}", dst.display())))?
        .flags();
    let mut flags =
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID;
    if nodev || current.contains(FsFlags::ST_NODEV) {
        flags |= MsFlags::MS_NODEV;
    }
    for (st, ms) in [
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if current.contains(st) {
            flags |= ms;
        }
    }
    mount(none, dst, none, flags, none).map_err(fail(format!("make {} read-only", src.display())))
}
