#!/usr/bin/env python3
"""Checks template.yaml against what only the deployment can say.

cfn-lint proves the template is valid CloudFormation/SAM. The routes and the functions are
checked in Rust against the one route table (shared/service/tests/template.rs). This proves
the rest of *our* template: how each function is built, its environment, least-privilege IAM
per function, the authorizer and gateway responses, the table and secret set up to survive a
`sam delete`, no output that leaks the root secret, the extension layer of every region and
architecture, the alarms and the dashboard. It prints one line per check and exits 1 if any
check fails.

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
    # Reads one session and its owner (BatchGetItem once the owner is known), nothing else:
    # and only session and user items (LEADING_KEYS).
    "tessera-authorizer-checked": {"table": ({"GetItem", "BatchGetItem"},) * 2, "index": (set(), set())},
}

SECRET_READERS = {"tessera-login", "tessera-refresh", "tessera-logout", "tessera-jwks", "tessera-authorizer",
                  "tessera-authorizer-checked"}

# The authorizer each AuthorizerRevocationCheck deploys: the lean one decides from the token
# alone; the checking one also reads the token's session.
REVOCATION_PARAM = "AuthorizerRevocationCheck"
REVOCATION_CACHE_PARAM = "AuthorizerRevocationCache"
AUTHORIZERS = {"off": "tessera-authorizer", "session": "tessera-authorizer-checked"}
# The item kinds (partition key prefixes) the checking authorizer may read: sessions and
# users, never a failed-login counter.
LEADING_KEYS = {"SESSION#*", "USER#*"}

# Environment variable -> what it must be set from: ("param", name, default) / ("ref", type) /
# ("literal", value) / ("pseudo", pseudo parameter) / ("set",) for any value.
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
    "REFRESH_TOKEN_DELIVERY": ("param", None, "body"),
    "REFRESH_COOKIE_PATH": ("param", None, ""),
    "AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH": ("literal", "true"),
    # The Stack dimension of the functions' metrics: the alarms and the dashboard select on it.
    "METRICS_STACK": ("pseudo", "AWS::StackName"),
}

REQUIRED_OUTPUTS = ["ApiUrl", "JwksUrl", "Issuer", "TableName", "SecretArn"]
GSI = "by_user"

# The functions' own metrics (embedded metric format): namespace, and the Outcome values of
# Requests per UseCase, as shared/metrics (UseCase::outcomes) emits them. The dashboard must
# show every one, or an outcome happens where nobody looks.
METRICS_NAMESPACE = "Tessera"
OUTCOMES = {
    "authorizer": ["allow", "deny", "unauthorized", "error"],
    "login": ["success", "failure", "locked", "unavailable", "error"],
    "refresh": ["rotated", "grace_replay", "reuse_detected", "expired", "revoked", "invalid", "unavailable", "error"],
    "logout": ["revoked", "nothing", "unavailable", "error"],
    "revocation": ["session", "all", "nothing", "unavailable", "error"],
    "keys": ["reloaded", "reload_failed"],
}

# The AWS Parameters and Secrets Lambda Extension layer, per architecture (Architecture value).
EXTENSION_LAYER = {
    "arm64": "AWS-Parameters-and-Secrets-Lambda-Extension-Arm64",
    "x86_64": "AWS-Parameters-and-Secrets-Lambda-Extension",
}
EXTENSION_LAYER_OVERRIDE = "SecretsExtensionLayerArn"

# Alarms exist only when one of these is set; the email alone gets a topic of the stack's own.
ALARM_EMAIL = "AlarmEmail"
ALARM_TOPIC = "AlarmTopicArn"
# Logical id -> the metric it watches. Dimension values: ("stack",) the stack name,
# ("function", binary) a Ref to that function, ("api", property) the API's own property,
# ("table",) a Ref to the table. threshold: a number, or ("param", default).
ALARMS: dict[str, dict[str, Any]] = {
    "ReuseDetectedAlarm": {
        "metric": (METRICS_NAMESPACE, "Requests"),
        "dims": {"Stack": ("stack",), "UseCase": "refresh", "Outcome": "reuse_detected"},
        "period": 300, "threshold": ("param", 5),
    },
    "AuthorizerErrorsAlarm": {
        "metric": ("AWS/Lambda", "Errors"),
        "dims": {"FunctionName": ("authorizer",)},
        "period": 60, "threshold": 1,
    },
    "Api5xxAlarm": {
        "metric": ("AWS/ApiGateway", "5XXError"),
        "dims": {"ApiName": ("api", "Name"), "Stage": ("api", "StageName")},
        "period": 60, "threshold": 1,
    },
    "TableThrottleAlarm": {
        "math": [("AWS/DynamoDB", "ReadThrottleEvents"), ("AWS/DynamoDB", "WriteThrottleEvents")],
        "dims": {"TableName": ("table",)},
        "period": 60, "threshold": 1,
    },
}

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


class Unresolvable(Exception):
    """An intrinsic the evaluator cannot (or, as the template stands, could not) resolve."""


class Evaluator:
    """What CloudFormation would make of a value for one set of parameters and one region.

    Resolves Ref (parameters and pseudo parameters), the condition functions, Fn::If,
    Fn::FindInMap and Fn::Sub; a Ref to a resource stays {"Ref": id}, and a resource in Fn::Sub
    becomes "RES_<id>" (with ".Attr" if any). Enough to ask "which layer, which topic, which
    dimension value" without deploying.
    """

    STACK = "stack-under-test"

    def __init__(self, t: Template, values: dict[str, str] | None = None, region: str = "us-east-1") -> None:
        self.t = t
        self.values: dict[str, str] = {
            name: "" if p.get("Default") is None else str(p.get("Default"))
            for name, p in t.parameters.items() if isinstance(p, dict)
        }
        self.values.update(values or {})
        self.values.update({
            "AWS::Region": region, "AWS::StackName": self.STACK, "AWS::AccountId": "123456789012",
            "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com",
        })
        self.conditions: dict[str, Any] = t.doc.get("Conditions") or {}
        self.mappings: dict[str, Any] = t.doc.get("Mappings") or {}

    def condition(self, name: Any, seen: tuple[str, ...] = ()) -> bool:
        if not isinstance(name, str) or name in seen or name not in self.conditions:
            raise Unresolvable(f"condition {name!r}")
        return bool(self.value(self.conditions[name], seen + (name,)))

    def exists(self, logical_id: str) -> bool:
        res = self.t.resources.get(logical_id)
        if not isinstance(res, dict):
            return False
        return "Condition" not in res or self.condition(res["Condition"])

    def value(self, v: Any, seen: tuple[str, ...] = ()) -> Any:
        if isinstance(v, list):
            return [self.value(i, seen) for i in v]
        if not (isinstance(v, dict) and len(v) == 1):
            return v
        (fn, a), = v.items()
        if fn == "Ref":
            if a in self.values:
                return self.values[a]
            if a in self.t.resources or a == "AWS::NoValue":
                return v
            raise Unresolvable(f"Ref {a!r}")
        if fn == "Condition":
            return self.condition(a, seen)
        if fn in ("Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Fn::If", "Fn::FindInMap") and not isinstance(a, list):
            raise Unresolvable(fn)
        if fn == "Fn::Equals":
            x, y = (self.value(i, seen) for i in a)
            return str(x) == str(y)
        if fn == "Fn::Not":
            return not self.value(a[0], seen)
        if fn == "Fn::And":
            return all(self.value(i, seen) for i in a)
        if fn == "Fn::Or":
            return any(self.value(i, seen) for i in a)
        if fn == "Fn::If":
            return self.value(a[1] if self.condition(a[0], seen) else a[2], seen)
        if fn == "Fn::FindInMap":
            keys = [self.value(i, seen) for i in a]
            try:
                return self.mappings[keys[0]][keys[1]][keys[2]]
            except (KeyError, TypeError, IndexError):
                raise Unresolvable(f"Fn::FindInMap {keys}") from None
        if fn == "Fn::Sub":
            return self.sub(a, seen)
        return v

    def sub(self, a: Any, seen: tuple[str, ...] = ()) -> str:
        text, local = (a[0], a[1]) if isinstance(a, list) and len(a) == 2 else (a, {})
        if not isinstance(text, str) or not isinstance(local, dict):
            raise Unresolvable("Fn::Sub")

        def one(m: re.Match[str]) -> str:
            name = m.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in local:
                resolved = self.value(local[name], seen)
                res = ref_name(resolved)
                return f"RES_{res}" if res in self.t.resources else str(resolved)
            if name in self.values:
                return self.values[name]
            if name.split(".")[0] in self.t.resources:
                return f"RES_{name}"
            raise Unresolvable(f"${{{name}}} in Fn::Sub")

        return re.sub(r"\$\{([^}]*)\}", one, text)


def _unresolved_branch(t: Template, value: Any, setting: str) -> Any:
    """The branch of a value that AuthorizerRevocationCheck=setting picks, before its Refs
    resolve (so a Ref to a parameter stays a Ref)."""
    ev = Evaluator(t, {REVOCATION_PARAM: setting})
    while isinstance(value, dict) and set(value) == {"Fn::If"} and isinstance(value["Fn::If"], list):
        cond, yes, no = value["Fn::If"]
        value = yes if ev.condition(cond) else no
    return value


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
    # The metric lines (EMF) have no level, which Lambda's filter takes for INFO: a level
    # less verbose than INFO would drop every metric.
    allowed = set((t.parameters.get("LogLevel") or {}).get("AllowedValues") or [])
    r.check(
        bool(allowed) and allowed <= {"info", "debug", "trace"},
        "globals: LogLevel cannot filter out the metric lines (INFO)",
        repr(sorted(allowed)),
    )


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
        elif kind == "pseudo":
            r.check(ref_name(value) == rule[1], f"{what} = Ref {rule[1]}", repr(value))
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
    if len(authorizers) == 1:
        token_auth = next(iter(authorizers))
    for setting, binary in AUTHORIZERS.items():
        ev = Evaluator(t, {REVOCATION_PARAM: setting})
        lid = fns.get(binary, ("", {}))[0]
        try:
            runs = ev.value((authorizers.get(token_auth or "") or {}).get("FunctionArn"))
            exists = {b: ev.exists(fns[b][0]) for b in AUTHORIZERS.values() if b in fns}
        except Unresolvable as e:
            runs, exists = str(e), {}
        r.check(getatt(runs) == (lid, "Arn") and exists == {b: b == binary for b in AUTHORIZERS.values()},
                f"api: with {REVOCATION_PARAM}={setting} the one authorizer runs {binary}, the only one deployed",
                f"{runs!r}, deployed {exists}")
    a = authorizers.get(token_auth or "", {})
    identity = a.get("Identity") or {}
    r.check(
        a.get("FunctionPayloadType", "TOKEN") == "TOKEN" and identity.get("Header", "Authorization") == "Authorization",
        "api: TOKEN authorizer on method.request.header.Authorization",
        f"{a.get('FunctionPayloadType')!r} {identity.get('Header')!r}",
    )
    try:
        ttl = ref_name(_unresolved_branch(t, identity.get("ReauthorizeEvery"), "off"))
        checked_ttl = ref_name(_unresolved_branch(t, identity.get("ReauthorizeEvery"), "session"))
    except Unresolvable:
        ttl = checked_ttl = None
    checked = fns.get(AUTHORIZERS["session"], ("", {}))[1]
    checked_env = (((checked.get("Properties") or {}).get("Environment") or {}).get("Variables")) or {}
    cp = t.parameters.get(checked_ttl or "") or {}
    r.check(
        checked_ttl == REVOCATION_CACHE_PARAM and cp.get("MinValue") == 0 and cp.get("MaxValue") == 60
        and cp.get("Default") == 2
        and ref_name(checked_env.get("AUTHORIZER_REVOCATION_CACHE")) == checked_ttl
        and checked_env.get("AUTHORIZER_REVOCATION_CHECK") == "session",
        f"api: with the session check, API Gateway caches a decision exactly as long as the checking "
        f"authorizer reuses a live session ({REVOCATION_CACHE_PARAM}, 0-60, default 2)",
        f"ReauthorizeEvery {checked_ttl!r}, env {checked_env!r}",
    )
    lean = fns.get(AUTHORIZERS["off"], ("", {}))[1]
    lean_env = (((lean.get("Properties") or {}).get("Environment") or {}).get("Variables")) or {}
    r.check("AUTHORIZER_REVOCATION_CHECK" not in lean_env and "AUTHORIZER_REVOCATION_CHECK" not in
            ((t.globals_fn.get("Environment") or {}).get("Variables") or {}),
            "api: the lean authorizer is never told to check sessions (it would refuse to start)")
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
        # A cookie deployment's browser calls with credentials: without this header it may
        # not read the gateway's own 401/403 at all.
        creds = headers.get("Access-Control-Allow-Credentials")
        r.check(
            isinstance(creds, dict) and (creds.get("Fn::If") or [None])[0] == "CorsWithCredentials",
            f"api: {kind} allows credentials when the refresh token is a cookie", repr(creds))
    cors = props.get("Cors") or {}
    allow_credentials = cors.get("AllowCredentials")
    r.check(
        isinstance(allow_credentials, dict)
        and (allow_credentials.get("Fn::If") or [None])[0] == "UsesCookie",
        "api: the preflight allows credentials exactly when the refresh token is a cookie",
        repr(allow_credentials))
    rules = t.doc.get("Rules") or {}
    r.check(
        any("RefreshTokenDelivery" in json.dumps(rule) and "CorsAllowOrigin" in json.dumps(rule)
            for rule in rules.values()),
        "rules: cookie delivery cannot be deployed with CorsAllowOrigin *", repr(list(rules)))
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

    # The checking authorizer reads only session and user items: every DynamoDB statement it
    # has is limited by dynamodb:LeadingKeys, for all keys of a request (ForAllValues: with
    # ForAnyValue one session key would let a whole batch through).
    checked = fns.get(AUTHORIZERS["session"])
    if checked is not None:
        statements, _ = policy_statements(t, checked[1])
        unlimited = []
        for st, _ in statements:
            actions = [a for a in as_list(st.get("Action") or []) if isinstance(a, str)]
            if not any(a.startswith("dynamodb:") for a in actions) or st.get("Effect") != "Allow":
                continue
            cond = st.get("Condition") or {}
            keys = (cond.get("ForAllValues:StringLike") or {}).get("dynamodb:LeadingKeys")
            others = {k: v for k, v in cond.items() if k != "ForAllValues:StringLike"}
            if not keys or set(as_list(keys)) != LEADING_KEYS or others:
                unlimited.append(f"{actions} under {cond!r}")
        r.check(not unlimited,
                f"iam: {checked[0]} reads DynamoDB only where dynamodb:LeadingKeys (ForAllValues) are "
                f"{sorted(LEADING_KEYS)}", "; ".join(unlimited))

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


def check_extension_layer(t: Template, r: Report) -> None:
    """Each authorizer's extension layer: the mapping's, by region and architecture, unless overridden."""
    for binary in AUTHORIZERS.values():
        _check_extension_layer(t, r, binary)


def _check_extension_layer(t: Template, r: Report, binary: str) -> None:
    auth = t.functions().get(binary)
    if not r.check(auth is not None, f"layers: the authorizer function {binary} exists"):
        return
    lid, res = auth
    layers = (res.get("Properties") or {}).get("Layers")
    if not r.check(isinstance(layers, list) and len(layers) == 1, f"layers: {lid} has one layer", repr(layers)):
        return
    layer = layers[0]
    override = t.parameters.get(EXTENSION_LAYER_OVERRIDE) or {}
    r.check(override.get("Default") == "",
            f"layers: {EXTENSION_LAYER_OVERRIDE} defaults to empty (the mapping's layer)",
            repr(override.get("Default")))
    maps = {n["Fn::FindInMap"][0] for n in walk(layer)
            if isinstance(n, dict) and isinstance(n.get("Fn::FindInMap"), list) and n["Fn::FindInMap"]}
    if not r.check(len(maps) == 1 and next(iter(maps)) in (t.doc.get("Mappings") or {}),
                   f"layers: {lid} takes its layer from one mapping", f"mappings {sorted(maps)}"):
        return
    name = next(iter(maps))
    table = (t.doc.get("Mappings") or {})[name]
    archs = (t.parameters.get("Architecture") or {}).get("AllowedValues") or []
    r.check(sorted(archs) == sorted(EXTENSION_LAYER) and "us-east-1" in table,
            f"layers: {name} covers us-east-1, Architecture is one of {sorted(EXTENSION_LAYER)}",
            f"{len(table)} regions, architectures {archs}")

    missing, wrong_region, wrong_name, not_mapping, accounts = [], [], [], [], []
    pattern = re.compile(r"arn:aws:lambda:([a-z0-9-]+):([0-9]{12}):layer:([A-Za-z0-9-]+):([0-9]+)")
    for region in sorted(table):
        owners = set()
        for arch in archs:
            ev = Evaluator(t, {EXTENSION_LAYER_OVERRIDE: "", "Architecture": arch}, region)
            try:
                arn = ev.value(layer)
            except Unresolvable as e:
                missing.append(f"{region} {arch} ({e})")
                continue
            m = pattern.fullmatch(arn) if isinstance(arn, str) else None
            if m is None or m.group(1) != region:
                wrong_region.append(f"{region} {arch}: {arn}")
                continue
            if m.group(3) != EXTENSION_LAYER.get(arch):
                wrong_name.append(f"{region} {arch}: {m.group(3)}")
            if arn not in (table[region] or {}).values():
                not_mapping.append(f"{region} {arch}")
            owners.add(m.group(2))
        if len(owners) > 1:
            accounts.append(region)
    r.check(not missing, f"layers: every region in {name} has a layer for each architecture", "; ".join(missing))
    r.check(not wrong_region, f"layers: every {name} ARN is a layer ARN of its own region", "; ".join(wrong_region))
    r.check(not wrong_name, "layers: arm64 uses the -Arm64 layer, x86_64 the other",
            "; ".join(wrong_name))
    r.check(not accounts, "layers: both architectures of a region come from one AWS account", ", ".join(accounts))
    r.check(not not_mapping, f"layers: with {EXTENSION_LAYER_OVERRIDE} empty, {lid} uses {name}",
            "; ".join(not_mapping))
    pinned = "arn:aws:lambda:us-east-1:123456789012:layer:AWS-Parameters-and-Secrets-Lambda-Extension-Arm64:1"
    try:
        got = [Evaluator(t, {EXTENSION_LAYER_OVERRIDE: pinned, "Architecture": a}, reg).value(layer)
               for a in archs for reg in ("us-east-1", next(iter(sorted(table)), "us-east-1"))]
    except Unresolvable as e:
        got = [str(e)]
    r.check(all(g == pinned for g in got), f"layers: {EXTENSION_LAYER_OVERRIDE} overrides {name}", repr(got[:2]))


def _metric_dims(dims: Any, ev: Evaluator) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for d in as_list(dims or []):
        if isinstance(d, dict):
            out[str(d.get("Name"))] = ev.value(d.get("Value"))
    return out


def _expected_dims(t: Template, spec: dict[str, Any], ev: Evaluator) -> dict[str, Any]:
    out: dict[str, Any] = {}
    apis = t.of_type("AWS::Serverless::Api")
    for name, rule in spec.items():
        if isinstance(rule, str):
            out[name] = rule
        elif rule[0] == "stack":
            out[name] = ev.value({"Fn::Sub": "${AWS::StackName}"})
        elif rule[0] == "function":
            out[name] = {"Ref": (t.functions().get(rule[1]) or ("?", None))[0]}
        elif rule[0] == "authorizer":
            deployed = [lid for b, (lid, _) in t.functions().items() if b in AUTHORIZERS.values() and ev.exists(lid)]
            out[name] = {"Ref": deployed[0] if len(deployed) == 1 else f"one of {deployed}"}
        elif rule[0] == "api":
            api = next(iter(apis.values()), {})
            out[name] = ev.value((api.get("Properties") or {}).get(rule[1]))
        elif rule[0] == "table":
            out[name] = {"Ref": next(iter(t.of_type("AWS::DynamoDB::Table")), "?")}
    return out


def check_alarms(t: Template, r: Report) -> None:
    for p in (ALARM_EMAIL, ALARM_TOPIC):
        r.check((t.parameters.get(p) or {}).get("Default") == "", f"alarms: parameter {p}, empty by default")
    topic_arn = "arn:aws:sns:us-east-1:123456789012:on-call"
    scenarios = {
        "neither": {ALARM_EMAIL: "", ALARM_TOPIC: ""},
        "email": {ALARM_EMAIL: "ops@example.com", ALARM_TOPIC: ""},
        "topic": {ALARM_EMAIL: "", ALARM_TOPIC: topic_arn},
        "both": {ALARM_EMAIL: "ops@example.com", ALARM_TOPIC: topic_arn},
    }
    evs = {k: Evaluator(t, v) for k, v in scenarios.items()}
    topics = t.of_type("AWS::SNS::Topic")

    def existing_topics(ev: Evaluator) -> list[str]:
        return [lid for lid in topics if ev.exists(lid)]

    try:
        made = {k: existing_topics(ev) for k, ev in evs.items()}
        ok = not made["neither"] and len(made["email"]) == 1 and not made["topic"] and not made["both"]
    except Unresolvable as e:
        made, ok = {"error": str(e)}, False
    r.check(ok, f"alarms: an SNS topic is created only for {ALARM_EMAIL} without {ALARM_TOPIC}", repr(made))

    # Where the alarms notify in each scenario: the stack's topic or the given one.
    def destination(k: str) -> Any:
        return {"Ref": made["email"][0]} if k == "email" and made.get("email") else topic_arn

    subscribed = []
    for k in ("email", "both"):
        ev = evs[k]
        for lid, sub in t.of_type("AWS::SNS::Subscription").items():
            try:
                p = sub.get("Properties") or {}
                if (ev.exists(lid) and p.get("Protocol") == "email"
                        and ev.value(p.get("Endpoint")) == scenarios[k][ALARM_EMAIL]
                        and ev.value(p.get("TopicArn")) == destination(k)):
                    subscribed.append(k)
            except Unresolvable:
                pass
        for lid, topic in topics.items():
            for sub in as_list((topic.get("Properties") or {}).get("Subscription") or []):
                try:
                    if (ev.exists(lid) and isinstance(sub, dict) and sub.get("Protocol") == "email"
                            and ev.value(sub.get("Endpoint")) == scenarios[k][ALARM_EMAIL]
                            and destination(k) == {"Ref": lid}):
                        subscribed.append(k)
                except Unresolvable:
                    pass
    r.check(sorted(set(subscribed)) == ["both", "email"],
            f"alarms: {ALARM_EMAIL} is subscribed to the topic the alarms notify", repr(sorted(set(subscribed))))

    for lid, spec in ALARMS.items():
        res = t.resources.get(lid)
        if not r.check(isinstance(res, dict) and res.get("Type") == "AWS::CloudWatch::Alarm",
                       f"alarms: {lid} is an AWS::CloudWatch::Alarm"):
            continue
        try:
            exists = {k: ev.exists(lid) for k, ev in evs.items()}
        except Unresolvable as e:
            exists = {"error": str(e)}
        r.check(exists == {"neither": False, "email": True, "topic": True, "both": True},
                f"alarms: {lid} exists only with {ALARM_EMAIL} or {ALARM_TOPIC}", repr(exists))
        props = res.get("Properties") or {}
        wrong = []
        for k in ("email", "topic", "both"):
            for key in ("AlarmActions", "OKActions"):
                try:
                    got = evs[k].value(props.get(key))
                except Unresolvable as e:
                    got = str(e)
                if got != [destination(k)]:
                    wrong.append(f"{key} with {k}: {got!r}")
        r.check(not wrong, f"alarms: {lid} AlarmActions and OKActions are the alarm topic", "; ".join(wrong))

        problems, what = [], "its metric"
        for setting in AUTHORIZERS:
            try:
                found, what = _alarm_metric_problems(
                    t, spec, props, Evaluator(t, {**scenarios["email"], REVOCATION_PARAM: setting}))
            except Unresolvable as e:
                found = [str(e)]
            problems += [f"{REVOCATION_PARAM}={setting}: {p}" for p in found]
        r.check(not problems, f"alarms: {lid} is Sum of {what} per {spec['period']} s >= threshold, "
                f"missing data not breaching", "; ".join(problems))


def _alarm_metric_problems(t: Template, spec: dict[str, Any], props: dict[str, Any],
                           ev: Evaluator) -> tuple[list[str], str]:
    """What differs between an alarm's metric and the contract's, and the metric's name."""
    problems: list[str] = []
    expected = _expected_dims(t, spec["dims"], ev)
    if "math" in spec:
        stats, returned = {}, []
        for q in as_list(props.get("Metrics") or []):
            if not isinstance(q, dict):
                continue
            if q.get("ReturnData", True) is True and "Expression" in q:
                returned.append(str(q.get("Expression")))
            ms = q.get("MetricStat") or {}
            m = ms.get("Metric") or {}
            metric = (m.get("Namespace"), m.get("MetricName"))
            if (metric in spec["math"] and _metric_dims(m.get("Dimensions"), ev) == expected
                    and ms.get("Stat") == "Sum" and ms.get("Period") == spec["period"]):
                stats[metric] = q.get("Id")
        if len(returned) != 1:
            problems.append(f"{len(returned)} expressions return data")
        for metric in spec["math"]:
            qid = stats.get(metric)
            if qid is None:
                problems.append(f"no Sum/{spec['period']} s of {metric[1]} with {expected}")
            elif not returned or not re.search(r"\b" + re.escape(str(qid)) + r"\b", returned[0]):
                problems.append(f"{metric[1]} ({qid}) not in the alarm's expression")
        what = " + ".join(m[1] for m in spec["math"])
    else:
        got = (props.get("Namespace"), props.get("MetricName"))
        if got != spec["metric"]:
            problems.append(f"metric {got}")
        dims = _metric_dims(props.get("Dimensions"), ev)
        if dims != expected:
            problems.append(f"dimensions {dims}, expected {expected}")
        if props.get("Statistic") != "Sum" or props.get("Period") != spec["period"]:
            problems.append(f"{props.get('Statistic')}/{props.get('Period')}")
        what = "/".join(spec["metric"])
    threshold = props.get("Threshold")
    if isinstance(spec["threshold"], tuple):
        param = ref_name(threshold)
        if param not in t.parameters or str(t.param_default(param)) != str(spec["threshold"][1]):
            problems.append(f"threshold {threshold!r}, expected a parameter defaulting to {spec['threshold'][1]}")
    elif str(threshold) not in (str(spec["threshold"]), f"{spec['threshold']}.0"):
        problems.append(f"threshold {threshold!r}")
    if props.get("ComparisonOperator") != "GreaterThanOrEqualToThreshold":
        problems.append(repr(props.get("ComparisonOperator")))
    if props.get("TreatMissingData") != "notBreaching":
        problems.append(f"TreatMissingData {props.get('TreatMissingData')!r}")
    return problems, what


def _metric_lines(body: Any) -> list[tuple[str, str, dict[str, Any]]]:
    """(namespace, metric, dimensions) of every metric a dashboard body graphs explicitly."""
    out = []
    for w in (body.get("widgets") or []) if isinstance(body, dict) else []:
        for m in ((w.get("properties") or {}).get("metrics") or []) if isinstance(w, dict) else []:
            items = [i for i in m if not isinstance(i, dict)] if isinstance(m, list) else []
            if len(items) >= 2 and len(items) % 2 == 0 and all(isinstance(i, str) for i in items):
                out.append((items[0], items[1], dict(zip(items[2::2], items[3::2]))))
    return out


def check_dashboard(t: Template, r: Report) -> None:
    boards = t.of_type("AWS::CloudWatch::Dashboard")
    if not r.check(len(boards) == 1, "dashboard: exactly one AWS::CloudWatch::Dashboard", f"found {sorted(boards)}"):
        return
    lid, board = next(iter(boards.items()))
    ev = Evaluator(t)
    props = board.get("Properties") or {}
    r.check("Condition" not in board, f"dashboard: {lid} is always created", repr(board.get("Condition")))
    try:
        name = ev.value(props.get("DashboardName"))
    except Unresolvable as e:
        name = str(e)
    r.check(name == ev.STACK, f"dashboard: {lid} is named after the stack", repr(props.get("DashboardName")))
    raw = props.get("DashboardBody")
    try:
        text = ev.sub(raw["Fn::Sub"]) if isinstance(raw, dict) and set(raw) == {"Fn::Sub"} else raw
        body = json.loads(text)
        ok, detail = isinstance(body, dict) and isinstance(body.get("widgets"), list), ""
    except (Unresolvable, TypeError, ValueError) as e:
        body, ok, detail = {}, False, str(e)
    if not r.check(ok, f"dashboard: {lid} body is valid JSON after Fn::Sub (a literal ${{ written ${{!)", detail):
        return
    region = ev.values["AWS::Region"]
    no_region = [str((w.get("properties") or {}).get("title")) for w in body["widgets"]
                 if isinstance(w, dict) and w.get("type") == "metric"
                 and (w.get("properties") or {}).get("region") != region]
    r.check(not no_region, "dashboard: every metric widget names the stack's region", ", ".join(no_region))

    lines = _metric_lines(body)
    ours = [d for ns, _, d in lines if ns == METRICS_NAMESPACE]
    r.check(bool(ours) and all(d.get("Stack") == ev.STACK for d in ours),
            f"dashboard: every {METRICS_NAMESPACE} metric is this stack's (Stack = the stack name)",
            repr([d for d in ours if d.get("Stack") != ev.STACK][:3]))
    shown = {(d.get("UseCase"), d.get("Outcome")) for ns, m, d in lines if ns == METRICS_NAMESPACE and m == "Requests"}
    missing = [f"{uc}/{o}" for uc, outs in OUTCOMES.items() for o in outs if (uc, o) not in shown]
    r.check(not missing, f"dashboard: {METRICS_NAMESPACE} Requests for every use case and outcome", ", ".join(missing))
    latency = {d.get("UseCase") for ns, m, d in lines if ns == METRICS_NAMESPACE and m == "Latency"}
    r.check(set(OUTCOMES) <= latency, f"dashboard: {METRICS_NAMESPACE} Latency for every use case",
            ", ".join(sorted(set(OUTCOMES) - latency)))
    for setting in AUTHORIZERS:
        sev = Evaluator(t, {REVOCATION_PARAM: setting})
        try:
            slines = _metric_lines(json.loads(sev.sub(raw["Fn::Sub"])))
            fns = {lid for lid, _ in t.functions().values() if sev.exists(lid)}
        except (Unresolvable, TypeError, ValueError, KeyError) as e:
            slines, fns = [], {f"unresolvable: {e}"}
        for metric in ("Errors", "Throttles", "Duration"):
            seen = {d.get("FunctionName") for ns, m, d in slines if ns == "AWS/Lambda" and m == metric}
            lacking = sorted(f for f in fns if f"RES_{f}" not in seen)
            r.check(not lacking, f"dashboard: Lambda {metric} of every function deployed with "
                    f"{REVOCATION_PARAM}={setting}", ", ".join(lacking))
    api = next(iter(t.of_type("AWS::Serverless::Api").values()), {})
    try:
        api_dims = {"ApiName": ev.value((api.get("Properties") or {}).get("Name")),
                    "Stage": ev.value((api.get("Properties") or {}).get("StageName"))}
    except Unresolvable as e:
        api_dims = {"unresolvable": str(e)}
    for metric in ("4XXError", "5XXError", "Latency"):
        r.check(any(ns == "AWS/ApiGateway" and m == metric and d == api_dims for ns, m, d in lines),
                f"dashboard: API Gateway {metric} of this API and stage")
    table = next(iter(t.of_type("AWS::DynamoDB::Table")), "?")
    for metric in ("ReadThrottleEvents", "WriteThrottleEvents",
                   "ConsumedReadCapacityUnits", "ConsumedWriteCapacityUnits"):
        r.check(any(ns == "AWS/DynamoDB" and m == metric and d == {"TableName": f"RES_{table}"} for ns, m, d in lines),
                f"dashboard: DynamoDB {metric} of the table")


def _resolve_deep(ev: Evaluator, v: Any) -> Any:
    """A whole resource or output as CloudFormation would see it for ev's parameters."""
    if isinstance(v, list):
        return [_resolve_deep(ev, i) for i in v]
    if isinstance(v, dict):
        if len(v) == 1 and next(iter(v)) in ("Ref", "Fn::If", "Fn::Sub", "Fn::FindInMap", "Condition"):
            resolved = ev.value(v)
            if resolved is not v:
                return _resolve_deep(ev, resolved)
            return v
        return {k: _resolve_deep(ev, x) for k, x in v.items()}
    return v


def check_references(t: Template, r: Report) -> None:
    """For each AuthorizerRevocationCheck, nothing that exists names a resource that does not
    (an unguarded reference to the authorizer that setting leaves out fails the deployment)."""
    for setting in AUTHORIZERS:
        ev = Evaluator(t, {REVOCATION_PARAM: setting})
        dangling: list[str] = []
        items = [(lid, res) for lid, res in t.resources.items()]
        items += [(f"Outputs.{name}", out) for name, out in (t.doc.get("Outputs") or {}).items()]
        for lid, node in items:
            try:
                if isinstance(node, dict) and "Condition" in node and not ev.condition(node["Condition"]):
                    continue
                body = {k: v for k, v in node.items() if k not in ("Condition", "Type")}
                resolved = _resolve_deep(ev, body)
            except Unresolvable as e:
                dangling.append(f"{lid}: {e}")
                continue
            for n in walk(resolved):
                names = []
                if ref_name(n):
                    names.append(ref_name(n))
                if getatt(n):
                    names.append(getatt(n)[0])
                if isinstance(n, str):
                    names += [m.split(".")[0] for m in re.findall(r"RES_([A-Za-z0-9.]+)", n)]
                for name in names:
                    if name in t.resources and not ev.exists(name):
                        dangling.append(f"{lid} -> {name}")
        r.check(not dangling, f"template: with {REVOCATION_PARAM}={setting}, every reference names a deployed resource",
                "; ".join(sorted(set(dangling))))


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
    for check in (check_api, check_iam, check_table, check_secret, check_outputs,
                  check_extension_layer, check_alarms, check_dashboard, check_references):
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


def _env(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["Globals"]["Function"]["Environment"]["Variables"]


def _layers(doc: dict[str, Any]) -> dict[str, Any]:
    """The extension layer mapping (named by the authorizer's Fn::FindInMap)."""
    layer = _fn(doc, "tessera-authorizer")["Properties"]["Layers"][0]
    name = next(n["Fn::FindInMap"][0] for n in walk(layer) if isinstance(n, dict) and "Fn::FindInMap" in n)
    return doc["Mappings"][name]


def _swap_architectures(doc: dict[str, Any]) -> None:
    row = _layers(doc)["eu-west-1"]
    (a, b) = sorted(row)
    row[a], row[b] = row[b], row[a]


def _alarm(doc: dict[str, Any], lid: str) -> dict[str, Any]:
    return doc["Resources"][lid]["Properties"]


def _dims(doc: dict[str, Any], lid: str) -> dict[str, Any]:
    return {d["Name"]: d for d in _alarm(doc, lid)["Dimensions"]}


def _dashboard(doc: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in doc["Resources"].values() if r["Type"] == "AWS::CloudWatch::Dashboard")["Properties"]


def _edit_dashboard(doc: dict[str, Any], old: str, new: str) -> None:
    body = _dashboard(doc)["DashboardBody"]
    sub = body["Fn::Sub"]
    text = sub[0] if isinstance(sub, list) else sub
    if old not in text:
        raise KeyError(old)
    if isinstance(sub, list):
        sub[0] = text.replace(old, new)
    else:
        body["Fn::Sub"] = text.replace(old, new)


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
    "401 unreadable by a cookie app": lambda d: next(
        r for r in d["Resources"].values() if r["Type"] == "AWS::Serverless::Api"
    )["Properties"]["GatewayResponses"]["UNAUTHORIZED"]["ResponseParameters"]["Headers"].pop(
        "Access-Control-Allow-Credentials"),
    "preflight without credentials": lambda d: next(
        r for r in d["Resources"].values() if r["Type"] == "AWS::Serverless::Api"
    )["Properties"]["Cors"].pop("AllowCredentials"),
    "cookie delivery with CORS *": lambda d: d.pop("Rules"),
    "LogLevel never reaches Lambda": lambda d: d["Globals"]["Function"]["LoggingConfig"].pop(
        "ApplicationLogLevel"),
    "LogLevel warn drops the metric lines": lambda d: d["Parameters"]["LogLevel"][
        "AllowedValues"].append("warn"),
    "binary named bootstrap": lambda d: _fn(d, "tessera-me")["Metadata"]["BuildProperties"].update(
        {"Binary": "bootstrap"}),
    "METRICS_STACK missing": lambda d: _env(d).pop("METRICS_STACK"),
    "METRICS_STACK a fixed name": lambda d: _env(d).update({"METRICS_STACK": "tessera"}),
    "a region without its arm64 layer": lambda d: _layers(d)["eu-west-1"].pop(
        next(k for k, v in _layers(d)["eu-west-1"].items() if "-Arm64:" in v)),
    "a layer ARN of another region": lambda d: _layers(d)["eu-west-1"].update(
        {k: v.replace("eu-west-1", "eu-west-2") for k, v in _layers(d)["eu-west-1"].items()}),
    "arm64 and x86_64 layers swapped": _swap_architectures,
    "the authorizer ignores the mapping": lambda d: _fn(d, "tessera-authorizer")["Properties"].update(
        {"Layers": [{"Ref": "SecretsExtensionLayerArn"}]}),
    "the layer override ignored": lambda d: _fn(d, "tessera-authorizer")["Properties"]["Layers"].__setitem__(
        0, _fn(d, "tessera-authorizer")["Properties"]["Layers"][0]["Fn::If"][2]),
    "the override defaults to a fixed layer": lambda d: d["Parameters"]["SecretsExtensionLayerArn"].update(
        {"Default": "arn:aws:lambda:us-east-1:177933569100:layer:"
                    "AWS-Parameters-and-Secrets-Lambda-Extension-Arm64:99"}),
    "an alarm without its condition": lambda d: d["Resources"]["ReuseDetectedAlarm"].pop("Condition"),
    "the reuse alarm on another outcome": lambda d: _dims(d, "ReuseDetectedAlarm")["Outcome"].update(
        {"Value": "revoked"}),
    "the reuse alarm of every stack": lambda d: _alarm(d, "ReuseDetectedAlarm").update(
        {"Dimensions": [x for x in _alarm(d, "ReuseDetectedAlarm")["Dimensions"] if x["Name"] != "Stack"]}),
    "an alarm without OKActions": lambda d: _alarm(d, "Api5xxAlarm").pop("OKActions"),
    "an alarm notifies a topic that does not exist": lambda d: _alarm(d, "AuthorizerErrorsAlarm").update(
        {"AlarmActions": [{"Ref": "AlarmTopic"}]}),
    "the authorizer alarm watches another function": lambda d: _dims(d, "AuthorizerErrorsAlarm")[
        "FunctionName"].update({"Value": {"Ref": "LoginFunction"}}),
    "the checking authorizer reads the whole table": lambda d: next(
        st for st in _statements(d, "tessera-authorizer-checked") if st.get("Sid") == "ReadSessionsAndUsers"
    ).pop("Condition"),
    "the checking authorizer reads failed-login counters": lambda d: next(
        st for st in _statements(d, "tessera-authorizer-checked") if st.get("Sid") == "ReadSessionsAndUsers"
    )["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"].append("LOGIN#*"),
    "LeadingKeys for any value": lambda d: next(
        st for st in _statements(d, "tessera-authorizer-checked") if st.get("Sid") == "ReadSessionsAndUsers"
    ).update({"Condition": {"ForAnyValue:StringLike": {"dynamodb:LeadingKeys": ["SESSION#*", "USER#*"]}}}),
    "the checking authorizer may write": lambda d: next(
        st for st in _statements(d, "tessera-authorizer-checked") if st.get("Sid") == "ReadSessionsAndUsers"
    )["Action"].append("dynamodb:UpdateItem"),
    "session still runs the lean authorizer": lambda d: next(
        r for r in d["Resources"].values() if r["Type"] == "AWS::Serverless::Api"
    )["Properties"]["Auth"]["Authorizers"]["TokenAuthorizer"].update(
        {"FunctionArn": {"Fn::GetAtt": ["AuthorizerFunction", "Arn"]}}),
    "both authorizers deployed": lambda d: d["Resources"]["AuthorizerFunction"].pop("Condition"),
    "session keeps the long decision cache": lambda d: next(
        r for r in d["Resources"].values() if r["Type"] == "AWS::Serverless::Api"
    )["Properties"]["Auth"]["Authorizers"]["TokenAuthorizer"]["Identity"].update(
        {"ReauthorizeEvery": {"Ref": "AuthorizerResultTtl"}}),
    "the micro-cache apart from the decision cache": lambda d: _fn(d, "tessera-authorizer-checked")[
        "Properties"]["Environment"]["Variables"].update({"AUTHORIZER_REVOCATION_CACHE": "30"}),
    "the alarm watches the lean authorizer under session": lambda d: _dims(d, "AuthorizerErrorsAlarm")[
        "FunctionName"].update({"Value": {"Ref": "AuthorizerFunction"}}),
    "the output names the lean authorizer under session": lambda d: d["Outputs"]["AuthorizerFunctionArn"].update(
        {"Value": {"Fn::GetAtt": ["AuthorizerFunction", "Arn"]}}),
    "the dashboard graphs the lean authorizer under session": lambda d: _dashboard(d)["DashboardBody"][
        "Fn::Sub"][1].update({"Authorizer": {"Ref": "AuthorizerFunction"}}),
    "the checking authorizer without its layer": lambda d: _fn(d, "tessera-authorizer-checked")[
        "Properties"].pop("Layers"),
    "the 5XX alarm on another stage": lambda d: _dims(d, "Api5xxAlarm")["Stage"].update({"Value": "dev"}),
    "the throttle alarm ignores writes": lambda d: next(
        q for q in _alarm(d, "TableThrottleAlarm")["Metrics"] if "Expression" in q).update(
        {"Expression": "FILL(reads, 0)"}),
    "missing data breaches": lambda d: _alarm(d, "TableThrottleAlarm").update({"TreatMissingData": "breaching"}),
    "a topic although one is given": lambda d: d["Resources"]["AlarmTopic"].update({"Condition": "HasAlarmEmail"}),
    "the email never subscribed": lambda d: d["Resources"].pop("AlarmEmailSubscription"),
    "no dashboard": lambda d: d["Resources"].pop(
        next(k for k, r in d["Resources"].items() if r["Type"] == "AWS::CloudWatch::Dashboard")),
    "dashboard body not JSON": lambda d: _edit_dashboard(d, '"widgets": [', '"widgets": [['),
    "dashboard ${ not escaped for Fn::Sub": lambda d: _edit_dashboard(d, '"start": "-PT6H"',
                                                                      '"start": "${Start}"'),
    "dashboard without an outcome": lambda d: _edit_dashboard(d, '"Outcome", "grace_replay"', '"Outcome", "replay"'),
    "dashboard graphs another stack": lambda d: _edit_dashboard(
        d, '"Tessera", "Latency", "Stack", "${AWS::StackName}"', '"Tessera", "Latency", "Stack", "tessera"'),
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
