//! Secrets read from files: refused when other users may read or change them.

use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The token in `path`, trimmed. Refused, naming the file and its mode, when
/// the file's group or other users may read it (they would hold the token)
/// or write it (they would choose it).
pub fn read_token_file(path: impl AsRef<Path>) -> io::Result<String> {
    let path = path.as_ref();
    let context = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    let mut f = std::fs::File::open(path).map_err(context)?;
    let mode = f.metadata().map_err(context)?.mode() & 0o7777;
    if mode & 0o066 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{}: mode {mode:04o} lets other users read or change the token: make it 0600 (chmod 600 {})",
                path.display(),
                path.display()
            ),
        ));
    }
    let mut text = String::new();
    f.read_to_string(&mut text).map_err(context)?;
    Ok(text.trim().to_string())
}

/// A fresh random token (hex of 16 bytes from the kernel's CSPRNG).
pub fn new_token() -> io::Result<String> {
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn only_a_private_token_file_is_read() {
        let path = std::env::temp_dir().join(format!("netloom-secret-{}", std::process::id()));
        std::fs::write(&path, "  0123456789abcdef\n").unwrap();
        for mode in [0o600, 0o400] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            assert_eq!(read_token_file(&path).unwrap(), "0123456789abcdef");
        }
        for mode in [0o644, 0o640, 0o604, 0o620] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let e = read_token_file(&path).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
            let msg = e.to_string();
            assert!(
                msg.starts_with(&format!("{}: mode {mode:04o} ", path.display())),
                "{msg}"
            );
        }
        std::fs::remove_file(&path).unwrap();
        let e = read_token_file(&path).unwrap_err();
        assert!(
            e.to_string().starts_with(&path.display().to_string()),
            "{e}"
        );
    }
}
