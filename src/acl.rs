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

/// The pseudo-identity that bypasses every ACL check.
pub fn super_id() -> Id {
    Id {
        scheme: "super".into(),
        id: String::new(),
    }
}

fn ip_matches(expr: &str, addr: &str) -> bool {
    let (net, bits) = match expr.split_once('/') {
        Some((a, b)) => (a, b.parse::<u32>().ok()),
        None => (expr, None),
    };
    let (Ok(net), Ok(addr)) = (
        net.parse::<std::net::IpAddr>(),
        addr.parse::<std::net::IpAddr>(),
    ) else {
        return false;
    };
    let (n, a, max): (u128, u128, u32) = match (net, addr) {
        (std::net::IpAddr::V4(n), std::net::IpAddr::V4(a)) => {
            (u32::from(n) as u128, u32::from(a) as u128, 32)
        }
        (std::net::IpAddr::V6(n), std::net::IpAddr::V6(a)) => (u128::from(n), u128::from(a), 128),
        _ => return false,
    };
    let bits = bits.unwrap_or(max).min(max);
    if bits == 0 {
        return true;
    }
    let shift = max - bits;
    (n >> shift) == (a >> shift)
}

/// ZooKeeper's `checkACL`: may a connection holding `ids` do `perm` on a
/// node with `acl`?
pub fn allowed(acl: &[Acl], perm: i32, ids: &[Id]) -> bool {
    if acl.is_empty() || ids.iter().any(|i| i.scheme == "super") {
        return true;
    }
    acl.iter().any(|a| {
        if a.perms & perm == 0 {
            return false;
        }
        if a.id.scheme == "world" && a.id.id == "anyone" {
            return true;
        }
        ids.iter().any(|id| {
            id.scheme == a.id.scheme
                && match a.id.scheme.as_str() {
                    "ip" => ip_matches(&a.id.id, &id.id),
                    _ => a.id.id == id.id,
                }
        })
    })
}

/// getACL without ADMIN: digest ids lose their hash (`bob:x`).
pub fn mask_digests(acl: Vec<Acl>) -> Vec<Acl> {
    acl.into_iter()
        .map(|mut a| {
            if a.id.scheme == "digest" {
                if let Some((user, _)) = a.id.id.split_once(':') {
                    a.id.id = format!("{user}:x");
                }
            }
            a
        })
        .collect()
}

#[cfg(test)]
mod check_tests {
    use super::*;

    fn id(s: &str, i: &str) -> Id {
        Id {
            scheme: s.into(),
            id: i.into(),
        }
    }

    #[test]
    fn check_acl_rules() {
        let acl = vec![
            Acl {
                perms: jute::perms::READ,
                id: id("ip", "10.1.0.0/16"),
            },
            Acl {
                perms: jute::perms::ALL,
                id: id("digest", &digest_id("bob:secret")),
            },
        ];
        let ip = id("ip", "10.1.2.3");
        assert!(allowed(&acl, jute::perms::READ, std::slice::from_ref(&ip)));
        assert!(!allowed(
            &acl,
            jute::perms::WRITE,
            std::slice::from_ref(&ip)
        ));
        assert!(!allowed(&acl, jute::perms::READ, &[id("ip", "10.2.0.1")]));
        assert!(!allowed(&acl, jute::perms::READ, &[id("ip", "::1")]));
        let bob = id("digest", &digest_id("bob:secret"));
        assert!(allowed(&acl, jute::perms::ADMIN, &[ip.clone(), bob]));
        assert!(allowed(&acl, jute::perms::ADMIN, &[super_id()]));
        assert!(allowed(&[], jute::perms::ADMIN, &[]));
        assert!(ip_matches("::1", "::1"));
        assert!(ip_matches("0.0.0.0/0", "1.2.3.4"));
        assert_eq!(mask_digests(acl)[1].id.id, "bob:x".to_string());
    }
}
