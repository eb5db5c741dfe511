"""Least privilege, proven: the task role allows exactly what deploy/kcl-api-actions.json says the
daemon calls (plus documented extras), each on the narrowest resource, under every parameter set;
and the check itself notices drift on either side."""

import copy
import json
import tempfile
import unittest
from pathlib import Path

import cfn
import iam


class TaskRoleMatchesTheRecordedActions(unittest.TestCase):
    def setUp(self):
        self.template = cfn.load()
        self.recorded = iam.recorded_actions()

    def test_every_recorded_action_and_nothing_else_on_its_own_resource(self):
        for name, resolver in cfn.scenarios(self.template):
            with self.subTest(name):
                self.assertEqual(iam.problems(resolver, self.recorded), [])

    def test_the_action_file_names_only_known_services_and_actions(self):
        for action in sorted(self.recorded):
            self.assertIsNotNone(
                iam.expected_resources(action, {"StreamName": "s", "ApplicationName": "a",
                                                "StreamKmsKeyArn": "k"}, iam.shipped_kcl_version()),
                f"{action}: classify its resource in tests/deploy/iam.py and allow it in the template")

    def test_the_extras_are_documented(self):
        deploy_md = (cfn.REPO / "docs" / "deploy.md").read_text(encoding="utf-8")
        for action in iam.EXTRAS:
            self.assertIn(f"`{action}`", deploy_md, f"docs/deploy.md must say why {action} is allowed")

    def test_the_kms_statement_exists_only_with_a_key(self):
        for name, resolver in cfn.scenarios(self.template):
            with self.subTest(name):
                kms = [s for s in iam.statements(resolver)
                       if any(a.startswith("kms:") for a in iam.as_list(s["Action"]))]
                if resolver.params["StreamKmsKeyArn"]:
                    self.assertEqual(kms[0]["Resource"], resolver.params["StreamKmsKeyArn"])
                    self.assertEqual(iam.as_list(kms[0]["Action"]), ["kms:Decrypt"])
                else:
                    self.assertEqual(kms, [])


class TheCheckSeesDrift(unittest.TestCase):
    """Mutations of either side that the check must report: otherwise it proves nothing."""

    def setUp(self):
        self.template = cfn.load()
        self.recorded = iam.recorded_actions()

    def problems_with(self, mutate=None, recorded=None):
        template = copy.deepcopy(self.template)
        if mutate:
            mutate(template["Resources"]["TaskRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"])
        (_, resolver), *_ = cfn.scenarios(template)
        return iam.problems(resolver, self.recorded if recorded is None else recorded)

    def test_an_action_the_daemon_calls_but_the_role_does_not_allow(self):
        found = self.problems_with(recorded=self.recorded | {"kinesis:ListStreamConsumers"})
        self.assertTrue(any("kinesis:ListStreamConsumers: the daemon calls it" in p for p in found), found)

    def test_an_allowed_action_the_daemon_does_not_call(self):
        def add(statements):
            statements[0]["Action"].append("kinesis:PutRecords")
        found = self.problems_with(add)
        self.assertTrue(any("kinesis:PutRecords: allowed, but" in p for p in found), found)

    def test_a_wildcard_action(self):
        def widen(statements):
            statements[0]["Action"] = ["kinesis:*"]
        found = self.problems_with(widen)
        self.assertTrue(any("wildcard action kinesis:*" in p for p in found), found)

    def test_a_wildcard_resource(self):
        def widen(statements):
            statements[2]["Resource"] = "*"
        found = self.problems_with(widen)
        self.assertTrue(any('Resource "*" is only for cloudwatch:PutMetricData' in p for p in found), found)

    def test_another_stream_or_table(self):
        def elsewhere(statements):
            statements[0]["Resource"] = {"Fn::Sub": "arn:${AWS::Partition}:kinesis:${AWS::Region}:${AWS::AccountId}:stream/*"}
        found = self.problems_with(elsewhere)
        self.assertTrue(any("not exactly" in p for p in found), found)

    def test_a_consumer_action_on_the_stream(self):
        def misplace(statements):
            statements[0]["Action"].append("kinesis:SubscribeToShard")
        found = self.problems_with(misplace)
        self.assertTrue(any("kinesis:SubscribeToShard on" in p for p in found), found)

    def test_the_kcl_version_decides_the_tables(self):
        # The image's KCL moving to 3.5 (state in the lease table): the two extra tables must go.
        (_, resolver), *_ = cfn.scenarios(self.template)
        found = iam.problems(resolver, self.recorded, kcl=(3, 5, 3))
        self.assertTrue(any("WorkerMetricStats" in p and "not exactly" in p for p in found), found)
        # And a 3.0-3.4 daemon without them would be refused its own tables.
        def drop(statements):
            table = [s for s in statements if isinstance(s, dict) and s.get("Sid") == "LeaseTable"][0]
            table["Resource"] = table["Resource"][:2]
        found = self.problems_with(drop)
        if (3, 0) <= iam.shipped_kcl_version()[:2] < (3, 5):
            self.assertTrue(any("CoordinatorState" in p for p in found), found)

    def test_metrics_without_the_namespace_condition(self):
        def loosen(statements):
            metrics = [s for s in statements if isinstance(s, dict) and s.get("Sid") == "KclMetrics"]
            del metrics[0]["Condition"]
        found = self.problems_with(loosen)
        self.assertTrue(any("cloudwatch:namespace" in p for p in found), found)

    def test_a_malformed_or_unsorted_action_file(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "actions.json"
            path.write_text(json.dumps({"kinesis": ["ListShards", "GetRecords"]}))
            with self.assertRaises(ValueError):
                iam.recorded_actions(path)
            path.write_text(json.dumps(["kinesis:ListShards"]))
            with self.assertRaises(ValueError):
                iam.recorded_actions(path)


if __name__ == "__main__":
    unittest.main()
