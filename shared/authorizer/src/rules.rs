//! Route -> required-scope rules.

use std::fmt;
use std::str::FromStr;

/// Optional rules saying which scope a route requires, e.g.
/// `GET /admin/*=admin;DELETE /auth/sessions/*=sessions:write`.
///
/// Each rule is `METHOD PATH=SCOPE`, rules are separated by `;`, whitespace around a rule is
/// ignored and so are empty rules (a trailing `;`).
/// - `METHOD` is an HTTP method (`GET`, `POST`, `PUT`, `PATCH`, `DELETE`, `HEAD`, `OPTIONS`,
///   any case), or `*` / `ANY` for every method.
/// - `PATH` starts with `/`. Without `*` it matches exactly that path. A last segment `*`
///   (`/admin/*`) matches every path below the prefix (one or more further segments), never
///   the prefix itself (`/admin`). Like IAM's `*`, which enforces the rule on a REST API, it
///   also matches a trailing slash (`/admin/`), and `/*` matches every path including `/`.
///   `*` anywhere else is an error. Repeated slashes in a request path are ignored when
///   matching, so `//admin//x` cannot slip past `/admin/*`.
/// - `SCOPE` is one scope token (RFC 6749 §3.3); the access token's space-separated `scope`
///   claim must contain it.
///
/// A request must satisfy every rule that matches it; a route no rule matches needs only a
/// valid token. No rules at all (the default) means every valid token is allowed everywhere.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScopeRules {
    rules: Vec<ScopeRule>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ScopeRule {
    /// Upper case; `None` is any method.
    method: Option<String>,
    /// The path's segments, without the trailing `*`.
    segments: Vec<String>,
    /// The path ended in `/*`.
    wildcard: bool,
    scope: String,
}

/// Why a rule string could not be parsed. Rules are numbered from 1 in the order written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScopeRulesError {
    /// A rule has no `=` between the route and the scope.
    #[error("scope rule {rule}: expected `METHOD /path=scope`, found {text:?}")]
    MissingEquals {
        /// The rule's number.
        rule: usize,
        /// The rule as written.
        text: String,
    },
    /// A rule's route is not `METHOD /path`.
    #[error("scope rule {rule}: expected `METHOD /path` before `=`, found {text:?}")]
    MissingPath {
        /// The rule's number.
        rule: usize,
        /// The route as written.
        text: String,
    },
    /// The method is not one API Gateway routes.
    #[error(
        "scope rule {rule}: unknown method {method:?} (use GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS, * or ANY)"
    )]
    BadMethod {
        /// The rule's number.
        rule: usize,
        /// The method as written.
        method: String,
    },
    /// The path is not a valid pattern.
    #[error("scope rule {rule}: invalid path {path:?}: {reason}")]
    BadPath {
        /// The rule's number.
        rule: usize,
        /// The path as written.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The scope is empty or not a single RFC 6749 scope token.
    #[error("scope rule {rule}: invalid scope {scope:?}: must be one scope token without spaces")]
    BadScope {
        /// The rule's number.
        rule: usize,
        /// The scope as written.
        scope: String,
    },
}

const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

impl ScopeRules {
    /// No rules: every valid token is allowed on every route.
    pub fn none() -> Self {
        Self::default()
    }

    /// Parses `METHOD /path=scope;METHOD /path=scope`. See the type's docs for the syntax.
    pub fn parse(s: &str) -> Result<Self, ScopeRulesError> {
        let mut rules = Vec::new();
        for (index, text) in s.split(';').enumerate() {
            let text = text.trim();
            if !text.is_empty() {
                rules.push(ScopeRule::parse(index.saturating_add(1), text)?);
            }
        }
        Ok(Self { rules })
    }

    /// True when there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// How many rules there are.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// The scopes a request for `method` and `path` requires: one per matching rule.
    pub fn required_scopes<'r>(
        &'r self,
        method: &'r str,
        path: &'r str,
    ) -> impl Iterator<Item = &'r str> + 'r {
        self.rules
            .iter()
            .filter(move |rule| rule.matches(method, path))
            .map(|rule| rule.scope.as_str())
    }

    /// The first scope the request requires that `granted` (a space-separated `scope`
    /// claim) lacks, or `None` when the request is allowed.
    pub fn missing_scope<'r>(&'r self, method: &str, path: &str, granted: &str) -> Option<&'r str> {
        self.rules
            .iter()
            .find(|rule| rule.matches(method, path) && !has_scope(granted, &rule.scope))
            .map(|rule| rule.scope.as_str())
    }

    /// The rules whose scope `granted` lacks: the routes a token with that claim must not
    /// reach.
    pub(crate) fn unmet<'r>(&'r self, granted: &'r str) -> impl Iterator<Item = &'r ScopeRule> {
        self.rules
            .iter()
            .filter(move |rule| !has_scope(granted, &rule.scope))
    }
}

impl FromStr for ScopeRules {
    type Err = ScopeRulesError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Writes the rules back in the syntax [`ScopeRules::parse`] reads, for start-up logs.
impl fmt::Display for ScopeRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, rule) in self.rules.iter().enumerate() {
            if i > 0 {
                f.write_str(";")?;
            }
            write!(f, "{} ", rule.method.as_deref().unwrap_or("*"))?;
            if rule.segments.is_empty() && !rule.wildcard {
                f.write_str("/")?;
            }
            for segment in &rule.segments {
                write!(f, "/{segment}")?;
            }
            if rule.wildcard {
                f.write_str("/*")?;
            }
            write!(f, "={}", rule.scope)?;
        }
        Ok(())
    }
}

/// Whether a space-separated scope claim contains `scope` as a whole token.
pub(crate) fn has_scope(granted: &str, scope: &str) -> bool {
    granted.split(' ').any(|s| s == scope)
}

impl ScopeRule {
    fn parse(rule: usize, text: &str) -> Result<Self, ScopeRulesError> {
        let Some((route, scope)) = text.split_once('=') else {
            return Err(ScopeRulesError::MissingEquals {
                rule,
                text: text.to_owned(),
            });
        };
        let route = route.trim();
        let scope = scope.trim();
        let Some((method, path)) = route.split_once(char::is_whitespace) else {
            return Err(ScopeRulesError::MissingPath {
                rule,
                text: route.to_owned(),
            });
        };
        let path = path.trim();
        let method = match method.to_ascii_uppercase().as_str() {
            "*" | "ANY" => None,
            upper if METHODS.contains(&upper) => Some(upper.to_owned()),
            _ => {
                return Err(ScopeRulesError::BadMethod {
                    rule,
                    method: method.to_owned(),
                });
            }
        };
        let (segments, wildcard) = parse_path(path).map_err(|reason| ScopeRulesError::BadPath {
            rule,
            path: path.to_owned(),
            reason,
        })?;
        if scope.is_empty() || !scope.bytes().all(is_scope_char) {
            return Err(ScopeRulesError::BadScope {
                rule,
                scope: scope.to_owned(),
            });
        }
        Ok(Self {
            method,
            segments,
            wildcard,
            scope: scope.to_owned(),
        })
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        if let Some(required) = &self.method
            && !required.eq_ignore_ascii_case(method)
        {
            return false;
        }
        let mut request = path.split('/').filter(|s| !s.is_empty());
        for segment in &self.segments {
            if request.next() != Some(segment.as_str()) {
                return false;
            }
        }
        if self.wildcard {
            request.next().is_some() || path.ends_with('/')
        } else {
            request.next().is_none()
        }
    }

    /// The IAM resource patterns (the part after `{apiId}/{stage}/`) that cover what this
    /// rule matches, for the explicit Deny statements of a REST policy.
    pub(crate) fn resources(&self) -> impl Iterator<Item = String> + '_ {
        let method = self.method.as_deref().unwrap_or("*");
        let path = self.segments.join("/");
        let mut first = format!("{method}/{path}");
        let second = if self.wildcard {
            if !path.is_empty() {
                first.push('/');
            }
            first.push('*');
            None
        } else if path.is_empty() {
            None
        } else {
            // An exact rule also matches its path with a trailing slash; IAM does not, so
            // that variant is denied explicitly too.
            Some(format!("{first}/"))
        };
        std::iter::once(first).chain(second)
    }
}

/// Splits a rule's path into segments and whether it ends in `/*`.
fn parse_path(path: &str) -> Result<(Vec<String>, bool), &'static str> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err("must start with '/'");
    };
    if rest.is_empty() {
        return Ok((Vec::new(), false));
    }
    let mut segments: Vec<&str> = rest.split('/').collect();
    let wildcard = segments.last() == Some(&"*");
    if wildcard {
        segments.pop();
    }
    for segment in &segments {
        if segment.is_empty() {
            return Err("empty segment (a doubled or trailing '/')");
        }
        if segment.contains('*') {
            return Err("'*' may only be the whole last segment");
        }
        if !segment.bytes().all(is_path_char) {
            return Err("characters outside an URL path segment");
        }
    }
    Ok((segments.into_iter().map(str::to_owned).collect(), wildcard))
}

/// RFC 3986 pchar, minus the characters that are wildcards in IAM resources (`*`, `?`) or
/// separators in the rule syntax (`;`, `=`).
fn is_path_char(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'+'
                | b','
                | b':'
                | b'@'
                | b'%'
                | b'{'
                | b'}'
        )
}

/// RFC 6749 §3.3 scope-token characters: `%x21 / %x23-5B / %x5D-7E`.
fn is_scope_char(b: u8) -> bool {
    b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let rules =
            ScopeRules::parse("GET /admin/*=admin;DELETE /auth/sessions/*=sessions:write").unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(
            rules.to_string(),
            "GET /admin/*=admin;DELETE /auth/sessions/*=sessions:write"
        );
        let round_trip: ScopeRules = rules.to_string().parse().unwrap();
        assert_eq!(round_trip, rules);
    }

    #[test]
    fn accepts_whitespace_empty_rules_any_method_and_case() {
        let rules = ScopeRules::parse(" get /me = profile ; * /a/*=x;ANY /=root; ").unwrap();
        assert_eq!(rules.to_string(), "GET /me=profile;* /a/*=x;* /=root");
        assert!(ScopeRules::parse("").unwrap().is_empty());
        assert!(ScopeRules::parse(" ; ").unwrap().is_empty());
        assert_eq!(ScopeRules::none(), ScopeRules::default());
    }

    #[test]
    fn wildcard_matches_one_or_more_trailing_segments_never_the_prefix() {
        let rules = ScopeRules::parse("GET /admin/*=admin").unwrap();
        let required = |m, p| rules.required_scopes(m, p).collect::<Vec<_>>();
        assert_eq!(required("GET", "/admin/users"), ["admin"]);
        assert_eq!(required("GET", "/admin/users/42"), ["admin"]);
        assert_eq!(required("GET", "/admin/"), ["admin"]);
        assert_eq!(required("GET", "//admin//users"), ["admin"]);
        assert_eq!(required("get", "/admin/users"), ["admin"]);
        assert!(required("GET", "/admin").is_empty());
        assert!(required("GET", "/administrator/x").is_empty());
        assert!(required("GET", "/Admin/users").is_empty());
        assert!(required("POST", "/admin/users").is_empty());
        assert!(required("GET", "/me").is_empty());
    }

    #[test]
    fn exact_paths_match_only_themselves() {
        let rules = ScopeRules::parse("* /me=profile;GET /=root").unwrap();
        let required = |m, p| rules.required_scopes(m, p).collect::<Vec<_>>();
        assert_eq!(required("GET", "/me"), ["profile"]);
        assert_eq!(required("DELETE", "/me/"), ["profile"]);
        assert!(required("GET", "/me/x").is_empty());
        assert!(required("GET", "/mex").is_empty());
        assert_eq!(required("GET", "/"), ["root"]);
        assert!(required("POST", "/").is_empty());
    }

    #[test]
    fn root_wildcard_matches_every_path() {
        let rules = ScopeRules::parse("POST /*=write").unwrap();
        for path in ["/", "/a", "/a/b/c"] {
            assert_eq!(
                rules.required_scopes("POST", path).collect::<Vec<_>>(),
                ["write"]
            );
        }
    }

    #[test]
    fn every_matching_rule_applies() {
        let rules =
            ScopeRules::parse("* /admin/*=admin;DELETE /admin/users/*=users:delete").unwrap();
        assert_eq!(
            rules
                .required_scopes("DELETE", "/admin/users/1")
                .collect::<Vec<_>>(),
            ["admin", "users:delete"]
        );
        assert_eq!(
            rules.missing_scope("DELETE", "/admin/users/1", "admin"),
            Some("users:delete")
        );
        assert_eq!(
            rules.missing_scope("DELETE", "/admin/users/1", "users:delete admin"),
            None
        );
        assert_eq!(
            rules.missing_scope("GET", "/admin/x", "openid administrator"),
            Some("admin")
        );
        assert_eq!(rules.missing_scope("GET", "/me", ""), None);
    }

    #[test]
    fn rule_resources_cover_what_the_rule_matches() {
        let resources = |s: &str| {
            let rules = ScopeRules::parse(s).unwrap();
            rules
                .rules
                .iter()
                .flat_map(ScopeRule::resources)
                .collect::<Vec<_>>()
        };
        assert_eq!(resources("GET /admin/*=a"), ["GET/admin/*"]);
        assert_eq!(resources("ANY /admin/*=a"), ["*/admin/*"]);
        assert_eq!(
            resources("DELETE /auth/sessions/*=a"),
            ["DELETE/auth/sessions/*"]
        );
        assert_eq!(resources("GET /me=a"), ["GET/me", "GET/me/"]);
        assert_eq!(resources("GET /=a"), ["GET/"]);
        assert_eq!(resources("GET /*=a"), ["GET/*"]);
    }

    #[test]
    fn reports_clear_errors() {
        let err = |s: &str| ScopeRules::parse(s).unwrap_err().to_string();
        assert_eq!(
            err("GET /admin/*"),
            "scope rule 1: expected `METHOD /path=scope`, found \"GET /admin/*\""
        );
        assert_eq!(
            err("GET /a=x;/admin=admin"),
            "scope rule 2: expected `METHOD /path` before `=`, found \"/admin\""
        );
        assert_eq!(
            err("FETCH /a=x"),
            "scope rule 1: unknown method \"FETCH\" (use GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS, * or ANY)"
        );
        assert_eq!(
            err("GET admin=x"),
            "scope rule 1: invalid path \"admin\": must start with '/'"
        );
        assert_eq!(
            err("GET /a/*/b=x"),
            "scope rule 1: invalid path \"/a/*/b\": '*' may only be the whole last segment"
        );
        assert_eq!(
            err("GET /adm*=x"),
            "scope rule 1: invalid path \"/adm*\": '*' may only be the whole last segment"
        );
        assert_eq!(
            err("GET /a/=x"),
            "scope rule 1: invalid path \"/a/\": empty segment (a doubled or trailing '/')"
        );
        assert_eq!(
            err("GET /a?b=x"),
            "scope rule 1: invalid path \"/a?b\": characters outside an URL path segment"
        );
        assert_eq!(
            err("GET /a="),
            "scope rule 1: invalid scope \"\": must be one scope token without spaces"
        );
        assert_eq!(
            err("GET /a=read write"),
            "scope rule 1: invalid scope \"read write\": must be one scope token without spaces"
        );
    }
}
