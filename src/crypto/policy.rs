//! The password policy for new passwords (CLI, console, self-service, the bootstrap admin): a minimum length
//! (`passwords.min_length`) and a guessability check with `zxcvbn`, whose dictionaries hold the most common
//! passwords of public breaches, English words and names, keyboard patterns and dates. Sign-in never applies it:
//! an old password that no longer fits still signs in (the admin can set a new one).

/// Longest password accepted: argon2 takes any length, but a bound keeps requests small.
pub const MAX_LENGTH: usize = 1024;

/// zxcvbn scores 0 to 4; 3 means about 10^8 guesses or more ("safely unguessable" for an online attack against
/// throttled sign-in, and slow enough offline with argon2id).
const MIN_SCORE: u8 = 3;

/// Checks a new password. `context` holds words an attacker would try first (username, email, name). The error
/// says what to change.
pub fn check(password: &str, min_length: usize, context: &[&str]) -> Result<(), String> {
    let length = password.chars().count();
    if length < min_length {
        return Err(format!(
            "The password must be at least {min_length} characters long."
        ));
    }
    if length > MAX_LENGTH {
        return Err(format!(
            "The password must be at most {MAX_LENGTH} characters long."
        ));
    }
    let mut inputs: Vec<&str> = context.iter().copied().filter(|w| !w.is_empty()).collect();
    inputs.push("porta");
    let estimate = zxcvbn::zxcvbn(password, &inputs);
    if u8::from(estimate.score()) < MIN_SCORE {
        let why = estimate
            .feedback()
            .and_then(|f| f.warning())
            .map(|w| format!(" ({w})"))
            .unwrap_or_default();
        return Err(format!(
            "This password is too common or too easy to guess{why}. Choose a longer one, for example a few \
             unrelated words, and avoid names, dates and well-known passwords."
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn short_passwords_are_refused_with_the_length_to_reach() {
        let e = check("Tr0ub4dor&3", 12, &[]).unwrap_err();
        assert!(e.contains("at least 12 characters"), "{e}");
        assert!(
            check("x", 1, &[]).is_err(),
            "long enough but trivially guessable"
        );
    }

    #[test]
    fn common_passwords_are_refused() {
        for pw in [
            "password1234",
            "123456789012",
            "qwertyuiopasdf",
            "iloveyou12345",
        ] {
            let e = check(pw, 12, &[]).unwrap_err();
            assert!(e.contains("too common"), "{pw}: {e}");
        }
        let e = check("aliceliddell1", 12, &["aliceliddell"]).unwrap_err();
        assert!(e.contains("too common"), "{e}");
    }

    #[test]
    fn random_and_passphrase_passwords_pass() {
        assert_eq!(check("quartz-lantern-meadow-71", 12, &["alice"]), Ok(()));
        assert_eq!(check("hT4kP9xQm2Lw", 12, &[]), Ok(()));
        assert_eq!(
            check(&"a".repeat(1025), 12, &[]).unwrap_err(),
            "The password must be at most 1024 characters long."
        );
    }
}
