//! The `methodArn` of a REST authorizer event.

/// `arn:{partition}:execute-api:{region}:{account}:{apiId}/{stage}/{METHOD}/{resource path}`,
/// split without copying.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MethodArn<'a> {
    /// Everything up to and including the stage: the prefix of every resource in the policy.
    pub(crate) api_stage: &'a str,
    /// The HTTP method.
    pub(crate) method: &'a str,
    /// The request path without its leading `/` (empty for the root).
    pub(crate) path: &'a str,
}

impl<'a> MethodArn<'a> {
    /// Parses an ARN API Gateway built; `None` for anything else.
    pub(crate) fn parse(arn: &'a str) -> Option<Self> {
        let mut fields = arn.splitn(6, ':');
        let (Some("arn"), Some(partition), Some("execute-api"), Some(region), Some(account)) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        ) else {
            return None;
        };
        let resource = fields.next()?;
        if [partition, region, account].iter().any(|f| f.is_empty()) {
            return None;
        }
        let mut parts = resource.splitn(4, '/');
        let (Some(api_id), Some(stage), Some(method)) = (parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        if [api_id, stage, method].iter().any(|f| f.is_empty()) {
            return None;
        }
        let path = parts.next().unwrap_or("");
        let api_stage_len = arn.len() - resource.len() + api_id.len() + 1 + stage.len();
        Some(Self {
            api_stage: arn.get(..api_stage_len)?,
            method,
            path,
        })
    }

    /// The request path with its leading `/`, for matching scope rules. Allocates only for
    /// a REST event that has no `path` of its own (TOKEN).
    pub(crate) fn resource_path(&self) -> String {
        format!("/{}", self.path)
    }

    /// The policy resource for `{method}/{path}` (an IAM pattern) under this API and stage.
    pub(crate) fn resource(&self, method_and_path: &str) -> String {
        format!("{}/{}", self.api_stage, method_and_path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_a_method_arn() {
        let arn = MethodArn::parse(
            "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/prod/GET/admin/users/42",
        )
        .unwrap();
        assert_eq!(
            arn.api_stage,
            "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/prod"
        );
        assert_eq!(arn.method, "GET");
        assert_eq!(arn.path, "admin/users/42");
        assert_eq!(arn.resource_path(), "/admin/users/42");
        assert_eq!(
            arn.resource("*/*"),
            "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/prod/*/*"
        );
    }

    #[test]
    fn root_path_and_other_partitions() {
        let arn =
            MethodArn::parse("arn:aws-cn:execute-api:cn-north-1:123456789012:abc/$default/GET/")
                .unwrap();
        assert_eq!(
            arn.api_stage,
            "arn:aws-cn:execute-api:cn-north-1:123456789012:abc/$default"
        );
        assert_eq!(arn.resource_path(), "/");
        let test_invoke =
            MethodArn::parse("arn:aws:execute-api:us-west-2:123456789012:ymy8tbxw7b/*/GET/")
                .unwrap();
        assert_eq!(
            test_invoke.api_stage,
            "arn:aws:execute-api:us-west-2:123456789012:ymy8tbxw7b/*"
        );
    }

    #[test]
    fn refuses_anything_else() {
        for arn in [
            "",
            "arn:aws:execute-api:eu-west-1:123456789012",
            "arn:aws:lambda:eu-west-1:123456789012:function/x/GET/",
            "arn:aws:execute-api:eu-west-1:123456789012:abc",
            "arn:aws:execute-api:eu-west-1:123456789012:abc/prod",
            "arn:aws:execute-api::123456789012:abc/prod/GET/",
            "arn:aws:execute-api:eu-west-1:123456789012:abc//GET/",
            "xrn:aws:execute-api:eu-west-1:123456789012:abc/prod/GET/",
        ] {
            assert_eq!(MethodArn::parse(arn), None, "{arn}");
        }
    }
}
