//! The function's start and answer (DEPLOY.md "Authorizer settings"): every start error
//! names the variable at fault, a key file is loaded at init and its tokens are allowed, the
//! extension's secret is not read before the first event, and a request without a valid REST
//! token is the error `Unauthorized`.

#![cfg(feature = "keyring")]

// In a `#[cfg(test)]` module so clippy treats it as test code (clippy.toml).
#[cfg(test)]
mod keyring {
    use std::collections::HashMap;
    use std::path::PathBuf;

    use tessera_authorizer::keyring::{AnswerError, AuthorizerConfig, KeyedAuthorizer};
    use tessera_authorizer::{Effect, LogFormat, Response};
    use tessera_config::{Vars, system_now};
    use tessera_keys::KeyFile;
    use tessera_token::{AccessClaims, Algorithm};

    const ISSUER: &str = "https://auth.example.com";
    const AUDIENCE: &str = "https://api.example.com";
    const METHOD_ARN: &str = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/GET/me";

    fn vars(pairs: &[(&str, &str)]) -> Vars<impl Fn(&str) -> Option<String>> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Vars::new(move |name: &str| map.get(name).cloned())
    }

    /// A key file of its own for one test, removed when dropped.
    struct KeyDir(PathBuf);

    impl KeyDir {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir()
                .join(format!("authorizer-keyring-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            Self(dir)
        }

        fn file(&self) -> PathBuf {
            self.0.join("keys.json")
        }
    }

    impl Drop for KeyDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn token_event(token: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "type": "TOKEN",
            "authorizationToken": format!("Bearer {token}"),
            "methodArn": METHOD_ARN,
        }))
        .unwrap()
    }

    fn claims() -> AccessClaims {
        let now = system_now();
        AccessClaims {
            iss: ISSUER.into(),
            sub: "usr_1".into(),
            aud: AUDIENCE.into(),
            exp: now + 600,
            iat: now - 10,
            nbf: now - 10,
            jti: "jti_1".into(),
            client_id: "tessera".into(),
            sid: "sid_1".into(),
            scope: "profile".into(),
        }
    }

    async fn start_error(pairs: &[(&str, &str)]) -> String {
        match KeyedAuthorizer::from_vars(&vars(pairs)).await {
            Ok(_) => panic!("started with {pairs:?}"),
            Err(error) => error.to_string(),
        }
    }

    #[tokio::test]
    async fn every_start_error_names_the_variable_at_fault() {
        let keys = KeyDir::new("errors");
        KeyFile::load_or_create(&keys.file(), Algorithm::Es256).unwrap();
        let file = keys.file().to_string_lossy().into_owned();
        let base = [
            ("ISSUER", ISSUER),
            ("AUDIENCE", AUDIENCE),
            ("KEY_FILE", file.as_str()),
        ];
        let with = |name: &'static str, value: &'static str| {
            let mut pairs: Vec<(&str, &str)> =
                base.iter().copied().filter(|(k, _)| *k != name).collect();
            pairs.push((name, value));
            pairs
        };
        for (name, value) in [
            ("ISSUER", ""),
            ("AUDIENCE", " "),
            ("TOKEN_LEEWAY", "61"),
            ("TOKEN_LEEWAY", "soon"),
            ("ACCESS_TOKEN_ALG", "none"),
            ("AUTHORIZER_SCOPE_RULES", "GET /me"),
            ("AUTHORIZER_SCOPE_RULES", "FETCH /me=admin"),
        ] {
            let message = start_error(&with(name, value)).await;
            assert!(message.starts_with(name), "{name}={value:?}: {message}");
        }
        let no_keys = start_error(&[("ISSUER", ISSUER), ("AUDIENCE", AUDIENCE)]).await;
        assert!(no_keys.contains("KEY_FILE"), "{no_keys}");
        let no_session = start_error(&[
            ("ISSUER", ISSUER),
            ("AUDIENCE", AUDIENCE),
            (
                "KEY_SECRET_ARN",
                "arn:aws:secretsmanager:us-east-1:1:secret:k",
            ),
        ])
        .await;
        assert!(no_session.contains("AWS_SESSION_TOKEN"), "{no_session}");
    }

    #[test]
    fn the_configuration_reads_the_shared_settings_the_rules_and_the_log_format() {
        let config = AuthorizerConfig::from_vars(&vars(&[
            ("ISSUER", ISSUER),
            ("AUDIENCE", AUDIENCE),
            ("TOKEN_LEEWAY", "5"),
            ("AUTHORIZER_SCOPE_RULES", "GET /admin/*=admin"),
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ]))
        .unwrap();
        assert_eq!(config.verify.leeway_secs, 5);
        assert_eq!(config.verify.alg, Algorithm::Es256);
        assert_eq!(config.rules.to_string(), "GET /admin/*=admin");
        assert_eq!(config.log_format, LogFormat::Json);
        let defaults =
            AuthorizerConfig::from_vars(&vars(&[("ISSUER", ISSUER), ("AUDIENCE", AUDIENCE)]))
                .unwrap();
        assert!(defaults.rules.is_empty());
        assert_eq!(defaults.log_format, LogFormat::Text);
    }

    #[tokio::test]
    async fn a_key_file_is_loaded_at_init_and_the_tokens_of_its_keys_are_allowed() {
        // Given a key file and the authorizer started on it,
        let keys = KeyDir::new("allow");
        let versions = KeyFile::load_or_create(&keys.file(), Algorithm::Es256).unwrap();
        let file = keys.file().to_string_lossy().into_owned();
        let authorizer = KeyedAuthorizer::from_vars(&vars(&[
            ("ISSUER", ISSUER),
            ("AUDIENCE", AUDIENCE),
            ("KEY_FILE", &file),
        ]))
        .await
        .unwrap();
        // when a token of those keys asks,
        let token = versions
            .key_set(Algorithm::Es256)
            .unwrap()
            .issue_access(&claims())
            .unwrap();
        let answer = authorizer
            .answer(&token_event(token.expose_secret()), "req-1")
            .await
            .unwrap();
        // then the answer is a policy allowing the method,
        let Response::Policy(policy) = answer else {
            panic!("a REST event gets a policy: {answer:?}")
        };
        assert_eq!(policy.evaluate(METHOD_ARN), Effect::Allow);
        assert_eq!(policy.principal_id, "usr_1");
        // and a token that does not verify is the error Unauthorized (401).
        let refused = authorizer.answer(&token_event("a.b.c"), "req-2").await;
        match refused {
            Err(error @ AnswerError::Unauthorized(_)) => {
                assert_eq!(error.to_string(), "Unauthorized")
            }
            other => panic!("expected Unauthorized, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn the_extensions_secret_is_read_on_the_first_event_not_at_init() {
        // Given KEY_SECRET_ARN and an extension port nothing listens on,
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port().to_string();
        drop(closed);
        // the authorizer starts (the extension does not answer during init),
        let authorizer = KeyedAuthorizer::from_vars(&vars(&[
            ("ISSUER", ISSUER),
            ("AUDIENCE", AUDIENCE),
            (
                "KEY_SECRET_ARN",
                "arn:aws:secretsmanager:us-east-1:1:secret:k",
            ),
            ("AWS_SESSION_TOKEN", "session"),
            ("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", &port),
        ]))
        .await
        .unwrap();
        // and its first event, with no keys to decide with, is a function error (500),
        // never an allow and never a 401.
        let answer = authorizer.answer(&token_event("a.b.c"), "req-1").await;
        assert!(
            matches!(answer, Err(AnswerError::Undecided(_))),
            "{answer:?}"
        );
    }
}
