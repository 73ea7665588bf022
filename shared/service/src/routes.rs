//! The one route table: every route of the product, the function that serves it, and whether
//! the authorizer runs first. template.yaml declares exactly these (a test parses it and
//! compares), `tessera serve` routes and protects by it, and the tests and the Lambda report
//! take their list of functions from [`Function::ALL`].

/// One deployment unit: a Lambda function with its own binary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Function {
    /// `POST /auth/login`.
    Login,
    /// `POST /auth/refresh`.
    Refresh,
    /// `POST /auth/logout`.
    Logout,
    /// The caller's sessions: list, revoke one, revoke all.
    Sessions,
    /// The JWKS and the discovery document.
    Jwks,
    /// `GET /me`, the demo integration behind the authorizer.
    Me,
    /// The API Gateway Lambda authorizer (no route of its own: it runs before the protected
    /// ones).
    Authorizer,
    /// The authorizer that also checks the token's session in the table
    /// (`AUTHORIZER_REVOCATION_CHECK=session`): deployed instead of [`Function::Authorizer`]
    /// when the template's `AuthorizerRevocationCheck` is `session`.
    CheckedAuthorizer,
}

impl Function {
    /// Every function the template declares, in the template's order (a deployment runs one
    /// of the two authorizers).
    pub const ALL: [Function; 8] = [
        Function::Login,
        Function::Refresh,
        Function::Logout,
        Function::Sessions,
        Function::Jwks,
        Function::Me,
        Function::Authorizer,
        Function::CheckedAuthorizer,
    ];

    /// The binary's name (`cargo build --bin`, the template's `BuildProperties.Binary`).
    pub const fn binary(self) -> &'static str {
        match self {
            Function::Login => "tessera-login",
            Function::Refresh => "tessera-refresh",
            Function::Logout => "tessera-logout",
            Function::Sessions => "tessera-sessions",
            Function::Jwks => "tessera-jwks",
            Function::Me => "tessera-me",
            Function::Authorizer => "tessera-authorizer",
            Function::CheckedAuthorizer => "tessera-authorizer-checked",
        }
    }

    /// The function's logical id in template.yaml.
    pub const fn logical_id(self) -> &'static str {
        match self {
            Function::Login => "LoginFunction",
            Function::Refresh => "RefreshFunction",
            Function::Logout => "LogoutFunction",
            Function::Sessions => "SessionsFunction",
            Function::Jwks => "JwksFunction",
            Function::Me => "MeFunction",
            Function::Authorizer => "AuthorizerFunction",
            Function::CheckedAuthorizer => "CheckedAuthorizerFunction",
        }
    }

    /// The routes this function serves.
    pub fn routes(self) -> impl Iterator<Item = &'static Route> {
        ROUTES.iter().filter(move |r| r.function == self)
    }
}

/// One route: what API Gateway matches and what it does before the integration runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// The HTTP method, upper case.
    pub method: &'static str,
    /// The API Gateway resource path; `{name}` captures one path segment.
    pub path: &'static str,
    /// The function that serves it.
    pub function: Function,
    /// Whether the authorizer must allow the request first.
    pub protected: bool,
    /// A scope every caller needs, whatever `AUTHORIZER_SCOPE_RULES` adds. None of Tessera's
    /// own routes requires one; the column is here so a route that does says so in one place.
    pub scope: Option<&'static str>,
}

const fn public(method: &'static str, path: &'static str, function: Function) -> Route {
    Route {
        method,
        path,
        function,
        protected: false,
        scope: None,
    }
}

const fn protected(method: &'static str, path: &'static str, function: Function) -> Route {
    Route {
        method,
        path,
        function,
        protected: true,
        scope: None,
    }
}

/// Every route of the product. docs/API.md documents each.
pub const ROUTES: &[Route] = &[
    public("POST", "/auth/login", Function::Login),
    public("POST", "/auth/refresh", Function::Refresh),
    public("POST", "/auth/logout", Function::Logout),
    protected("GET", "/auth/sessions", Function::Sessions),
    protected("DELETE", "/auth/sessions", Function::Sessions),
    protected("DELETE", "/auth/sessions/{sid}", Function::Sessions),
    public("GET", "/.well-known/jwks.json", Function::Jwks),
    public("GET", "/.well-known/openid-configuration", Function::Jwks),
    protected("GET", "/me", Function::Me),
];

impl Route {
    /// Whether a (normalised) request path matches this route's resource path: the same
    /// segments, a `{name}` standing for exactly one non-empty segment.
    pub fn matches_path(&self, path: &str) -> bool {
        let mut template = self.path.split('/');
        let mut actual = path.split('/');
        loop {
            match (template.next(), actual.next()) {
                (None, None) => return true,
                (Some(t), Some(a)) if t.starts_with('{') && t.ends_with('}') => {
                    if a.is_empty() {
                        return false;
                    }
                }
                (Some(t), Some(a)) if t == a => {}
                _ => return false,
            }
        }
    }

    /// The route a request is for: the same method and a matching path.
    pub fn find(method: &str, path: &str) -> Option<&'static Route> {
        ROUTES
            .iter()
            .find(|r| r.method == method && r.matches_path(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_function_but_the_authorizers_serves_a_route_and_binaries_are_unique() {
        for function in Function::ALL {
            let served = function.routes().count();
            match function {
                Function::Authorizer | Function::CheckedAuthorizer => assert_eq!(served, 0),
                _ => assert!(served > 0, "{function:?} serves nothing"),
            }
        }
        let mut binaries: Vec<_> = Function::ALL.iter().map(|f| f.binary()).collect();
        binaries.sort_unstable();
        binaries.dedup();
        assert_eq!(binaries.len(), Function::ALL.len());
    }

    #[test]
    fn a_request_finds_its_route_by_method_and_path() {
        let one = Route::find("DELETE", "/auth/sessions/abc").unwrap();
        assert_eq!((one.path, one.protected), ("/auth/sessions/{sid}", true));
        assert_eq!(
            Route::find("DELETE", "/auth/sessions").unwrap().path,
            "/auth/sessions"
        );
        assert!(!Route::find("POST", "/auth/login").unwrap().protected);
        assert_eq!(Route::find("GET", "/auth/login"), None);
        assert_eq!(Route::find("DELETE", "/auth/sessions/"), None);
        assert_eq!(Route::find("DELETE", "/auth/sessions/a/b"), None);
        assert_eq!(Route::find("GET", "/nowhere"), None);
    }
}
