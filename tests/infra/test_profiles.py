"""The deployment profiles (the `Profile` parameter; docs/deploy.md, "Profiles"): production,
the default, which every other test in tests/infra checks, and trial, the same code and
security for less idle cost. What each creates and what they differ in, that trial keeps
production's security and correctness, that both pass cfn-lint and SAM's translator, and that
the page's cost arithmetic and connection budget are the template's."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint_file
from dogdetect.adapters.postgres.engine import make_engine
from sqlalchemy.pool import QueuePool

from bench import capacity
from tests.infra.conftest import (
    DEFAULT_PROFILE,
    FUNCTION_TYPE,
    MIGRATE_FUNCTION,
    NO_VALUE,
    PROFILES,
    REPO_ROOT,
    SECRET_REFS,
    TEMPLATE_PATH,
    as_list,
    at_default,
    dependencies,
    environment,
    for_profile,
    function_property,
    of_type,
    ref_target,
    references,
    transitive_dependencies,
    walk,
)
from tests.infra.test_published_versions import (  # noqa: F401  (sam_python: a fixture)
    TRANSFORM,
    packaged,
    sam_python,
)
from tests.infra.test_template import APP_FUNCTIONS, NEEDED_BY_THE_MIGRATION

# The conditions the profile decides (the template's Conditions, from IsProduction on).
PROFILE_CONDITIONS = {
    "IsProduction",
    "IsTrial",
    "CreateProxy",
    "ConnectToInstance",
    "CreateXRayEndpoint",
}
PROXY = {"DatabaseProxy", "DatabaseProxyRole", "DatabaseProxyTargetGroup", "ProxySecurityGroup"}
# What trial does not create, and what it creates differently (everything else is the same).
ONLY_IN_PRODUCTION = PROXY | {"XRayEndpoint", "OperationsDashboard"}
CHANGED_IN_TRIAL = {
    "SubmitFunction": {"SnapStart"},
    "StatusFunction": {"SnapStart"},
    "SqsEndpoint": {"SubnetIds"},
    "SecretsManagerEndpoint": {"SubnetIds"},
    # descriptions that name the proxy or X-Ray; the database's admits the functions
    "FunctionSecurityGroup": {"SecurityGroupEgress"},
    "EndpointSecurityGroup": {"GroupDescription", "SecurityGroupIngress"},
    "DatabaseSecurityGroup": {"GroupDescription", "SecurityGroupIngress"},
}
CHANGED_GLOBALS = {"Tracing", "Environment"}
CHANGED_VARIABLES = {"DATABASE_HOST", "DATABASE_TLS", "POWERTOOLS_TRACE_DISABLED"}
SNAPSTART_FUNCTIONS = ("SubmitFunction", "StatusFunction")
INTERFACE_SERVICES = {
    "production": {"sqs", "secretsmanager", "xray"},
    "trial": {"sqs", "secretsmanager"},
}
ENDPOINT_SUBNETS = {
    "production": [{"Ref": "PrivateSubnetA"}, {"Ref": "PrivateSubnetB"}],
    "trial": [{"Ref": "PrivateSubnetA"}],
}
APP_DATABASE_HOST = {
    "production": {"Fn::GetAtt": ["DatabaseProxy", "Endpoint"]},
    "trial": {"Fn::GetAtt": ["Database", "Endpoint.Address"]},
}


@pytest.fixture(scope="module", params=PROFILES)
def profile(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def deployed(raw_template: dict[str, Any], profile: str) -> dict[str, Any]:
    """The profile's template, the other parameters left open (as `template` is production's)."""
    return for_profile(raw_template, profile)


@pytest.fixture(scope="module")
def at_defaults(raw_template: dict[str, Any], profile: str) -> dict[str, Any]:
    """The profile's template with every other parameter at its default: a new network and
    database, as a first `sam deploy` that answers only the profile creates."""
    return for_profile(raw_template, profile, defaults(raw_template))


@pytest.fixture(scope="module")
def production(raw_template: dict[str, Any]) -> dict[str, Any]:
    return for_profile(raw_template, "production")


@pytest.fixture(scope="module")
def trial(raw_template: dict[str, Any]) -> dict[str, Any]:
    return for_profile(raw_template, "trial")


def defaults(template: dict[str, Any]) -> dict[str, str]:
    return {name: str(p.get("Default", "")) for name, p in template["Parameters"].items()}


def functions_of(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return of_type(template["Resources"], FUNCTION_TYPE)


def default_of(template: dict[str, Any], value: Any) -> Any:
    """A literal, or the default of the parameter it names."""
    name = ref_target(value)
    return template["Parameters"][name]["Default"] if name in template["Parameters"] else value


# ------------------------------------------------------------------ the parameter


def test_the_profile_is_one_parameter_production_by_default(raw_template: dict[str, Any]) -> None:
    parameter = raw_template["Parameters"]["Profile"]
    assert parameter["AllowedValues"] == list(PROFILES)
    assert parameter["Default"] == DEFAULT_PROFILE == "production"
    conditions = raw_template["Conditions"]
    assert conditions["IsProduction"] == {"Fn::Equals": [{"Ref": "Profile"}, "production"]}
    assert conditions["IsTrial"] == {"Fn::Equals": [{"Ref": "Profile"}, "trial"]}

    def on_profile(name: str) -> bool:
        definition = conditions[name]
        named = {
            n["Condition"]
            for n in walk(definition)
            if isinstance(n, dict) and isinstance(n.get("Condition"), str)
        }
        return "Profile" in references(definition) or any(on_profile(n) for n in named)

    assert {name for name in conditions if on_profile(name)} == PROFILE_CONDITIONS


def test_each_profile_decides_its_conditions_and_names_only_what_it_creates(
    raw_template: dict[str, Any], deployed: dict[str, Any]
) -> None:
    """No condition of the profile is left to CloudFormation, and whatever the profile's
    template names (Ref, GetAtt, Sub, DependsOn) exists in it: a resource left out is not
    named by anything kept."""
    named_in_raw = {
        n["Fn::If"][0] for n in walk(raw_template) if isinstance(n, dict) and "Fn::If" in n
    }
    assert PROFILE_CONDITIONS & named_in_raw  # there was something to decide
    for node in walk(deployed):
        if isinstance(node, dict):
            decided = [node.get("Condition"), *node.get("Fn::If", [])[:1]]
            assert not PROFILE_CONDITIONS & {n for n in decided if isinstance(n, str)}
    assert not PROFILE_CONDITIONS & set(deployed["Conditions"])
    known = set(deployed["Resources"]) | set(deployed["Parameters"])
    for name, resource in deployed["Resources"].items():
        named = references(resource) | set(as_list(resource.get("DependsOn", [])))
        assert named <= known, f"{name} names {named - known}"
    assert references(deployed["Globals"]) <= known
    assert references(deployed["Outputs"]) <= known


def test_for_profile_decides_as_cloudformation_does() -> None:
    """The reading every profile test relies on (conftest.for_profile), on a template small
    enough to know by heart: a condition decided, one that comes down to another, one left
    open; AWS::NoValue chosen removes, AWS::NoValue written stays."""
    template: dict[str, Any] = {
        "Parameters": {"Profile": {"Type": "String"}, "Host": {"Type": "String"}},
        "Conditions": {
            "IsProduction": {"Fn::Equals": [{"Ref": "Profile"}, "production"]},
            "CreateDatabase": {"Fn::Equals": [{"Ref": "Host"}, ""]},
            "CreateProxy": {
                "Fn::And": [{"Condition": "CreateDatabase"}, {"Condition": "IsProduction"}]
            },
            "Elsewhere": {
                "Fn::Or": [
                    {"Fn::Not": [{"Condition": "IsProduction"}]},
                    {"Condition": "IsProduction"},
                ]
            },
        },
        "Resources": {
            "Proxy": {"Type": "T", "Condition": "CreateProxy"},
            "Thing": {
                "Type": "T",
                "Condition": "Elsewhere",
                "Properties": {
                    "List": ["a", {"Fn::If": ["IsProduction", NO_VALUE, "b"]}],
                    "Gone": {"Fn::If": ["IsProduction", 1, NO_VALUE]},
                    "Open": {"Fn::If": ["CreateProxy", 1, 2]},
                    "Written": NO_VALUE,
                },
            },
        },
    }
    production = for_profile(template, "production")
    assert production["Resources"]["Proxy"] == {"Type": "T", "Condition": "CreateDatabase"}
    assert production["Resources"]["Thing"] == {
        "Type": "T",
        "Properties": {
            "List": ["a"],
            "Gone": 1,
            "Open": {"Fn::If": ["CreateDatabase", 1, 2]},
            "Written": NO_VALUE,
        },
    }
    assert set(production["Conditions"]) == {"CreateDatabase"}
    trial = for_profile(template, "trial")
    assert set(trial["Resources"]) == {"Thing"}
    assert trial["Resources"]["Thing"]["Properties"] == {
        "List": ["a", "b"],
        "Open": 2,
        "Written": NO_VALUE,
    }
    shared = for_profile(template, "production", {"Host": "db.example.com"})
    assert set(shared["Resources"]) == {"Thing"} and shared["Conditions"] == {}


# ------------------------------------------------------------------ what each creates


def test_trial_leaves_out_the_proxy_and_the_xray_endpoint(
    production: dict[str, Any], trial: dict[str, Any]
) -> None:
    assert set(production["Resources"]) - set(trial["Resources"]) == ONLY_IN_PRODUCTION
    assert set(trial["Resources"]) <= set(production["Resources"])
    assert len(of_type(production["Resources"], "AWS::RDS::DBProxy")) == 1
    assert of_type(trial["Resources"], "AWS::RDS::DBProxy") == {}
    assert of_type(trial["Resources"], "AWS::RDS::DBProxyTargetGroup") == {}
    assert "DatabaseProxyEndpoint" in production["Outputs"]
    assert "DatabaseProxyEndpoint" not in trial["Outputs"]


def test_trial_changes_only_what_it_must(production: dict[str, Any], trial: dict[str, Any]) -> None:
    """The same resources, properties and code but for the listed ones: nothing else of
    production's (roles, queues, bucket, alarms, the migration, the database) moves."""
    changed = {
        name: {
            key
            for key in set(resource["Properties"])
            | set(production["Resources"][name]["Properties"])
            if resource["Properties"].get(key)
            != production["Resources"][name]["Properties"].get(key)
        }
        for name, resource in trial["Resources"].items()
        if resource != production["Resources"][name]
    }
    assert changed == CHANGED_IN_TRIAL
    globals_of = {p: t["Globals"]["Function"] for p, t in (("p", production), ("t", trial))}
    assert {k for k in globals_of["p"] if globals_of["p"][k] != globals_of["t"].get(k)} == (
        CHANGED_GLOBALS
    )
    variables = {p: g["Environment"]["Variables"] for p, g in globals_of.items()}
    assert {
        k
        for k in set(variables["p"]) | set(variables["t"])
        if variables["p"].get(k) != variables["t"].get(k)
    } == CHANGED_VARIABLES
    assert production["Globals"]["HttpApi"] == trial["Globals"]["HttpApi"]


def test_both_deploy_the_same_code(production: dict[str, Any], trial: dict[str, Any]) -> None:
    code = ("CodeUri", "Handler", "Runtime", "Layers", "PackageType", "MemorySize", "Timeout")
    for name, function in functions_of(production).items():
        other = functions_of(trial)[name]
        for key in code:
            assert function["Properties"].get(key) == other["Properties"].get(key), (name, key)
        assert function.get("Metadata") == other.get("Metadata"), name  # the predict image's
        assert function["Properties"].get("Events") == other["Properties"].get("Events"), name
    for layer in ("CoreLayer", "DepsLayer"):
        assert production["Resources"][layer] == trial["Resources"][layer]


def test_the_functions_connect_to_the_proxy_or_to_the_instance(
    deployed: dict[str, Any], profile: str
) -> None:
    for name in APP_FUNCTIONS:
        host = environment(deployed, deployed["Resources"][name])["DATABASE_HOST"]
        assert host == {
            "Fn::If": [
                "CreateDatabase",
                APP_DATABASE_HOST[profile],
                {"Ref": "ExistingDatabaseHost"},
            ]
        }, name
    # the migration connects to the instance itself in both
    migrate = environment(deployed, deployed["Resources"][MIGRATE_FUNCTION])
    assert migrate["DATABASE_HOST"]["Fn::If"][1] == APP_DATABASE_HOST["trial"]


def test_the_instance_admits_the_proxy_or_the_functions_and_the_migration(
    deployed: dict[str, Any], profile: str
) -> None:
    resources = deployed["Resources"]
    rules = list(resources["DatabaseSecurityGroup"]["Properties"]["SecurityGroupIngress"])
    rules += [
        r["Properties"]
        for r in of_type(resources, "AWS::EC2::SecurityGroupIngress").values()
        if ref_target(r["Properties"]["GroupId"]) == "DatabaseSecurityGroup"
    ]
    assert all("CidrIp" not in r and "CidrIpv6" not in r for r in rules)  # groups, no addresses
    sources = set().union(*(references(r["SourceSecurityGroupId"]) for r in rules))
    admitted = {
        "production": {"ProxySecurityGroup"},
        # notify is in neither: it runs outside the VPC
        "trial": {"FunctionSecurityGroup", "ExistingSecurityGroupId"},
    }
    assert sources == admitted[profile] | {"MigrateSecurityGroup"}


def test_snapstart_in_production_only(deployed: dict[str, Any], profile: str) -> None:
    apply_on = {"production": "PublishedVersions", "trial": "None"}[profile]
    for name, function in functions_of(deployed).items():
        snapstart = function_property(deployed, function, "SnapStart")
        if name in SNAPSTART_FUNCTIONS:
            assert snapstart == {"ApplyOn": apply_on}, name
            # the HTTP API calls the alias SAM publishes, in both (free without SnapStart)
            assert function_property(deployed, function, "AutoPublishAlias") == "live", name
        else:
            assert snapstart is None, name


def interface_endpoints(template: dict[str, Any]) -> dict[str, Any]:
    return {
        r["Properties"]["ServiceName"]["Fn::Sub"].rsplit(".", 1)[-1]: r["Properties"]
        for r in of_type(template["Resources"], "AWS::EC2::VPCEndpoint").values()
        if r["Properties"]["VpcEndpointType"] == "Interface"
    }


def test_interface_endpoints_in_two_zones_or_one(deployed: dict[str, Any], profile: str) -> None:
    endpoints = interface_endpoints(deployed)
    assert set(endpoints) == INTERFACE_SERVICES[profile]
    for service, endpoint in endpoints.items():
        assert endpoint["SubnetIds"] == ENDPOINT_SUBNETS[profile], service
        assert endpoint["PrivateDnsEnabled"] is True, service  # the SDKs' own host names
    # the free gateway endpoint to S3 in both (the migration answers CloudFormation through it)
    (s3,) = [
        r
        for r in of_type(deployed["Resources"], "AWS::EC2::VPCEndpoint").values()
        if r["Properties"]["VpcEndpointType"] == "Gateway"
    ]
    assert s3["Properties"]["ServiceName"]["Fn::Sub"].endswith(".s3")


def test_traces_only_where_they_can_be_sent(deployed: dict[str, Any], profile: str) -> None:
    """The VPC's functions send traces through the X-Ray endpoint: without it (trial) none
    are made, and Powertools does not load the X-Ray SDK."""
    tracing = {"production": "Active", "trial": "PassThrough"}[profile]
    disabled = {"production": None, "trial": "true"}[profile]
    for name, function in functions_of(deployed).items():
        assert function_property(deployed, function, "Tracing") == tracing, name
        assert environment(deployed, function).get("POWERTOOLS_TRACE_DISABLED") == disabled, name
    assert ("XRayEndpoint" in deployed["Resources"]) == (tracing == "Active")


# ------------------------------------------------------------------ no weaker security


def test_the_database_is_private_encrypted_and_its_passwords_in_secrets_manager(
    at_defaults: dict[str, Any],
) -> None:
    database = at_defaults["Resources"]["Database"]["Properties"]
    assert database["PubliclyAccessible"] is False
    assert database["StorageEncrypted"] is True
    assert database["ManageMasterUserPassword"] is True and "MasterUserPassword" not in database
    assert references(database["DBSubnetGroupName"]) == {"DatabaseSubnetGroup"}
    for name, function in functions_of(at_defaults).items():
        env = environment(at_defaults, function)
        assert not [v for v in env if "PASSWORD" in v or v == "DATABASE_URL"], name
        if "DATABASE_SECRET_ARN" in env:  # a secret's ARN, never its value
            assert references(env["DATABASE_SECRET_ARN"]) <= SECRET_REFS, name


def test_the_functions_stay_in_private_subnets_with_no_way_out(
    deployed: dict[str, Any],
) -> None:
    resources = deployed["Resources"]
    types = {r["Type"] for r in resources.values()}
    assert not types & {"AWS::EC2::InternetGateway", "AWS::EC2::NatGateway", "AWS::EC2::EIP"}
    assert not types & {"AWS::EC2::EgressOnlyInternetGateway", "AWS::EC2::Route"}
    subnets = of_type(resources, "AWS::EC2::Subnet")
    assert all(s["Properties"]["MapPublicIpOnLaunch"] is False for s in subnets.values())
    for name, function in functions_of(deployed).items():
        vpc = function_property(deployed, function, "VpcConfig")
        if name == "NotifyFunction":  # clients' servers are on the internet; ours are not
            assert vpc == NO_VALUE
        else:
            assert references(vpc["SubnetIds"]) == {
                "PrivateSubnetA",
                "PrivateSubnetB",
                "ExistingSubnetIds",
            }, name
            assert "FunctionSecurityGroup" in references(vpc["SecurityGroupIds"]), name


@pytest.mark.parametrize("require_tls", ["true", "false"])
def test_tls_to_the_database_as_in_production(
    raw_template: dict[str, Any], profile: str, require_tls: str
) -> None:
    """With the database the template creates, production's functions speak TLS to the proxy
    (which requires it) when DatabaseRequireTls is on, the default; trial's speak it to the
    instance whatever that parameter (meant for an existing database) says, as the migration
    does. Every one verifies the server against Amazon's RDS CA bundle too."""
    parameters = {**defaults(raw_template), "DatabaseRequireTls": require_tls}
    created = for_profile(raw_template, profile, parameters)
    for name, function in functions_of(created).items():
        env = environment(created, function)
        if "DATABASE_HOST" not in env:
            continue  # notify: no database
        named = ref_target(env["DATABASE_TLS"])
        tls = parameters[named] if named else env["DATABASE_TLS"]  # as the stack is given
        if profile == "trial" or name == MIGRATE_FUNCTION:
            assert tls == "true", name
        else:
            assert env["DATABASE_TLS"] == {"Ref": "DatabaseRequireTls"}, name
            proxy = created["Resources"]["DatabaseProxy"]["Properties"]
            assert proxy["RequireTLS"] is (require_tls == "true")
        assert env["DATABASE_CA_BUNDLE"].endswith("/dogdetect/certs/rds-global-bundle.pem"), name
    # RDS's default parameter group for PostgreSQL 15 and later sets rds.force_ssl: the
    # instance itself refuses a connection without TLS
    database = created["Resources"]["Database"]["Properties"]
    assert "DBParameterGroupName" not in database and int(database["EngineVersion"]) >= 15


def test_the_migration_runs_first_and_outlives_what_it_needs(deployed: dict[str, Any]) -> None:
    graph = dependencies(deployed)
    needed = transitive_dependencies(graph, "DatabaseMigrations")
    assert needed >= NEEDED_BY_THE_MIGRATION
    # never the proxy or its target, which waits for the migration
    assert not {"DatabaseProxy", "DatabaseProxyTargetGroup"} & needed
    for name in APP_FUNCTIONS:
        assert "DatabaseMigrations" in deployed["Resources"][name]["DependsOn"], name


# ------------------------------------------------------------------ cfn-lint and SAM


@pytest.mark.parametrize("checks", [[], ["I"]], ids=["errors-warnings", "informational"])
def test_cfn_lint_reports_nothing_for_the_profile(profile: str, checks: list[str]) -> None:
    config = ManualArgs(parameters=[{"Profile": profile}], include_checks=checks)
    matches = lint_file(TEMPLATE_PATH, config=config)
    assert [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in matches] == []


def test_cfn_lint_would_catch_a_broken_trial(tmp_path: Path) -> None:
    """The trial's own branches are linted: a value only trial uses, and a trial resource
    that names the proxy trial does not have, are both reported for Profile=trial."""
    text = TEMPLATE_PATH.read_text()
    broken = text.replace(
        'ApplyOn: !If [IsProduction, PublishedVersions, "None"]',
        'ApplyOn: !If [IsProduction, PublishedVersions, "Sometimes"]',
    ).replace(
        "- [!Ref PrivateSubnetA] # trial", "- [!Ref PrivateSubnetA, !Ref DatabaseProxy] # trial", 1
    )
    assert broken.count("Sometimes") == 2 and broken.count("!Ref DatabaseProxy]") == 1
    path = tmp_path / "template.yaml"
    path.write_text(broken)
    found = lint_file(path, config=ManualArgs(parameters=[{"Profile": "trial"}]))
    assert any("Sometimes" in m.message for m in found)
    assert any("DatabaseProxy" in m.message for m in found)


def translate(python: Path, template: dict[str, Any], profile: str) -> dict[str, Any]:
    """SAM's translation as CloudFormation makes it for `Profile=profile`, then that profile's
    conditions decided: what the stack really gets."""
    result = subprocess.run(
        [str(python), str(TRANSFORM), f"Profile={profile}"],
        input=json.dumps(template),
        capture_output=True,
        text=True,
        env=dict(os.environ, AWS_DEFAULT_REGION="eu-west-1"),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return for_profile(json.loads(result.stdout), profile)


def test_sam_translates_each_profile_into_what_it_should_create(
    sam_python: Path,  # noqa: F811  (the fixture)
    raw_template: dict[str, Any],
    profile: str,
) -> None:
    resources = translate(sam_python, packaged(raw_template), profile)["Resources"]
    lambdas = of_type(resources, "AWS::Lambda::Function")
    assert len(lambdas) == len(functions_of(raw_template))
    snapstart = {"production": "PublishedVersions", "trial": "None"}[profile]
    tracing = {"production": "Active", "trial": "PassThrough"}[profile]
    for name, function in lambdas.items():
        properties = function["Properties"]
        expected = {"ApplyOn": snapstart} if name in SNAPSTART_FUNCTIONS else None
        assert properties.get("SnapStart") == expected, name
        assert properties["TracingConfig"] == {"Mode": tracing}, name
        in_vpc = properties.get("VpcConfig", NO_VALUE) != NO_VALUE
        assert in_vpc == (name != "NotifyFunction"), name
    assert len(of_type(resources, "AWS::RDS::DBProxy")) == (profile == "production")
    assert ("XRayEndpoint" in resources) == (profile == "production")
    # the API calls the published alias in both profiles
    aliases = of_type(resources, "AWS::Lambda::Alias")
    assert {ref_target(a["Properties"]["FunctionName"]) for a in aliases.values()} == set(
        SNAPSTART_FUNCTIONS
    )


# ------------------------------------------------------------------ connections (trial)

# db.t4g.micro's max_connections: RDS's default, LEAST(DBInstanceClassMemory / 9531392, 5000),
# is 80 to 112 for its 1 GiB (RDS keeps some of the memory for itself): 80 is planned on. Of
# those PostgreSQL keeps 3 for superusers (superuser_reserved_connections) and RDS 2 for its
# master user (rds.rds_superuser_reserved_connections, the migration's), so the application
# role may have 75.
INSTANCE_CLASS = "db.t4g.micro"
APP_ROLE_CONNECTIONS = 80 - 3 - 2
# Sweeps at once: one a minute that ends within its 50 s, plus a failed run's retry by
# Lambda's asynchronous invocation, which may meet the next one (the lock makes it skip).
SWEEPS_AT_ONCE = 2
WARM_REQUEST_SECONDS = 0.3  # submit's warm request (docs/deploy.md's cost estimate)
DEPLOY_DOC = REPO_ROOT / "docs" / "deploy.md"


def maximum_concurrency(template: dict[str, Any], function: str) -> int:
    (event,) = [
        e["Properties"]
        for e in template["Resources"][function]["Properties"]["Events"].values()
        if e["Type"] == "SQS"
    ]
    return int(at_default(template, event["ScalingConfig"]["MaximumConcurrency"]))


def test_trial_connections_fit_the_instance(trial: dict[str, Any]) -> None:
    """Without the proxy, each execution environment holds its own connections: at most the
    engine's pool size (one per request in flight; the sweep's lock holds a second). The
    functions the template caps leave room for this many environments of submit and status,
    which nothing in the template caps (a reservation would fail a new account's first
    deploy: tests/infra/test_template.py), and the default throttle's steady load needs fewer.
    The page states the same figures."""
    parameters = trial["Parameters"]
    assert parameters["DatabaseInstanceClass"]["Default"] == INSTANCE_CLASS
    engine_pool = make_engine("postgresql+pg8000://user:password@localhost/db").pool
    assert isinstance(engine_pool, QueuePool)
    pool = engine_pool.size()
    sweep = trial["Resources"]["SweepFunction"]
    (schedule,) = [e["Properties"]["Schedule"] for e in sweep["Properties"]["Events"].values()]
    assert schedule == "rate(1 minute)" and function_property(trial, sweep, "Timeout") < 60
    capped = {
        "predict": maximum_concurrency(trial, "PredictFunction"),
        "deadletter": maximum_concurrency(trial, "DeadLetterFunction"),
        "sweep": SWEEPS_AT_ONCE,
    }
    held = sum(capped.values()) * pool
    api_environments = (APP_ROLE_CONNECTIONS - held) // pool
    steady = (
        math.ceil(float(parameters["ApiThrottlingRateLimit"]["Default"]) * WARM_REQUEST_SECONDS)
        + int(parameters["MaxConcurrentWaits"]["Default"])
        + int(parameters["MaxConcurrentDrawings"]["Default"])
    )
    assert steady <= api_environments
    doc = " ".join(DEPLOY_DOC.read_text().split())
    stated = (
        f"({capped['predict']} + {capped['deadletter']} + {capped['sweep']}) x {pool} = {held}",
        f"({APP_ROLE_CONNECTIONS} - {held}) / {pool} = {api_environments}",
        f"= {steady} environments",
    )
    for figure in stated:
        assert figure in doc, figure


# ------------------------------------------------------------------ the idle cost (docs)

HOURS = 730  # a month, as AWS's pricing pages count it
SECONDS = HOURS * 3600
# us-east-1 on-demand prices (docs/deploy.md gives each one's page).
# The capacity model's prices (bench/capacity.py), so the two pages cannot disagree.
INSTANCE_HOUR = {c.name: c.hourly for c in capacity.DATABASE_CLASSES}  # single-AZ PostgreSQL
GP3_GB_MONTH = 0.115
PROXY_VCPU_HOUR, PROXY_MINIMUM_VCPUS = capacity.PRICES["proxy_vcpu_hour"].usd, 2
ENDPOINT_ZONE_HOUR = 0.01
SNAPSHOT_GB_SECOND = 0.0000015046
SECRET_MONTH = 0.40
ALARM_METRIC_MONTH = 0.10
DASHBOARD_MONTH = 3.00


def hourly_costs(template: dict[str, Any]) -> dict[str, float]:
    """The profile's idle items that follow from what the template creates, by the start of
    their row in the page's table."""
    resources = template["Resources"]
    database = resources["Database"]["Properties"]
    endpoint_zones = sum(len(e["SubnetIds"]) for e in interface_endpoints(template).values())
    snapshot_gb = sum(
        int(default_of(template, function_property(template, f, "MemorySize"))) / 1024
        for f in functions_of(template).values()
        if (function_property(template, f, "SnapStart") or {}).get("ApplyOn") == "PublishedVersions"
    )
    secrets = len(of_type(resources, "AWS::SecretsManager::Secret"))
    secrets += database["ManageMasterUserPassword"] is True  # the one RDS makes
    alarms = of_type(resources, "AWS::CloudWatch::Alarm").values()
    alarm_metrics = sum(
        len([m for m in a["Properties"].get("Metrics", []) if "MetricStat" in m]) or 1
        for a in alarms
    )
    proxies = len(of_type(resources, "AWS::RDS::DBProxy"))
    dashboards = len(of_type(resources, "AWS::CloudWatch::Dashboard"))
    return {
        "RDS `db.t4g.micro`": HOURS
        * INSTANCE_HOUR[default_of(template, database["DBInstanceClass"])],
        "RDS storage": int(default_of(template, database["AllocatedStorage"])) * GP3_GB_MONTH,
        "RDS Proxy": proxies * HOURS * PROXY_MINIMUM_VCPUS * PROXY_VCPU_HOUR,
        "Interface endpoints": endpoint_zones * HOURS * ENDPOINT_ZONE_HOUR,
        "SnapStart": snapshot_gb * SECONDS * SNAPSHOT_GB_SECOND,
        "Secrets Manager": secrets * SECRET_MONTH,
        "CloudWatch:": alarm_metrics * ALARM_METRIC_MONTH,
        "CloudWatch dashboard": dashboards * DASHBOARD_MONTH,
    }


def idle_table() -> list[dict[str, str]]:
    """The rows of the page's idle table (its header names both profiles' columns)."""
    lines = DEPLOY_DOC.read_text().splitlines()
    (start,) = [
        i for i, line in enumerate(lines) if line.startswith("| Item |") and "Trial" in line
    ]
    headers = [cell.strip() for cell in lines[start].strip("|").split("|")]
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(
            dict(zip(headers, [c.strip() for c in line.strip("|").split("|")], strict=True))
        )
    return rows


def dollars(cell: str) -> float:
    """The amount a cell ends with: "$11.68", "**$31.93**", "none: $0"."""
    (amount,) = re.findall(r"\$([\d,]+(?:\.\d+)?)\**$", cell)
    return float(amount.replace(",", ""))


def test_the_idle_table_is_the_arithmetic_of_what_each_profile_creates(
    production: dict[str, Any], trial: dict[str, Any]
) -> None:
    rows = idle_table()
    columns = {"Per month": hourly_costs(production), "Trial per month": hourly_costs(trial)}
    for column, costs in columns.items():
        for start, cost in costs.items():
            (row,) = [r for r in rows if r["Item"].startswith(start)]
            assert dollars(row[column]) == round(cost, 2), (column, start)
        *items, total = rows
        assert total["Item"].startswith("**Total")
        assert dollars(total[column]) == round(sum(dollars(r[column]) for r in items), 2), column
    totals = (dollars(rows[-1]["Per month"]), dollars(rows[-1]["Trial per month"]))
    assert totals[1] < totals[0]
    # and the profiles' summary says the same
    doc = DEPLOY_DOC.read_text()
    assert f"| idle cost | ${totals[0]:.2f} a month | ${totals[1]:.2f} a month |" in doc
