"""deploy/consumer.yaml has what issues 13 and 19 ask of it, and its dashboard shows metrics the record
processor really emits."""

import re
import unittest

import cfn

# Fargate's valid task CPU -> memory (MiB) combinations.
FARGATE_SIZES = {
    "256": {"512", "1024", "2048"},
    "512": {str(m) for m in range(1024, 4097, 1024)},
    "1024": {str(m) for m in range(2048, 8193, 1024)},
    "2048": {str(m) for m in range(4096, 16385, 1024)},
    "4096": {str(m) for m in range(8192, 30721, 1024)},
}


def of_type(resources, kind):
    return [r for r in resources.values() if r["Type"] == kind]


class Parameters(unittest.TestCase):
    def setUp(self):
        self.params = cfn.load()["Parameters"]

    def test_the_parameters_the_issue_lists(self):
        for name in ("ImageUri", "StreamName", "CreateStream", "StreamMode", "ShardCount",
                     "ApplicationName", "TaskCpu", "TaskMemory", "DesiredCount", "MinCount", "MaxCount",
                     "Subnets", "SecurityGroup", "CpuArchitecture", "LogRetentionDays",
                     "LogGroupKmsKeyArn", "ContainerInsights"):
            self.assertIn(name, self.params)
        self.assertEqual(self.params["CpuArchitecture"]["AllowedValues"], ["X86_64", "ARM64"])
        self.assertEqual(self.params["Subnets"]["Type"], "List<AWS::EC2::Subnet::Id>")
        self.assertEqual(self.params["SecurityGroup"]["Type"], "AWS::EC2::SecurityGroup::Id")
        for required in ("ImageUri", "StreamName", "ApplicationName", "Subnets", "SecurityGroup"):
            self.assertNotIn("Default", self.params[required], f"{required} has no sensible default")

    def test_the_default_size_is_a_fargate_size_and_says_where_it_comes_from(self):
        cpu, memory = self.params["TaskCpu"]["Default"], self.params["TaskMemory"]["Default"]
        self.assertIn(memory, FARGATE_SIZES[cpu])
        self.assertIn("measurements", self.params["TaskCpu"]["Description"])
        self.assertIn("measurements", self.params["TaskMemory"]["Description"])
        for value in self.params["TaskCpu"]["AllowedValues"]:
            self.assertIn(value, FARGATE_SIZES)

    def test_the_stream_parameters(self):
        # Consuming an existing stream stays the default; a created stream is on demand unless asked.
        self.assertEqual(self.params["CreateStream"]["AllowedValues"], ["false", "true"])
        self.assertEqual(self.params["CreateStream"]["Default"], "false")
        self.assertEqual(self.params["StreamMode"]["AllowedValues"], ["ON_DEMAND", "PROVISIONED"])
        self.assertEqual(self.params["StreamMode"]["Default"], "ON_DEMAND")
        self.assertEqual(self.params["ShardCount"]["Type"], "Number")
        self.assertGreaterEqual(self.params["ShardCount"]["MinValue"], 1)
        self.assertIn("PROVISIONED", self.params["ShardCount"]["Description"])

    def test_the_log_and_monitoring_parameters(self):
        key = self.params["LogGroupKmsKeyArn"]
        self.assertEqual(key["Default"], "", "CloudWatch Logs' own encryption unless a key is given")
        self.assertEqual(key["AllowedPattern"], self.params["StreamKmsKeyArn"]["AllowedPattern"])
        self.assertRegex(cfn.KEY, "^" + key["AllowedPattern"] + "$")
        self.assertEqual(self.params["ContainerInsights"]["AllowedValues"], ["enabled", "disabled"])
        self.assertEqual(self.params["ContainerInsights"]["Default"], "enabled")

    def test_every_parameter_is_in_a_group(self):
        groups = cfn.load()["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
        grouped = [p for g in groups for p in g["Parameters"]]
        self.assertEqual(sorted(grouped), sorted(self.params))

    def test_max_count_says_why_more_tasks_than_shards_gain_nothing(self):
        self.assertIn("shard", self.params["MaxCount"]["Description"])

    def test_the_counts_default_to_min_le_desired_le_max(self):
        p = {n: self.params[n]["Default"] for n in ("MinCount", "DesiredCount", "MaxCount")}
        self.assertLessEqual(p["MinCount"], p["DesiredCount"])
        self.assertLessEqual(p["DesiredCount"], p["MaxCount"])
        self.assertEqual(self.params["ScalingTargetCpu"]["Default"], 65)


class Resources(unittest.TestCase):
    def setUp(self):
        self.template = cfn.load()

    def test_every_scenario_has_the_resources_the_issue_lists(self):
        for name, resolver in cfn.scenarios(self.template):
            with self.subTest(name):
                res = resolver.resources()
                kinds = sorted(r["Type"] for r in res.values())
                for kind in ("AWS::Logs::LogGroup", "AWS::ECS::TaskDefinition", "AWS::ECS::Service",
                             "AWS::ApplicationAutoScaling::ScalableTarget",
                             "AWS::ApplicationAutoScaling::ScalingPolicy", "AWS::CloudWatch::Dashboard"):
                    self.assertIn(kind, kinds)
                self.assertEqual(kinds.count("AWS::IAM::Role"), 2, "an execution role and a task role")
                streams = of_type(res, "AWS::Kinesis::Stream")
                if resolver.params["CreateStream"] == "true":
                    (stream,) = streams
                    mode = resolver.params["StreamMode"]
                    self.assertEqual(stream["Properties"]["StreamModeDetails"], {"StreamMode": mode})
                    if mode == "PROVISIONED":
                        self.assertEqual(stream["Properties"]["ShardCount"], str(resolver.params["ShardCount"]))
                    else:
                        self.assertNotIn("ShardCount", stream["Properties"], "on demand, Kinesis sets the shards")
                    self.assertEqual(stream["Properties"]["StreamEncryption"]["EncryptionType"], "KMS")
                else:
                    self.assertEqual(streams, [], "an existing stream is not created")
                (group,) = of_type(res, "AWS::Logs::LogGroup")
                if resolver.params["LogGroupKmsKeyArn"]:
                    self.assertEqual(group["Properties"]["KmsKeyId"], resolver.params["LogGroupKmsKeyArn"])
                else:
                    self.assertNotIn("KmsKeyId", group["Properties"], "CloudWatch Logs' own encryption")
                env = {e["Name"]: e["Value"] for e in resolver.container()["Environment"]}
                self.assertEqual(env["STREAM_NAME"], "orders-stream")

    def test_log_group_has_the_retention_parameter(self):
        (group,) = of_type(self.template["Resources"], "AWS::Logs::LogGroup")
        self.assertEqual(group["Properties"]["RetentionInDays"], {"Ref": "LogRetentionDays"})

    def test_the_log_group_key_is_conditional_on_its_parameter(self):
        # checkov's CKV_AWS_158 passes on the mere presence of KmsKeyId; this is what makes it mean
        # "a key can be given" (and none by default).
        (group,) = of_type(self.template["Resources"], "AWS::Logs::LogGroup")
        self.assertEqual(group["Properties"]["KmsKeyId"],
                         {"Fn::If": ["HasLogGroupKmsKey", {"Ref": "LogGroupKmsKeyArn"}, {"Ref": "AWS::NoValue"}]})
        self.assertEqual(self.template["Conditions"]["HasLogGroupKmsKey"],
                         {"Fn::Not": [{"Fn::Equals": [{"Ref": "LogGroupKmsKeyArn"}, ""]}]})

    def test_the_stream_mode_and_shard_count_are_conditional(self):
        stream = self.template["Resources"]["Stream"]
        self.assertEqual(stream["Condition"], "StreamCreated")
        self.assertEqual(stream["Properties"]["StreamModeDetails"], {"StreamMode": {"Ref": "StreamMode"}})
        self.assertEqual(stream["Properties"]["ShardCount"],
                         {"Fn::If": ["ProvisionedStream", {"Ref": "ShardCount"}, {"Ref": "AWS::NoValue"}]})
        conditions = self.template["Conditions"]
        self.assertEqual(conditions["StreamCreated"], {"Fn::Equals": [{"Ref": "CreateStream"}, "true"]})
        self.assertEqual(conditions["ProvisionedStream"],
                         {"Fn::And": [{"Condition": "StreamCreated"},
                                      {"Fn::Equals": [{"Ref": "StreamMode"}, "PROVISIONED"]}]})
        for mode, shards in (("ON_DEMAND", None), ("PROVISIONED", "3")):
            with self.subTest(mode):
                resolver = cfn.Resolver(self.template, **cfn.REQUIRED, CreateStream="true",
                                        StreamMode=mode, ShardCount=3)
                props = resolver.resources()["Stream"]["Properties"]
                self.assertEqual(props.get("ShardCount"), shards)
                self.assertEqual(props["StreamModeDetails"]["StreamMode"], mode)

    def test_container_insights_follows_its_parameter(self):
        for value in ("enabled", "disabled"):
            with self.subTest(value):
                resolver = cfn.Resolver(self.template, **cfn.REQUIRED, ContainerInsights=value)
                settings = resolver.resources()["Cluster"]["Properties"]["ClusterSettings"]
                self.assertEqual(settings, [{"Name": "containerInsights", "Value": value}])

    def test_every_checkov_skip_says_why(self):
        for name, resource in self.template["Resources"].items():
            for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
                with self.subTest(f"{name} {skip.get('id')}"):
                    self.assertRegex(skip.get("id", ""), r"^CKV2?_[A-Z]+_[0-9]+$")
                    self.assertGreater(len(skip.get("comment", "").split()), 3, "a reason, not a word")

    def test_execution_role_pulls_and_logs_and_nothing_of_the_stream(self):
        (_, resolver), *_ = cfn.scenarios(self.template)
        role = resolver.resources()["ExecutionRole"]["Properties"]
        actions = {a for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]
                   for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
        self.assertEqual(actions, {"ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability",
                                   "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage",
                                   "logs:CreateLogStream", "logs:PutLogEvents"})
        self.assertNotIn("ManagedPolicyArns", role)

    def test_task_definition_and_container(self):
        (_, resolver), *_ = cfn.scenarios(self.template)
        (task,) = of_type(resolver.resources(), "AWS::ECS::TaskDefinition")
        props = task["Properties"]
        self.assertEqual(props["RequiresCompatibilities"], ["FARGATE"])
        self.assertEqual(props["NetworkMode"], "awsvpc")
        self.assertEqual(props["RuntimePlatform"]["CpuArchitecture"], "X86_64")
        self.assertEqual(props["TaskRoleArn"], "<TaskRole.Arn>")
        self.assertEqual(props["ExecutionRoleArn"], "<ExecutionRole.Arn>")
        c = resolver.container()
        self.assertEqual(c["User"], "10001:10001")
        self.assertIs(c["ReadonlyRootFilesystem"], True)
        self.assertIs(c["Essential"], True)
        env = {e["Name"]: e["Value"] for e in c["Environment"]}
        self.assertEqual(env["REGION"], cfn.PSEUDO["AWS::Region"])
        self.assertEqual(env["APPLICATION_NAME"], "orders-consumer")
        logs = c["LogConfiguration"]
        self.assertEqual(logs["LogDriver"], "awslogs")
        self.assertEqual(logs["Options"]["mode"], "non-blocking")
        self.assertRegex(logs["Options"]["max-buffer-size"], r"^[0-9]+m$")
        self.assertEqual(logs["Options"]["awslogs-group"], "<LogGroup>")
        volumes = {v["Name"] for v in props["Volumes"]}
        self.assertEqual(volumes, {m["SourceVolume"] for m in c["MountPoints"]})
        for v in props["Volumes"]:
            self.assertEqual(set(v), {"Name"}, "a task-scoped bind mount on ephemeral storage")

    def test_service_and_autoscaling(self):
        (_, resolver), *_ = cfn.scenarios(self.template)
        res = resolver.resources()
        (service,) = of_type(res, "AWS::ECS::Service")
        self.assertEqual(service["Properties"]["LaunchType"], "FARGATE")
        net = service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]
        self.assertEqual(net["Subnets"], ["subnet-1"])
        self.assertEqual(net["SecurityGroups"], ["sg-1"])
        (target,) = of_type(res, "AWS::ApplicationAutoScaling::ScalableTarget")
        self.assertEqual((target["Properties"]["MinCapacity"], target["Properties"]["MaxCapacity"]), ("1", "2"))
        self.assertEqual(target["Properties"]["ResourceId"], "service/<Cluster>/<Service.Name>")
        (policy,) = of_type(res, "AWS::ApplicationAutoScaling::ScalingPolicy")
        tracking = policy["Properties"]["TargetTrackingScalingPolicyConfiguration"]
        self.assertEqual(tracking["PredefinedMetricSpecification"]["PredefinedMetricType"],
                         "ECSServiceAverageCPUUtilization")
        self.assertEqual(tracking["TargetValue"], "65")


class Dashboard(unittest.TestCase):
    """Lag, records/s and CPU, from metrics that exist: the processor's EMF lines and AWS/ECS."""

    def setUp(self):
        self.template = cfn.load()
        (_, self.resolver), *_ = cfn.scenarios(self.template)
        self.board = self.resolver.dashboard()
        self.expressions = [m.get("expression", "") for w in self.board["widgets"]
                            for row in w.get("properties", {}).get("metrics", []) for m in row
                            if isinstance(m, dict)]
        self.telemetry = (cfn.REPO / "src" / "telemetry.rs").read_text(encoding="utf-8")

    def emf_searches(self):
        found = []
        for e in self.expressions:
            m = re.search(r"SEARCH\('\{([^,}]+),([^}]+)\} MetricName=\"(\w+)\" Application=\"([^\"]+)\"'", e)
            if m:
                found.append((m.group(1), m.group(2).split(","), m.group(3), m.group(4)))
        return found

    def test_lag_and_records_come_from_the_processors_emf_lines(self):
        env = {e["Name"]: e["Value"] for e in self.resolver.container()["Environment"]}
        self.assertEqual(env["METRICS"], "emf")
        searches = self.emf_searches()
        self.assertEqual(sorted(s[2] for s in searches), ["MillisBehindLatest", "RecordsProcessed"])
        for namespace, dimensions, metric, application in searches:
            self.assertEqual(namespace, env["METRICS_NAMESPACE"])
            self.assertEqual(application, "orders-consumer")
            # The dimension set and the metric names as src/telemetry.rs writes them.
            self.assertIn(f'"Dimensions": [[{", ".join(chr(34) + d + chr(34) for d in dimensions)}]]',
                          self.telemetry)
            self.assertIn(f'"Name": "{metric}"', self.telemetry)

    def test_metrics_emf_is_a_value_the_processor_accepts(self):
        cli = (cfn.REPO / "src" / "bin" / "record_processor" / "cli.rs").read_text(encoding="utf-8")
        self.assertIn('env = "METRICS"', cli)
        self.assertIn("    Emf,", cli)
        self.assertIn('env = "METRICS_NAMESPACE"', cli)

    def test_cpu_of_the_service_with_the_scaling_target(self):
        cpu = [w for w in self.board["widgets"] if w["type"] == "metric"
               and any(row[:2] == ["AWS/ECS", "CPUUtilization"] for row in w["properties"]["metrics"])]
        self.assertEqual(len(cpu), 1)
        row = cpu[0]["properties"]["metrics"][0]
        self.assertEqual(row[2:6], ["ClusterName", "<Cluster>", "ServiceName", "<Service.Name>"])
        self.assertEqual(cpu[0]["properties"]["annotations"]["horizontal"][0]["value"], 65)

    def test_records_per_second_divides_the_per_minute_sum(self):
        self.assertIn("SUM(perShard) / 60", self.expressions)


if __name__ == "__main__":
    unittest.main()
