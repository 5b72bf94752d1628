//! Password hashing with argon2id. Hashing is deliberately slow, so callers on the async
//! runtime go through [`hash_password_blocking`] / [`verify_password_blocking`].

use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};
use argon2::{Algorithm, Argon2, Params, Version};

/// How expensive a hash is. Production uses OWASP's argon2id floor (19 MiB, 2 passes);
/// tests use the cheapest parameters argon2 accepts, so suites stay fast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashCost {
    Production,
    Test,
}

fn hasher(cost: HashCost) -> Argon2<'static> {
    let params = match cost {
        HashCost::Production => Params::new(19 * 1024, 2, 1, None),
        HashCost::Test => Params::new(Params::MIN_M_COST, 1, 1, None),
    };
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        params.unwrap_or_default(),
    )
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("a password has at least 8 characters")]
    TooShort,
    #[error("hashing failed: {0}")]
    Hashing(String),
}

impl PasswordError {
    /// The refusal in Chinese, for the Chinese pages (a hashing failure keeps its English
    /// cause in brackets: it comes from argon2 or the runtime).
    pub fn zh(&self) -> String {
        match self {
            PasswordError::TooShort => "密码至少要有 8 个字符".to_owned(),
            PasswordError::Hashing(cause) => format!("密码加密处理失败（{cause}）"),
        }
    }
}

pub fn check_password_rules(password: &str) -> Result<(), PasswordError> {
    if password.chars().count() < 8 {
        Err(PasswordError::TooShort)
    } else {
        Ok(())
    }
}

/// An argon2id PHC string for `password`.
pub fn hash_password(password: &str, cost: HashCost) -> Result<String, PasswordError> {
    check_password_rules(password)?;
    hasher(cost)
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| PasswordError::Hashing(e.to_string()))
}

/// Whether `password` matches the stored PHC string. A malformed stored hash never matches.
pub fn verify_password(password: &str, stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

pub async fn hash_password_blocking(
    password: String,
    cost: HashCost,
) -> Result<String, PasswordError> {
    tokio::task::spawn_blocking(move || hash_password(&password, cost))
        .await
        .map_err(|e| PasswordError::Hashing(e.to_string()))?
}

pub async fn verify_password_blocking(password: String, stored: String) -> bool {
    tokio::task::spawn_blocking(move || verify_password(&password, &stored))
        .await
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let hash = hash_password("correct horse", HashCost::Test).expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse", &hash));
        assert!(!verify_password("correct horse", "not a phc string"));
        assert!(matches!(
            hash_password("short", HashCost::Test),
            Err(PasswordError::TooShort)
        ));
    }
}
