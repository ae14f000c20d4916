//! ZooKeeper path rules: validation exactly as ZooKeeper's `PathUtils`, and
//! the parent/name split every operation needs.

/// Why a path was refused. Callers map every variant to BADARGUMENTS; the
/// reason only goes to the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidPath(pub &'static str);

/// Validates a path as ZooKeeper does for create (on the final path),
/// setData, setACL and check. The character ranges are evaluated on UTF-16
/// code units, so every non-BMP character (a surrogate pair) is refused.
pub fn validate(path: &str) -> Result<(), InvalidPath> {
    if path.is_empty() {
        return Err(InvalidPath("path must not be empty"));
    }
    if !path.starts_with('/') {
        return Err(InvalidPath("path must start with /"));
    }
    if path.len() == 1 {
        return Ok(());
    }
    if path.ends_with('/') {
        return Err(InvalidPath("path must not end with /"));
    }
    for component in path[1..].split('/') {
        match component {
            "" => return Err(InvalidPath("empty node name")),
            "." | ".." => return Err(InvalidPath("relative paths not allowed")),
            _ => {}
        }
    }
    for c in path.chars() {
        let cp = c as u32;
        let bad = cp == 0
            || (0x01..=0x1f).contains(&cp)
            || (0x7f..=0x9f).contains(&cp)
            || (0xd800..=0xf8ff).contains(&cp)
            || (0xfff0..=0xffff).contains(&cp)
            || cp > 0xffff;
        if bad {
            return Err(InvalidPath("invalid character"));
        }
    }
    Ok(())
}

/// The parent of an absolute path: `/a/b` → `/a`, `/a` → `/`. `None` for the
/// root and for strings without a `/`.
pub fn parent(path: &str) -> Option<&str> {
    if path == "/" {
        return None;
    }
    let idx = path.rfind('/')?;
    Some(if idx == 0 { "/" } else { &path[..idx] })
}

/// The last component of a path: `/a/b` → `b`, `/` → ``.
pub fn name(path: &str) -> &str {
    match path.rfind('/') {
        Some(idx) => &path[idx + 1..],
        None => path,
    }
}

/// Joins a parent path and a child name.
pub fn join(parent: &str, name: &str) -> String {
    if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

/// Paths that exist on every ZooKeeper server and can never be deleted.
pub fn is_special(path: &str) -> bool {
    matches!(
        path,
        "/" | "/zookeeper" | "/zookeeper/quota" | "/zookeeper/config"
    )
}

/// Every proper ancestor of `path`, nearest first, ending with `/`.
pub fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    let mut cur = Some(path);
    std::iter::from_fn(move || {
        let p = parent(cur?)?;
        cur = Some(p);
        Some(p)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_matches_zookeeper() {
        for ok in [
            "/",
            "/a",
            "/a/b",
            "/a.b",
            "/..x",
            "/a/...",
            "/zookeeper",
            "/é",
        ] {
            assert_eq!(validate(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "a",
            "/a/",
            "//",
            "/a//b",
            "/.",
            "/..",
            "/a/./b",
            "/a/../b",
            "/a\u{0}",
            "/\u{1}",
            "/\u{7f}",
            "/\u{9f}",
            "/\u{e000}",
            "/\u{fffd}",
            "/😀",
        ] {
            assert!(validate(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn parent_and_name() {
        assert_eq!(parent("/"), None);
        assert_eq!(parent("/a"), Some("/"));
        assert_eq!(parent("/a/b"), Some("/a"));
        assert_eq!(parent("x"), None);
        assert_eq!(name("/a/b"), "b");
        assert_eq!(name("/"), "");
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/a", "b"), "/a/b");
        assert_eq!(
            ancestors("/a/b/c").collect::<Vec<_>>(),
            vec!["/a/b", "/a", "/"]
        );
        assert_eq!(ancestors("/").count(), 0);
    }
}
