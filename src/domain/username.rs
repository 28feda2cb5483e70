//! Usernames: 1 to 64 characters of letters, digits and `. _ - @`, so they are safe in URLs, logs and pages.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(s: &str) -> Result<Username, String> {
        let ok = !s.is_empty()
            && s.chars().count() <= 64
            && s.chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
        if ok {
            Ok(Username(s.to_string()))
        } else {
            Err(format!(
                "invalid username {s:?}: use 1 to 64 letters, digits, '.', '_', '-' or '@'"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert!(Username::parse("alice").is_ok());
        assert!(Username::parse("a.b-c_d@example.com").is_ok());
        assert!(Username::parse("").is_err());
        assert!(Username::parse("has space").is_err());
        assert!(Username::parse("<script>").is_err());
        assert!(Username::parse(&"x".repeat(65)).is_err());
    }
}
