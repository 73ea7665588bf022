#!/usr/bin/env python3
"""Checks template.yaml against what only the deployment can say.

cfn-lint proves the template is valid CloudFormation/SAM. The routes and the functions are
checked in Rust against the one route table (shared/service/tests/template.rs). This proves
the rest of *our* template: how each function is built, its environment, least-privilege IAM
per function, the authorizer and gateway responses, the table and secret set up to survive a
`sam delete`, and no output that leaks the root secret. It prints one line per check and exits
1 if any check fails.

    python3 scripts/template_contract.py [template.yaml]
    python3 scripts/template_contract.py --self-test   # proves each check catches its defect

It reads the template with cfn-lint's YAML loader (module `cfnlint`), which understands the
short intrinsic tags (!Ref, !Sub, !GetAtt, !If).
"""

from __future__ import annotations

import copy
import json
import re
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

try:
    from cfnlint.decode import cfn_yaml
except ImportError:  # pragma: no cover - the shell wrapper installs cfn-lint first
    sys.stderr.write("cfn-lint is not installed for this python (pip install cfn-lint)\n")
    sys.exit(2)

# --------------------------------------------------------------------------------------------
# The contract
# --------------------------------------------------------------------------------------------

# DynamoDB actions per binary: (required, allowed) for the table and for the by_user index.
DYNAMO = {
    "tessera-login": {
        "table": ({"GetItem", "PutItem", "UpdateItem", "DeleteItem", "BatchGetItem"},) * 2,
        "index": (set(), set()),
    },
    "tessera-refresh": {"table": ({"UpdateItem", "GetItem"},) * 2, "index": (set(), set())},
    "tessera-logout": {"table": ({"UpdateItem"}, {"UpdateItem"}), "index": (set(), set())},
    "tessera-sessions": {
        "table": ({"UpdateItem", "GetItem"},) * 2,
        "index": ({"Query"}, {"Query"}),
    },
    "tessera-jwks": {"table": (set(), set()), "index": (set(), set())},
    "tessera-me": {"table": (set(), set()), "index": (set(), set())},
    "tessera-authorizer": {"table": (set(), set()), "index": (set(), set())},
}

SECRET_READERS = {"tessera-login", "tessera-refresh", "tessera-logout", "tessera-jwks", "tessera-authorizer"}

# Environment variable -> what it must be set from: ("param", name, default) / ("ref", type) /
# ("literal", value) / ("set",) for any value.
ENVIRONMENT = {
    "TABLE_NAME": ("ref", "AWS::DynamoDB::Table"),
    "ISSUER": ("param", None, None),
    "AUDIENCE": ("param", None, None),
    "ACCESS_TOKEN_TTL": ("param", None, 900),
    "REFRESH_TOKEN_TTL": ("param", None, 2592000),
    "REFRESH_IDLE_TTL": ("param", None, 1209600),
    "REFRESH_REUSE_GRACE": ("param", None, 30),
    "REFRESH_REUSE_GRACE_ZERO_CONFIRMED": ("param", None, "false"),
    "MAX_SESSIONS_PER_USER": ("param", None, 100),
    "KEY_RELOAD_INTERVAL": ("param", None, 300),
    "LOGIN_LOCKOUT_THRESHOLD": ("param", None, 5),
    "LOGIN_FAILURE_WINDOW": ("param", None, 900),
    "ACCESS_TOKEN_ALG": ("param", None, "ES256"),
    "KEY_SECRET_ARN": ("ref", "AWS::SecretsManager::Secret"),
    "AUTHORIZER_SCOPE_RULES": ("param", None, ""),
    "AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH": ("literal", "true"),
}

REQUIRED_OUTPUTS = ["ApiUrl", "JwksUrl", "Issuer", "TableName", "SecretArn"]
GSI = "by_user"

# --------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------


class Report:
    """Collects one line per check; any failure makes the run fail."""

    def __init__(self, quiet: bool = False) -> None:
        self.failures: list[str] = []
        self.passed = 0
        self.skipped = 0
        self.quiet = quiet

    def check(self, ok: bool, what: str, detail: str = "") -> bool:
        if ok:
            self.passed += 1
            self._print(f"ok    {what}")
        else:
            self.failures.append(what)
            self._print(f"FAIL  {what}" + (f": {detail}" if detail else ""))
        return ok

    def skip(self, what: str, reason: str) -> None:
        self.skipped += 1
        self._print(f"skip  {what}: {reason}")

    def _print(self, line: str) -> None:
        if not self.quiet:
            print(line)


# --------------------------------------------------------------------------------------------
# Template helpers
# --------------------------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """cfn-lint's nodes (dict/str subclasses carrying line marks) as plain JSON values."""
    return json.loads(json.dumps(value))


def ref_name(value: Any) -> str | None:
    if isinstance(value, dict) and set(value) == {"Ref"} and isinstance(value["Ref"], str):
        return value["Ref"]
    return None


def getatt(value: Any) -> tuple[str, str] | None:
    if isinstance(value, dict) and set(value) == {"Fn::GetAtt"}:
        att = value["Fn::GetAtt"]
        if isinstance(att, str) and "." in att:
            att = att.split(".", 1)
        if isinstance(att, list) and len(att) == 2 and all(isinstance(a, str) for a in att):
            return att[0], att[1]
    return None


def walk(value: Any) -> Iterator[Any]:
    """Every node of a JSON value, depth first."""
    yield value
    if isinstance(value, dict):
        for v in value.values():
            yield from walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from walk(v)


def branches(value: Any) -> Iterator[tuple[Any, bool]]:
    """Expands Fn::If: yields (concrete value, whether it sits under a condition)."""
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        args = value["Fn::If"]
        if isinstance(args, list) and len(args) == 3:
            for choice in args[1:]:
                if ref_name(choice) == "AWS::NoValue":
                    continue
                for v, _ in branches(choice):
                    yield v, True
            return
    yield value, False


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


class Template:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.resources: dict[str, Any] = doc.get("Resources") or {}
        self.parameters: dict[str, Any] = doc.get("Parameters") or {}
        self.globals_fn: dict[str, Any] = (doc.get("Globals") or {}).get("Function") or {}

    def of_type(self, type_: str) -> dict[str, Any]:
        return {k: v for k, v in self.resources.items() if isinstance(v, dict) and v.get("Type") == type_}

    def props(self, logical_id: str) -> dict[str, Any]:
        return (self.resources.get(logical_id) or {}).get("Properties") or {}

    def functions(self) -> dict[str, tuple[str, dict[str, Any]]]:
        """binary -> (logical id, resource) for every AWS::Serverless::Function."""
        out: dict[str, tuple[str, dict[str, Any]]] = {}
        for lid, res in self.of_type("AWS::Serverless::Function").items():
            binary = ((res.get("Metadata") or {}).get("BuildProperties") or {}).get("Binary")
            out[str(binary)] = (lid, res)
        return out

    def param_default(self, name: str) -> Any:
        return (self.parameters.get(name) or {}).get("Default")


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------


def check_globals(t: Template, r: Report) -> None:
    g = t.globals_fn
    r.check(g.get("Runtime") == "provided.al2023", "globals: Runtime provided.al2023", repr(g.get("Runtime")))
    r.check(g.get("Handler") == "bootstrap", "globals: Handler bootstrap", repr(g.get("Handler")))
    arch = g.get("Architectures")
    arch_param = ref_name(arch[0]) if isinstance(arch, list) and len(arch) == 1 else None
    p = t.parameters.get(arch_param or "", {})
    r.check(
        arch_param is not None
        and p.get("Default") == "arm64"
        and sorted(p.get("AllowedValues") or []) == ["arm64", "x86_64"],
        "globals: Architectures from a parameter (arm64 default, arm64|x86_64)",
        repr(arch),
    )
    r.check(
        isinstance(g.get("MemorySize"), int) and isinstance(g.get("Timeout"), int),
        "globals: MemorySize and Timeout set",
    )
    logging = g.get("LoggingConfig") or {}
    r.check(logging.get("LogFormat") == "JSON", "globals: LoggingConfig LogFormat JSON")
    # LogLevel must reach Lambda's own filter (ApplicationLogLevel, which JSON logging
    # applies and the functions read as AWS_LAMBDA_LOG_LEVEL), every allowed value mapped.
    level = logging.get("ApplicationLogLevel")
    find = level.get("Fn::FindInMap") if isinstance(level, dict) else None
    ok = False
    if isinstance(find, list) and len(find) == 3:
        table = (t.doc.get("Mappings") or {}).get(find[0]) or {}
        param = ref_name(find[1])
        allowed = (t.parameters.get(param or "") or {}).get("AllowedValues") or []
        lambda_levels = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"}
        ok = bool(allowed) and all(
            (table.get(v) or {}).get(find[2]) in lambda_levels for v in allowed
        )
    r.check(ok, "globals: ApplicationLogLevel mapped from the LogLevel parameter", repr(level))


def check_environment(t: Template, r: Report) -> None:
    env = ((t.globals_fn.get("Environment") or {}).get("Variables")) or {}
    for name, rule in ENVIRONMENT.items():
        what = f"env: {name}"
        if name not in env:
            r.check(False, what, "not set in Globals.Function.Environment")
            continue
        value = env[name]
        kind = rule[0]
        if kind == "literal":
            r.check(value == rule[1], f"{what} = {rule[1]!r}", repr(value))
        elif kind == "ref":
            target = ref_name(value)
            ok = target is not None and (t.resources.get(target) or {}).get("Type") == rule[1]
            r.check(ok, f"{what} = Ref to the {rule[1]}", repr(value))
        else:
            param = ref_name(value)
            if param is None or param not in t.parameters:
                r.check(False, f"{what} from a parameter", repr(value))
                continue
            default = t.param_default(param)
            if rule[2] is None:
                r.check(True, f"{what} from parameter {param}")
            else:
                same = str(default) == str(rule[2])
                r.check(same, f"{what} from parameter {param} (default {rule[2]!r})", f"default {default!r}")
    # Function-level overrides must not drop or replace the contract's variables.
    for binary, (lid, res) in t.functions().items():
        local = (((res.get("Properties") or {}).get("Environment") or {}).get("Variables")) or {}
        clash = sorted(set(local) & set(ENVIRONMENT))
        r.check(not clash, f"env: {lid} does not override contract variables", ", ".join(clash))
    alg = ref_name(env.get("ACCESS_TOKEN_ALG"))
    allowed = sorted((t.parameters.get(alg or "") or {}).get("AllowedValues") or [])
    r.check(
        allowed == sorted(["ES256", "EdDSA", "RS256", "HS256"]),
        "env: ACCESS_TOKEN_ALG AllowedValues ES256, EdDSA, RS256, HS256",
        repr(allowed),
    )
    leaks = [n for n in walk(env) if isinstance(n, str) and "resolve:secretsmanager" in n]
    r.check(not leaks, "env: no secret value resolved into the environment", repr(leaks))


def check_functions(t: Template, r: Report) -> None:
    fns = t.functions()
    r.check(bool(fns), "functions: the template deploys functions", "none found")
    for binary, (lid, res) in sorted(fns.items()):
        meta = res.get("Metadata") or {}
        props = res.get("Properties") or {}
        r.check(
            props.get("CodeUri") == "./"
            and meta.get("BuildMethod") == "rust-cargolambda"
            and binary not in ("bootstrap", "None"),
            f"functions: {lid} CodeUri ./, BuildMethod rust-cargolambda, Binary {binary}",
            f"CodeUri {props.get('CodeUri')!r}, BuildMethod {meta.get('BuildMethod')!r}",
        )


def api_events(t: Template) -> list[dict[str, Any]]:
    out = []
    for binary, (lid, res) in t.functions().items():
        for name, ev in ((res.get("Properties") or {}).get("Events") or {}).items():
            if not isinstance(ev, dict) or ev.get("Type") not in ("Api", "HttpApi"):
                continue
            p = ev.get("Properties") or {}
            out.append({
                "binary": binary, "function": lid, "event": name, "type": ev.get("Type"),
                "method": str(p.get("Method", "")).upper(), "path": p.get("Path"),
                "api": ref_name(p.get("RestApiId")), "auth": (p.get("Auth") or {}).get("Authorizer"),
            })
    return out


def check_api(t: Template, r: Report) -> None:
    apis = t.of_type("AWS::Serverless::Api")
    if not r.check(len(apis) == 1, "api: exactly one AWS::Serverless::Api (REST)", f"found {sorted(apis)}"):
        return
    api_id, api = next(iter(apis.items()))
    props = api.get("Properties") or {}
    stage = ref_name(props.get("StageName"))
    r.check(stage is not None and t.param_default(stage) == "prod", "api: stage from a parameter, default prod",
            repr(props.get("StageName")))

    auth = props.get("Auth") or {}
    authorizers = auth.get("Authorizers") or {}
    token_auth = None
    fns = t.functions()
    authorizer_fn = fns.get("tessera-authorizer", ("", {}))[0]
    for name, a in authorizers.items():
        if getatt(a.get("FunctionArn")) == (authorizer_fn, "Arn"):
            token_auth = name
    r.check(token_auth is not None, f"api: an authorizer runs {authorizer_fn or 'tessera-authorizer'}",
            f"authorizers: {sorted(authorizers)}")
    a = authorizers.get(token_auth or "", {})
    identity = a.get("Identity") or {}
    r.check(
        a.get("FunctionPayloadType", "TOKEN") == "TOKEN" and identity.get("Header", "Authorization") == "Authorization",
        "api: TOKEN authorizer on method.request.header.Authorization",
        f"{a.get('FunctionPayloadType')!r} {identity.get('Header')!r}",
    )
    ttl = ref_name(identity.get("ReauthorizeEvery"))
    tp = t.parameters.get(ttl or "") or {}
    r.check(
        ttl is not None and tp.get("MinValue") == 0 and tp.get("MaxValue") == 3600 and tp.get("Default") == 300,
        "api: authorizer result TTL from a parameter (0-3600, default 300)",
        repr(identity.get("ReauthorizeEvery")),
    )
    default = auth.get("DefaultAuthorizer")

    # The routes themselves (which, to which function, which protected) are the route
    # table's: shared/service/tests/template.rs. Here only that no route dodges the authorizer
    # by a default or reaches another API.
    for ev in api_events(t):
        label = f"route: {ev['method']} {ev['path']} is an Api event on {api_id}"
        r.check(ev["type"] == "Api" and ev["api"] == api_id, label, f"{ev['type']} on {ev['api']!r}")
        if ev["auth"] is not None:
            r.check(ev["auth"] == token_auth, f"route: {ev['method']} {ev['path']} uses {token_auth}",
                    repr(ev["auth"]))
    r.check(default in (None, "NONE"), "api: no default authorizer (each route names its own)", repr(default))

    r.check(props.get("AlwaysDeploy") is True,
            "api: AlwaysDeploy (a gateway response or CORS change reaches the stage)",
            repr(props.get("AlwaysDeploy")))
    gr = props.get("GatewayResponses") or {}
    for kind in ("UNAUTHORIZED", "ACCESS_DENIED", "DEFAULT_4XX", "DEFAULT_5XX"):
        headers = ((gr.get(kind) or {}).get("ResponseParameters") or {}).get("Headers") or {}
        exposed = [v for v, _ in branches(headers.get("Access-Control-Expose-Headers"))
                   if isinstance(v, str) and "WWW-Authenticate" in v]
        r.check(bool(exposed) and "Access-Control-Allow-Origin" in headers,
                f"api: {kind} lets a browser read WWW-Authenticate when CORS is on",
                repr(headers.get("Access-Control-Expose-Headers")))
    unauth = gr.get("UNAUTHORIZED") or {}
    header = ((unauth.get("ResponseParameters") or {}).get("Headers") or {}).get("WWW-Authenticate")
    r.check(
        str(unauth.get("StatusCode")) == "401" and header == "'Bearer error=\"invalid_token\"'",
        "api: UNAUTHORIZED 401 with WWW-Authenticate: Bearer error=\"invalid_token\"",
        f"status {unauth.get('StatusCode')!r}, header {header!r}",
    )
    r.check(str((gr.get("ACCESS_DENIED") or {}).get("StatusCode")) == "403", "api: ACCESS_DENIED 403")
    for kind in ("DEFAULT_4XX", "DEFAULT_5XX"):
        tmpl = ((gr.get(kind) or {}).get("ResponseTemplates") or {}).get("application/json")
        r.check(isinstance(tmpl, str) and tmpl.strip().startswith("{"), f"api: {kind} answers JSON")
    settings = as_list(props.get("MethodSettings") or [])
    throttled = [
        s for s in settings
        if isinstance(s, dict) and ref_name(s.get("ThrottlingBurstLimit")) in t.parameters
        and ref_name(s.get("ThrottlingRateLimit")) in t.parameters
    ]
    r.check(bool(throttled), "api: throttling burst and rate limits from parameters")
    cors = props.get("Cors")
    origin_params = {ref_name(n) for n in walk(cors)} | {
        m for n in walk(cors) if isinstance(n, str) for m in re.findall(r"\$\{(\w+)\}", n)
    }
    cors_params = [p for p in origin_params if p in t.parameters]
    r.check(
        cors is None or (len(cors_params) == 1 and t.param_default(cors_params[0]) == ""),
        "api: CORS origin from a parameter, off (empty) by default",
        repr(cors),
    )


def classify_resource(value: Any, t: Template) -> str:
    """Names what a policy Resource points at: table, index:<name>, secret, kms, or other."""
    name = ref_name(value)
    if name is not None:
        typ = (t.resources.get(name) or {}).get("Type")
        if typ == "AWS::SecretsManager::Secret":
            return "secret"
        if name in t.parameters:
            return f"param:{name}"
        return f"other:{name}"
    att = getatt(value)
    if att is not None:
        typ = (t.resources.get(att[0]) or {}).get("Type")
        return "table" if typ == "AWS::DynamoDB::Table" and att[1] == "Arn" else f"other:{att}"
    if isinstance(value, dict) and set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
        m = re.fullmatch(r"\$\{(\w+)\.Arn\}/index/([\w.-]+)", value["Fn::Sub"])
        if m and (t.resources.get(m.group(1)) or {}).get("Type") == "AWS::DynamoDB::Table":
            return f"index:{m.group(2)}"
    return f"other:{json.dumps(value)}"


def policy_statements(t: Template, res: dict[str, Any]) -> tuple[list[tuple[dict[str, Any], bool]], list[str]]:
    """(statement, conditional) pairs from a function's Policies, and anything that is not inline."""
    statements: list[tuple[dict[str, Any], bool]] = []
    opaque: list[str] = []
    for pol, cond_outer in branches((res.get("Properties") or {}).get("Policies") or []):
        for item in as_list(pol):
            for doc, cond_doc in branches(item):
                if isinstance(doc, dict) and "Statement" in doc:
                    for st in as_list(doc["Statement"]):
                        for s, cond in branches(st):
                            statements.append((s, cond or cond_doc or cond_outer))
                else:
                    # A managed policy name/ARN or a SAM policy template: its scope is not
                    # visible here, so least privilege cannot be shown.
                    opaque.append(json.dumps(doc))
    return statements, opaque


def check_iam(t: Template, r: Report) -> None:
    fns = t.functions()
    for binary, (lid, res) in sorted(fns.items()):
        statements, opaque = policy_statements(t, res)
        r.check(not opaque, f"iam: {lid} uses only inline policy statements", "; ".join(opaque))
        granted: dict[str, set[str]] = {}
        problems: list[str] = []
        secret = False
        for st, conditional in statements:
            if st.get("Effect") != "Allow":
                continue
            actions = [a for a in as_list(st.get("Action") or []) if isinstance(a, str)]
            resources = as_list(st.get("Resource") or [])
            if any("*" in a for a in actions):
                problems.append(f"wildcard action {actions}")
            kinds = [classify_resource(v, t) for v in resources]
            for a in actions:
                service, _, action = a.partition(":")
                if service == "dynamodb":
                    for k in kinds:
                        granted.setdefault(k, set()).add(action)
                elif service == "secretsmanager":
                    if action == "GetSecretValue" and kinds == ["secret"]:
                        secret = True
                    else:
                        problems.append(f"{a} on {kinds}")
                elif service == "kms":
                    if not (conditional and action == "Decrypt" and all(k.startswith("param:") for k in kinds)):
                        problems.append(f"{a} on {kinds} (must be kms:Decrypt on the key parameter, under a Condition)")
                else:
                    problems.append(f"unexpected action {a}")
        spec = DYNAMO.get(binary, {"table": (set(), set()), "index": (set(), set())})
        for kind, (required, allowed) in (("table", spec["table"]), (f"index:{GSI}", spec["index"])):
            got = granted.pop(kind, set())
            if not required <= got or not got <= allowed:
                problems.append(f"dynamodb on {kind}: {sorted(got)}, expected {sorted(required)}"
                                + (f" (may add {sorted(allowed - required)})" if allowed != required else ""))
        for kind, acts in granted.items():
            problems.append(f"dynamodb {sorted(acts)} on {kind}")
        if secret != (binary in SECRET_READERS):
            problems.append("reads the secret" if secret else "cannot read the secret")
        expected = ", ".join(
            f"{k} {sorted(v[0] | v[1])}" for k, v in spec.items() if v[1]
        ) or "no DynamoDB"
        expected += "; GetSecretValue" if binary in SECRET_READERS else "; no secret"
        r.check(not problems, f"iam: {lid} least privilege ({expected})", "; ".join(problems))

    # The headline rule on its own line: the authorizer never touches DynamoDB.
    auth = fns.get("tessera-authorizer")
    if auth is not None:
        statements, _ = policy_statements(t, auth[1])
        dyn = [a for st, _ in statements for a in as_list(st.get("Action") or [])
               if isinstance(a, str) and (a.startswith("dynamodb:") or a == "*")]
        r.check(not dyn, f"iam: {auth[0]} has no DynamoDB permission", ", ".join(dyn))

    # No "*" Resource anywhere: function policies, and any raw IAM resources.
    stars = []
    for lid, res in t.resources.items():
        for node in walk(res):
            if isinstance(node, dict) and "Resource" in node and "Action" in node:
                for v in as_list(node["Resource"]):
                    for concrete, _ in branches(v):
                        text = concrete if isinstance(concrete, str) else json.dumps(concrete)
                        if "*" in text:
                            stars.append(f"{lid}: {text}")
    r.check(not stars, 'iam: no "*" in any policy Resource', "; ".join(stars))
    connectors = [lid for lid, res in t.resources.items()
                  if res.get("Type") == "AWS::Serverless::Connector" or "Connectors" in res]
    r.check(not connectors, "iam: no SAM connectors (they grant outside the checked policies)", ", ".join(connectors))


def check_table(t: Template, r: Report) -> None:
    tables = t.of_type("AWS::DynamoDB::Table")
    if not r.check(len(tables) == 1, "table: exactly one DynamoDB table", f"found {sorted(tables)}"):
        return
    lid, table = next(iter(tables.items()))
    p = table.get("Properties") or {}
    r.check(table.get("DeletionPolicy") == "Retain" and table.get("UpdateReplacePolicy") == "Retain",
            "table: DeletionPolicy and UpdateReplacePolicy Retain")
    r.check(p.get("BillingMode") == "PAY_PER_REQUEST", "table: PAY_PER_REQUEST")
    attrs = {a.get("AttributeName"): a.get("AttributeType") for a in p.get("AttributeDefinitions") or []}
    r.check(attrs == {"pk": "S", "gsi_user": "S", "created_at": "N"},
            "table: attributes pk S, gsi_user S, created_at N", repr(attrs))
    r.check([(k.get("AttributeName"), k.get("KeyType")) for k in p.get("KeySchema") or []] == [("pk", "HASH")],
            "table: key pk (HASH)")
    gsis = {g.get("IndexName"): g for g in p.get("GlobalSecondaryIndexes") or []}
    g = gsis.get(GSI) or {}
    r.check(
        [(k.get("AttributeName"), k.get("KeyType")) for k in g.get("KeySchema") or []]
        == [("gsi_user", "HASH"), ("created_at", "RANGE")]
        and (g.get("Projection") or {}).get("ProjectionType") == "ALL",
        f"table: GSI {GSI} (gsi_user HASH, created_at RANGE, projection ALL)",
    )
    ttl = p.get("TimeToLiveSpecification") or {}
    r.check(ttl.get("AttributeName") == "ttl" and ttl.get("Enabled") is True, "table: TTL on attribute ttl")
    r.check((p.get("PointInTimeRecoverySpecification") or {}).get("PointInTimeRecoveryEnabled") is True,
            "table: point-in-time recovery enabled")
    r.check((p.get("SSESpecification") or {}).get("SSEEnabled") is True, "table: SSE enabled")


def check_secret(t: Template, r: Report) -> None:
    secrets = t.of_type("AWS::SecretsManager::Secret")
    if not r.check(len(secrets) == 1, "secret: exactly one Secrets Manager secret", f"found {sorted(secrets)}"):
        return
    lid, sec = next(iter(secrets.items()))
    p = sec.get("Properties") or {}
    gen = p.get("GenerateSecretString") or {}
    r.check("SecretString" not in p and gen.get("PasswordLength") == 64 and gen.get("ExcludePunctuation") is True,
            "secret: generated by CloudFormation (64 chars, no punctuation), never in the template")


def check_outputs(t: Template, r: Report) -> None:
    outputs = t.doc.get("Outputs") or {}
    missing = [o for o in REQUIRED_OUTPUTS if o not in outputs]
    r.check(not missing, "outputs: " + ", ".join(REQUIRED_OUTPUTS), "missing " + ", ".join(missing))
    secrets = set(t.of_type("AWS::SecretsManager::Secret"))
    sa = (outputs.get("SecretArn") or {}).get("Value")
    r.check(ref_name(sa) in secrets, "outputs: SecretArn is the secret's ARN (Ref)", repr(sa))
    leaks = []
    for name, out in outputs.items():
        for node in walk(out):
            if isinstance(node, str) and re.search(r"resolve:secretsmanager|SecretString", node):
                leaks.append(name)
            att = getatt(node)
            if att and att[0] in secrets and att[1] not in ("Id",):
                leaks.append(name)
            if isinstance(node, dict) and "Fn::Sub" in node:
                sub = node["Fn::Sub"]
                text = sub if isinstance(sub, str) else json.dumps(sub)
                if any(re.search(r"\$\{" + re.escape(s) + r"\.", text) for s in secrets):
                    leaks.append(name)
    r.check(not leaks, "outputs: none exposes the secret value", ", ".join(sorted(set(leaks))))


def run_checks(doc: dict[str, Any], report: Report) -> Report:
    """Runs every check."""
    t = Template(doc)
    report.check(
        doc.get("Transform") == "AWS::Serverless-2016-10-31" or "AWS::Serverless-2016-10-31" in as_list(doc.get("Transform")),
        "template: SAM transform",
    )
    for check in (check_globals, check_environment):
        check(t, report)
    check_functions(t, report)
    for check in (check_api, check_iam, check_table, check_secret, check_outputs):
        check(t, report)
    return report


# --------------------------------------------------------------------------------------------
# Self-test: each defect below must make at least one check fail, and the real template none.
# --------------------------------------------------------------------------------------------


def _fn(doc: dict[str, Any], binary: str) -> dict[str, Any]:
    for res in doc["Resources"].values():
        if ((res.get("Metadata") or {}).get("BuildProperties") or {}).get("Binary") == binary:
            return res
    raise KeyError(binary)


def _event(doc: dict[str, Any], binary: str, path: str) -> dict[str, Any]:
    for ev in _fn(doc, binary)["Properties"]["Events"].values():
        if ev["Properties"]["Path"] == path:
            return ev["Properties"]
    raise KeyError(path)


def _statements(doc: dict[str, Any], binary: str) -> list[Any]:
    return _fn(doc, binary)["Properties"]["Policies"][0]["Statement"]


def _table(doc: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in doc["Resources"].values() if r["Type"] == "AWS::DynamoDB::Table")


MUTATIONS: dict[str, Callable[[dict[str, Any]], None]] = {
    "/me names another authorizer": lambda d: _event(d, "tessera-me", "/me").update(
        {"Auth": {"Authorizer": "Other"}}),
    "authorizer gets dynamodb:GetItem": lambda d: _statements(d, "tessera-authorizer").append(
        {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": {"Fn::GetAtt": ["Table", "Arn"]}}),
    "a Resource of *": lambda d: _statements(d, "tessera-logout")[0].update({"Resource": "*"}),
    "sessions queries the whole table": lambda d: _statements(d, "tessera-sessions")[0].update(
        {"Resource": {"Fn::GetAtt": ["Table", "Arn"]}}),
    "me reads the secret": lambda d: _fn(d, "tessera-me")["Properties"].update({"Policies": [
        {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": {"Ref": "KeySecret"}}]}]}),
    "a managed policy": lambda d: _fn(d, "tessera-jwks")["Properties"]["Policies"].append("AmazonDynamoDBFullAccess"),
    "unconditional kms:Decrypt": lambda d: _statements(d, "tessera-jwks").append(
        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": {"Ref": "KmsKeyArn"}}),
    "table without Retain": lambda d: _table(d).pop("DeletionPolicy"),
    "table without PITR": lambda d: _table(d)["Properties"].pop("PointInTimeRecoverySpecification"),
    "output leaks the secret": lambda d: d["Outputs"].update(
        {"Leak": {"Value": "{{resolve:secretsmanager:x:SecretString}}"}}),
    "environment missing ISSUER": lambda d: d["Globals"]["Function"]["Environment"]["Variables"].pop("ISSUER"),
    "stage still in path": lambda d: d["Globals"]["Function"]["Environment"]["Variables"].update(
        {"AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH": "false"}),
    "401 without the challenge header": lambda d: next(
        r for r in d["Resources"].values() if r["Type"] == "AWS::Serverless::Api"
    )["Properties"]["GatewayResponses"]["UNAUTHORIZED"]["ResponseParameters"]["Headers"].pop("WWW-Authenticate"),
    "stage changes never deployed": lambda d: next(
        r for r in d["Resources"].values() if r["Type"] == "AWS::Serverless::Api"
    )["Properties"].pop("AlwaysDeploy"),
    "401 challenge hidden from browsers": lambda d: next(
        r for r in d["Resources"].values() if r["Type"] == "AWS::Serverless::Api"
    )["Properties"]["GatewayResponses"]["UNAUTHORIZED"]["ResponseParameters"]["Headers"].pop(
        "Access-Control-Expose-Headers"),
    "LogLevel never reaches Lambda": lambda d: d["Globals"]["Function"]["LoggingConfig"].pop(
        "ApplicationLogLevel"),
    "binary named bootstrap": lambda d: _fn(d, "tessera-me")["Metadata"]["BuildProperties"].update(
        {"Binary": "bootstrap"}),
}


def self_test(doc: dict[str, Any]) -> int:
    baseline = run_checks(doc, Report(quiet=True))
    ok = True
    line = f"self-test: the template itself passes ({baseline.passed} checks)"
    if baseline.failures:
        ok = False
        print(f"FAIL  {line}: {baseline.failures}")
    else:
        print(f"ok    {line}")
    for name, mutate in MUTATIONS.items():
        mutated = copy.deepcopy(doc)
        try:
            mutate(mutated)
        except (KeyError, IndexError, StopIteration) as e:
            ok = False
            print(f"FAIL  self-test: {name}: mutation does not apply to this template ({e!r})")
            continue
        failures = [f for f in run_checks(mutated, Report(quiet=True)).failures
                    if f not in baseline.failures]
        if failures:
            print(f"ok    self-test: {name} -> caught by \"{failures[0]}\"")
        else:
            ok = False
            print(f"FAIL  self-test: {name} -> not caught")
    return 0 if ok else 1


def main(argv: list[str]) -> int:
    args = [a for a in argv if not a.startswith("--")]
    path = Path(args[0]) if args else Path(__file__).resolve().parent.parent / "template.yaml"
    try:
        doc = plain(cfn_yaml.load(str(path)))
    except Exception as e:  # any parse error is a failed check, not a traceback
        print(f"FAIL  template: {path} parses: {e}")
        return 1
    if "--self-test" in argv:
        return self_test(doc)
    report = run_checks(doc, Report())
    print(f"{report.passed} passed, {len(report.failures)} failed, {report.skipped} skipped")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
