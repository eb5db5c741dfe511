"""Reading deploy/consumer.yaml the way CloudFormation does, for the tests.

`load` understands the short-form intrinsic tags (!Ref, !Sub, !If, ...), which plain YAML
loaders refuse, and turns them into their long JSON form ({"Ref": ...}, {"Fn::Sub": ...}).
`Resolver` evaluates a template's conditions and intrinsic functions for one set of parameter
values, so that the tests see the concrete ARNs, environment and dashboard a stack would get.
"""

import json
import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "deploy" / "consumer.yaml"


class _Loader(yaml.SafeLoader):
    """SafeLoader plus CloudFormation's short-form tags."""


def _intrinsic(name):
    def construct(loader, node):
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
            if name == "Fn::GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {name: value}

    return construct


for _tag in ("Base64", "Cidr", "FindInMap", "GetAtt", "GetAZs", "ImportValue", "Join", "Select",
             "Split", "Sub", "Transform", "And", "Equals", "If", "Not", "Or", "ToJsonString",
             "Length"):
    _Loader.add_constructor("!" + _tag, _intrinsic("Fn::" + _tag))
_Loader.add_constructor("!Ref", _intrinsic("Ref"))
_Loader.add_constructor("!Condition", _intrinsic("Condition"))


def load(path=TEMPLATE):
    """The template as plain data, intrinsic functions in their long form."""
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=_Loader)  # noqa: S506 -- a SafeLoader subclass


class _NoValue:
    """AWS::NoValue: the property or list element is dropped."""


NO_VALUE = _NoValue()

PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": "eu-west-1",
    "AWS::AccountId": "123456789012",
    "AWS::StackName": "orders",
    "AWS::URLSuffix": "amazonaws.com",
}


class Resolver:
    """Evaluates a template for parameter values (defaults filled in). Resources stand for
    themselves: a Ref is "<Name>" and a GetAtt "<Name.Attr>", except a stream's Ref (its name)
    and Arn and a Kinesis stream's conditional existence, which the tests need concretely."""

    def __init__(self, template, **params):
        self.template = template
        self.params = {}
        for name, spec in template.get("Parameters", {}).items():
            if name in params:
                self.params[name] = params.pop(name)
            elif "Default" in spec:
                self.params[name] = spec["Default"]
        if params:
            raise KeyError(f"not parameters of the template: {sorted(params)}")
        self.conditions = {}
        for name in template.get("Conditions", {}):
            self.condition(name)

    def condition(self, name):
        if name not in self.conditions:
            self.conditions[name] = bool(self.resolve(self.template["Conditions"][name]))
        return self.conditions[name]

    def ref(self, name):
        if name in PSEUDO:
            return PSEUDO[name]
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.params:
            value = self.params[name]
            return value if not isinstance(value, (int, float)) else str(value)
        resource = self.template["Resources"][name]
        if resource["Type"] == "AWS::Kinesis::Stream":
            return self.resolve(resource["Properties"]["Name"])
        return f"<{name}>"

    def get_att(self, name, attr):
        resource = self.template["Resources"][name]
        if resource["Type"] == "AWS::Kinesis::Stream" and attr == "Arn":
            stream = self.ref(name)
            return f"arn:aws:kinesis:{PSEUDO['AWS::Region']}:{PSEUDO['AWS::AccountId']}:stream/{stream}"
        return f"<{name}.{attr}>"

    def sub(self, text, variables=None):
        variables = variables or {}

        def one(match):
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(self.resolve(variables[name]))
            if "." in name and name.split(".", 1)[0] in self.template["Resources"]:
                return str(self.get_att(*name.split(".", 1)))
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", one, text)

    def resolve(self, node):
        if isinstance(node, list):
            values = [self.resolve(v) for v in node]
            return [v for v in values if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::Sub":
                if isinstance(arg, list):
                    return self.sub(arg[0], arg[1])
                return self.sub(arg)
            if key == "Fn::GetAtt":
                return self.get_att(*arg)
            if key == "Fn::If":
                name, yes, no = arg
                return self.resolve(yes if self.condition(name) else no)
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::Equals":
                a, b = (self.resolve(x) for x in arg)
                return str(a) == str(b)
            if key == "Fn::And":
                return all(self.resolve(x) for x in arg)
            if key == "Fn::Or":
                return any(self.resolve(x) for x in arg)
            if key == "Fn::Join":
                sep, parts = arg
                return sep.join(str(p) for p in self.resolve(parts))
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Split":
                sep, text = arg
                return str(self.resolve(text)).split(sep)
        values = {k: self.resolve(v) for k, v in node.items()}
        return {k: v for k, v in values.items() if v is not NO_VALUE}

    def resources(self):
        """The resources that exist under these parameters, resolved."""
        out = {}
        for name, resource in self.template["Resources"].items():
            if "Condition" in resource and not self.condition(resource["Condition"]):
                continue
            out[name] = self.resolve(resource)
        return out

    def container(self):
        """The (only) container definition."""
        (task,) = [r for r in self.resources().values() if r["Type"] == "AWS::ECS::TaskDefinition"]
        (container,) = task["Properties"]["ContainerDefinitions"]
        return container

    def dashboard(self):
        (board,) = [r for r in self.resources().values() if r["Type"] == "AWS::CloudWatch::Dashboard"]
        return json.loads(board["Properties"]["DashboardBody"])


REQUIRED = {"ImageUri": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/kcl-multilang:1",
            "StreamName": "orders-stream", "ApplicationName": "orders-consumer",
            "Subnets": ["subnet-1"], "SecurityGroup": "sg-1"}
KEY = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def scenarios(template):
    """Parameter sets covering every condition of the template: an existing stream, or a new one on
    demand or provisioned (4 shards), each with and without a customer managed key for the stream and
    the log group. The first is the defaults (an existing stream, no keys)."""
    streams = ({"CreateStream": "false"},
               {"CreateStream": "true", "StreamMode": "ON_DEMAND"},
               {"CreateStream": "true", "StreamMode": "PROVISIONED", "ShardCount": 4})
    for stream in streams:
        for kms in ("", KEY):
            params = dict(REQUIRED, **stream, StreamKmsKeyArn=kms, LogGroupKmsKeyArn=kms)
            name = " ".join(f"{k}={v}" for k, v in stream.items())
            yield f"{name} kms={'yes' if kms else 'no'}", Resolver(template, **params)
