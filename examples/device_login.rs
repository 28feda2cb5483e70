//! Signs a command-line tool in with the device authorization grant (RFC 8628): prints where to go and the
//! code to enter, polls Porta until the person allows or denies on `/device`, then prints the token response
//! as JSON on standard output (messages go to standard error).
//!
//! ```text
//! porta client add --name "My CLI" --public --grant-type device_code --grant-type refresh_token
//! cargo run --example device_login -- --issuer http://127.0.0.1:8080 --client-id ID --scope "openid profile offline_access"
//! ```
//!
//! Arguments or environment: `--issuer` / `DEVICE_ISSUER` (default `http://127.0.0.1:8080`), `--client-id` /
//! `DEVICE_CLIENT_ID`, `--client-secret` / `DEVICE_CLIENT_SECRET` (only for a confidential client), `--scope` /
//! `DEVICE_SCOPE` (default `openid profile`). Endpoints come from Porta's discovery document.

#[path = "device_login/flow.rs"]
mod flow;

fn arg(name: &str, env: &str, default: Option<&str>) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == &format!("--{name}"))
        .and_then(|i| args.get(i + 1).cloned())
        .or_else(|| std::env::var(env).ok())
        .or_else(|| default.map(str::to_string))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let Some(client_id) = arg("client-id", "DEVICE_CLIENT_ID", None) else {
        eprintln!("--client-id (or DEVICE_CLIENT_ID) is required");
        return std::process::ExitCode::from(2);
    };
    let config = flow::Config {
        issuer: arg("issuer", "DEVICE_ISSUER", Some("http://127.0.0.1:8080"))
            .unwrap_or_default()
            .trim_end_matches('/')
            .to_string(),
        client_id,
        client_secret: arg("client-secret", "DEVICE_CLIENT_SECRET", None),
        scope: arg("scope", "DEVICE_SCOPE", Some("openid profile")).unwrap_or_default(),
    };
    let http = reqwest::Client::new();
    let show = |a: &flow::DeviceAuthorization| {
        eprintln!(
            "To sign in, open {} and enter the code {}",
            a.verification_uri, a.user_code
        );
        if let Some(link) = &a.verification_uri_complete {
            eprintln!("(or open {link} and confirm the code)");
        }
        eprintln!(
            "Waiting for approval; the code expires in {} minutes.",
            a.expires_in / 60
        );
    };
    match flow::login(&http, &config, show, tokio::time::sleep).await {
        Ok(tokens) => {
            eprintln!("Signed in.");
            println!(
                "{}",
                serde_json::to_string_pretty(&tokens).unwrap_or_default()
            );
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("Sign-in failed: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
