//! ACL validation and the identities a connection holds.
//!
//! ZooKeeper rewrites an ACL list before storing it (`fixupACL`): the
//! `auth` pseudo-scheme expands to the connection's authenticated ids, and
//! ids of other schemes must be well formed. This module does that rewrite
//! and computes digest identities.

use base64::Engine;
use jute::{Acl, Id};
use sha1::{Digest, Sha1};

/// `user:base64(sha1("user:password"))`, ZooKeeper's digest identity.
pub fn digest_id(user_password: &str) -> String {
    let user = user_password.split(':').next().unwrap_or("");
    let hash = Sha1::digest(user_password.as_bytes());
    format!(
        "{user}:{}",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}

/// Whether an identity of this scheme counts as "authenticated" for the
/// `auth` ACL scheme (ip does not).
fn is_authenticated(scheme: &str) -> bool {
    matches!(scheme, "digest" | "sasl" | "x509" | "key")
}

fn valid_ip(expr: &str) -> bool {
    let (addr, bits) = match expr.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (expr, None),
    };
    let max = match addr.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => 32,
        Ok(std::net::IpAddr::V6(_)) => 128,
        Err(_) => return false,
    };
    match bits {
        None => true,
        Some(b) => b.parse::<u32>().is_ok_and(|n| n <= max),
    }
}

/// ZooKeeper's ACL fix-up on create and setACL. `None` means INVALIDACL.
pub fn fixup(acl: &[Acl], auth_ids: &[Id]) -> Option<Vec<Acl>> {
    let mut out: Vec<Acl> = Vec::with_capacity(acl.len());
    let push = |a: Acl, out: &mut Vec<Acl>| {
        if !out.contains(&a) {
            out.push(a);
        }
    };
    if acl.is_empty() {
        return None;
    }
    for a in acl {
        match a.id.scheme.as_str() {
            "world" if a.id.id == "anyone" => push(a.clone(), &mut out),
            "auth" => {
                let mut any = false;
                for id in auth_ids.iter().filter(|id| is_authenticated(&id.scheme)) {
                    any = true;
                    push(
                        Acl {
                            perms: a.perms,
                            id: id.clone(),
                        },
                        &mut out,
                    );
                }
                if !any {
                    return None;
                }
            }
            "digest" if a.id.id.matches(':').count() == 1 => push(a.clone(), &mut out),
            "ip" if valid_ip(&a.id.id) => push(a.clone(), &mut out),
            _ => return None,
        }
    }
    if out.is_empty() {
        None
    } else {
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(perms: i32, scheme: &str, id: &str) -> Acl {
        Acl {
            perms,
            id: Id {
                scheme: scheme.into(),
                id: id.into(),
            },
        }
    }

    #[test]
    fn digest_vectors() {
        assert_eq!(digest_id("bob:secret"), "bob:fyVmFCwVbTJYrznoSu1koqYEYF0=");
        assert_eq!(
            digest_id("super:admin"),
            "super:xQJmxLMiHGwaqBvst5y6rkB6HQs="
        );
        assert_eq!(
            digest_id("user:password"),
            "user:tpUq/4Pn5A64fVZyQ0gOJ8ZWqkY="
        );
    }

    #[test]
    fn fixup_rules() {
        assert_eq!(fixup(&[], &[]), None);
        assert_eq!(fixup(&[acl(31, "world", "other")], &[]), None);
        assert_eq!(fixup(&[acl(31, "auth", "")], &[]), None);
        let ip = Id {
            scheme: "ip".into(),
            id: "127.0.0.1".into(),
        };
        assert_eq!(
            fixup(&[acl(31, "auth", "")], std::slice::from_ref(&ip)),
            None
        );
        let bob = Id {
            scheme: "digest".into(),
            id: digest_id("bob:secret"),
        };
        assert_eq!(
            fixup(
                &[acl(31, "auth", ""), acl(31, "auth", "x")],
                &[ip, bob.clone()]
            ),
            Some(vec![Acl { perms: 31, id: bob }])
        );
        assert!(fixup(&[acl(1, "ip", "10.0.0.0/8")], &[]).is_some());
        assert!(fixup(&[acl(1, "ip", "10.0.0.0/33")], &[]).is_none());
        assert!(fixup(&[acl(1, "digest", "a:b:c")], &[]).is_none());
        assert!(fixup(&[acl(1, "sasl", "x")], &[]).is_none());
        let dup = [acl(31, "world", "anyone"), acl(31, "world", "anyone")];
        assert_eq!(fixup(&dup, &[]).unwrap().len(), 1);
    }
}
