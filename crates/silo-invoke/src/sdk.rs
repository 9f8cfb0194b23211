//! The Python agent SDK, compiled into the binary and written to the run directory for
//! every cell (mounted read-only at `/opt/silo/sdk`, on `PYTHONPATH`), so a cell never
//! depends on where the source tree is.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::InvokeError;

/// `sdk/python/silo/__init__.py`.
pub const PYTHON_SDK: &str = include_str!("../../../sdk/python/silo/__init__.py");

/// Writes the SDK to `<run_dir>/sdk/python/silo/__init__.py` (directories 0755, file 0644,
/// replaced atomically) and returns `<run_dir>/sdk/python`, the folder to mount.
pub fn install(run_dir: &Path) -> Result<PathBuf, InvokeError> {
    let root = run_dir.join("sdk").join("python");
    let pkg = root.join("silo");
    let io = |what, path: &Path| {
        let path = path.to_path_buf();
        move |source| InvokeError::Io { what, path, source }
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(&pkg)
        .map_err(io("create the SDK folder", &pkg))?;
    for dir in [run_dir.join("sdk"), root.clone(), pkg.clone()] {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
            .map_err(io("make the SDK folder readable", &dir))?;
    }
    let file = pkg.join("__init__.py");
    if std::fs::read_to_string(&file).ok().as_deref() != Some(PYTHON_SDK) {
        // Unique per call: two workers of one process may install at the same moment (the
        // rename is atomic, so the last one wins with the same bytes).
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = pkg.join(format!(".__init__.py.{}.{n}", std::process::id()));
        std::fs::write(&tmp, PYTHON_SDK).map_err(io("write the SDK", &tmp))?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644))
            .map_err(io("make the SDK readable", &tmp))?;
        std::fs::rename(&tmp, &file).map_err(io("install the SDK", &file))?;
    }
    Ok(root)
}
