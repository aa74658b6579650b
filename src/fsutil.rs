//! Files written whole or not at all, and where themescope keeps its own: the leaf every module
//! that writes to disk builds on.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Where themescope keeps fetched models and the embedding cache: `THEMESCOPE_HOME`, else the
/// user's cache directory (`~/.cache/themescope` on Linux).
pub fn home_dir() -> PathBuf {
    match std::env::var_os("THEMESCOPE_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => dirs::cache_dir()
            .unwrap_or_else(std::env::temp_dir)
            .join("themescope"),
    }
}

/// Writes a file whole or not at all: a temporary file beside it, synced, then renamed.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    atomic_write_all(&[(path, bytes)])
}

/// Writes files that belong together (vectors and their ids): every one is written and synced
/// beside its target before any is renamed into place, so a failure (disk full, interrupt)
/// leaves the user's files as they were.
pub fn atomic_write_all(files: &[(&Path, &[u8])]) -> io::Result<()> {
    let mut staged = Vec::with_capacity(files.len());
    for (path, bytes) in files {
        let mut file = AtomicFile::create(path)?;
        file.write_all(bytes)?;
        staged.push(file);
    }
    AtomicFile::commit_all(staged)
}

/// A file being written in a temporary file beside its target: [`AtomicFile::commit`] syncs it
/// and renames it into place; dropped before that (an error, an interrupt), it is removed and
/// the target is as it was.
pub struct AtomicFile {
    temp: tempfile::NamedTempFile,
    target: PathBuf,
}

impl AtomicFile {
    /// An empty temporary file in `target`'s directory.
    pub fn create(target: &Path) -> io::Result<Self> {
        let mut builder = tempfile::Builder::new();
        builder.prefix(".tmp-");
        // A temporary file is private (0600); what the user asked for is an ordinary file.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(std::fs::Permissions::from_mode(0o644));
        }
        Ok(Self {
            temp: builder.tempfile_in(parent_dir(target))?,
            target: target.to_path_buf(),
        })
    }

    pub fn file(&self) -> &File {
        self.temp.as_file()
    }

    pub fn file_mut(&mut self) -> &mut File {
        self.temp.as_file_mut()
    }

    /// Where the file will be once committed.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Syncs the file and renames it onto its target.
    pub fn commit(self) -> io::Result<()> {
        Self::commit_all(vec![self])
    }

    /// Syncs every file, then renames each onto its target: files that belong together appear
    /// together (a failure before the first rename leaves every target as it was).
    pub fn commit_all(files: Vec<Self>) -> io::Result<()> {
        for file in &files {
            file.temp.as_file().sync_all()?;
        }
        for file in files {
            file.temp.persist(&file.target).map_err(|e| e.error)?;
        }
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.temp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.temp.flush()
    }
}

/// A path beside `target` for a writer that takes a path, not a file (the ANN graph's): write
/// there, then [`commit_path`].
pub fn staging_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    parent_dir(target).join(format!(".tmp-{name}"))
}

/// Syncs the file at `staged` and renames it onto `target`.
pub fn commit_path(staged: &Path, target: &Path) -> io::Result<()> {
    File::open(staged)?.sync_all()?;
    std::fs::rename(staged, target)
}

/// A directory written whole or not at all: filled under a private temporary name beside its
/// target, then renamed into place. A directory already there is moved aside first, put back if
/// the new one cannot take its place, and removed only once it has.
pub struct StagedDir {
    staging: tempfile::TempDir,
    target: PathBuf,
}

impl StagedDir {
    pub fn create(target: &Path) -> io::Result<Self> {
        let parent = parent_dir(target);
        std::fs::create_dir_all(parent)?;
        let staging = tempfile::Builder::new()
            .prefix(".staging-")
            .tempdir_in(parent)?;
        Ok(Self {
            staging,
            target: target.to_path_buf(),
        })
    }

    /// Where to write the directory's files.
    pub fn path(&self) -> &Path {
        self.staging.path()
    }

    /// Puts the directory in place; `replace` lets it take the place of one already there.
    pub fn commit(self, replace: bool) -> io::Result<()> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // A temporary directory is private (0700); what it becomes is an ordinary one.
            std::fs::set_permissions(self.path(), std::fs::Permissions::from_mode(0o755))?;
        }
        let staged = self.staging.keep();
        let aside = if replace && self.target.exists() {
            let aside =
                staging_path(&self.target).with_extension(format!("old-{}", std::process::id()));
            std::fs::rename(&self.target, &aside)?;
            Some(aside)
        } else {
            None
        };
        if let Err(e) = std::fs::rename(&staged, &self.target) {
            if let Some(aside) = &aside {
                let _ = std::fs::rename(aside, &self.target);
            }
            let _ = std::fs::remove_dir_all(&staged);
            return Err(e);
        }
        if let Some(aside) = aside {
            let _ = std::fs::remove_dir_all(aside);
        }
        Ok(())
    }
}

/// Reads exactly `buf.len()` bytes at `offset`, without a cursor shared between threads.
pub fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
    }
    #[cfg(windows)]
    {
        let mut done = 0;
        while done < buf.len() {
            let n = std::os::windows::fs::FileExt::seek_read(
                file,
                &mut buf[done..],
                offset + done as u64,
            )?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            done += n;
        }
        Ok(())
    }
}

/// An I/O error as a user reads it: "no space left on device", not "No space left on device
/// (os error 28) at path …".
pub fn io_reason(e: &io::Error) -> String {
    let text = e.to_string();
    let text = match text.find(" (os error") {
        Some(at) => &text[..at],
        None => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text.to_string(),
    }
}

/// The directory a file is written in: its parent, or `.` for a bare file name.
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_uncommitted_file_leaves_the_target_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.bin");
        std::fs::write(&target, b"old").unwrap();
        {
            let mut file = AtomicFile::create(&target).unwrap();
            file.write_all(b"new").unwrap();
        }
        assert_eq!(std::fs::read(&target).unwrap(), b"old");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary left"
        );
        let mut file = AtomicFile::create(&target).unwrap();
        file.write_all(b"new").unwrap();
        file.commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
    }

    #[test]
    fn a_staged_directory_replaces_the_old_only_when_committed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("model");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("a"), b"old").unwrap();
        {
            let staged = StagedDir::create(&target).unwrap();
            std::fs::write(staged.path().join("a"), b"new").unwrap();
        }
        assert_eq!(std::fs::read(target.join("a")).unwrap(), b"old");
        let staged = StagedDir::create(&target).unwrap();
        std::fs::write(staged.path().join("a"), b"new").unwrap();
        assert!(
            StagedDir::create(&target).unwrap().commit(false).is_err(),
            "an existing directory stays unless replacing"
        );
        assert_eq!(std::fs::read(target.join("a")).unwrap(), b"old");
        staged.commit(true).unwrap();
        assert_eq!(std::fs::read(target.join("a")).unwrap(), b"new");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "nothing staged or set aside is left"
        );
    }
}
