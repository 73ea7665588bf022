//! API Gateway authorizer decisions.
