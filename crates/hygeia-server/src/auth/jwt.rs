//! API tokens as Iaso issues them (djangorestframework-simplejwt): HS256 JWTs with `token_type`,
//! `exp`, `iat`, `jti` and `user_id`; an access/refresh pair. Each refresh also issues a new refresh
//! token; earlier ones stay valid until they expire or the password changes.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

use hygeia_core::UserId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    Access,
    Refresh,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub token_type: TokenType,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub user_id: i64,
}

/// Signs and checks tokens with one key and fixed lifetimes.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    access_ttl: i64,
    refresh_ttl: i64,
}

#[derive(Debug, Serialize)]
pub struct TokenPair {
    pub refresh: String,
    pub access: String,
}

impl TokenKeys {
    pub fn new(secret: &[u8], access_ttl_secs: u64, refresh_ttl_secs: u64) -> Self {
        TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            access_ttl: i64::try_from(access_ttl_secs).unwrap_or(i64::MAX / 2),
            refresh_ttl: i64::try_from(refresh_ttl_secs).unwrap_or(i64::MAX / 2),
        }
    }

    pub fn issue_pair(&self, user: UserId) -> TokenPair {
        let now = chrono::Utc::now().timestamp();
        TokenPair {
            refresh: self.sign(TokenType::Refresh, user, now, self.refresh_ttl),
            access: self.sign(TokenType::Access, user, now, self.access_ttl),
        }
    }

    fn sign(&self, token_type: TokenType, user: UserId, now: i64, ttl: i64) -> String {
        let claims =
            Claims { token_type, exp: now.saturating_add(ttl), iat: now, jti: random_hex(16), user_id: user.0 };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).expect("HS256 signing cannot fail")
    }

    /// The user a token speaks for and when it was issued, if it is well-formed, correctly
    /// signed, unexpired and of the expected type. The caller still checks the user is active and
    /// the token not older than the user's last password change.
    pub fn verify(&self, token: &str, expected: TokenType) -> Option<VerifiedToken> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        let data = decode::<Claims>(token, &self.decoding, &validation).ok()?;
        (data.claims.token_type == expected)
            .then_some(VerifiedToken { user: UserId(data.claims.user_id), issued_at: data.claims.iat })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedToken {
    pub user: UserId,
    /// Unix seconds.
    pub issued_at: i64,
}

/// `bytes` random bytes, hex-encoded.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the operating system provides randomness");
    hex::encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_only_with_their_key_type_and_lifetime() {
        let keys = TokenKeys::new(b"secret", 60, 120);
        let pair = keys.issue_pair(UserId(7));
        assert_eq!(keys.verify(&pair.access, TokenType::Access).map(|t| t.user), Some(UserId(7)));
        assert_eq!(keys.verify(&pair.refresh, TokenType::Refresh).map(|t| t.user), Some(UserId(7)));
        assert_eq!(keys.verify(&pair.refresh, TokenType::Access), None, "a refresh token is not an access token");
        assert_eq!(keys.verify(&pair.access, TokenType::Refresh), None);
        assert_eq!(TokenKeys::new(b"other", 60, 120).verify(&pair.access, TokenType::Access), None);
        assert_eq!(keys.verify("not.a.token", TokenType::Access), None);

        let expired = TokenKeys::new(b"secret", 0, 0).sign(TokenType::Access, UserId(7), 1_000, 10);
        assert_eq!(keys.verify(&expired, TokenType::Access), None);
    }

    #[test]
    fn claims_have_simplejwt_shape() {
        let keys = TokenKeys::new(b"secret", 3600, 7200);
        let access = keys.issue_pair(UserId(3)).access;
        let payload = access.split('.').nth(1).unwrap();
        use base64::Engine;
        let json: serde_json::Value =
            serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert_eq!(json["token_type"], "access");
        assert_eq!(json["user_id"], 3);
        assert_eq!(json["exp"].as_i64().unwrap() - json["iat"].as_i64().unwrap(), 3600);
        assert_eq!(json["jti"].as_str().unwrap().len(), 32);
    }
}
