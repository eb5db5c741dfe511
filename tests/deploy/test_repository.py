"""What the README promises about the test suite itself."""

import re
import unittest

import cfn


def apt_packages(script):
    """The package names in a script's `apt-get install` commands."""
    names = set()
    for line in script.read_text(encoding="utf-8").splitlines():
        m = re.search(r"apt-get install ([^>|;&]*)", line)
        if m:
            names |= {w for w in m.group(1).split() if not w.startswith(("-", "$", '"'))}
    return names


class Readme(unittest.TestCase):
    def setUp(self):
        self.readme = (cfn.REPO / "README.md").read_text(encoding="utf-8")
        self.tests = self.readme[self.readme.index("\n## Tests"):]

    def test_it_names_every_system_package_the_suite_installs_as_root(self):
        # What scripts/test.sh runs: its own steps and the test scripts.
        scripts = [cfn.REPO / "scripts" / "test.sh", *sorted((cfn.REPO / "tests").rglob("*.sh"))]
        installed = set()
        for script in scripts:
            installed |= apt_packages(script)
        self.assertGreaterEqual(installed, {"shellcheck", "gawk", "default-jdk-headless"},
                                "the extraction found the known installs")
        for package in sorted(installed):
            self.assertIn(f"`{package}`", self.tests, f"README's Tests section must name {package}")

    def test_it_says_the_suite_leaves_the_checkout_alone(self):
        test_sh = (cfn.REPO / "scripts" / "test.sh").read_text(encoding="utf-8")
        allowed = re.findall(r"':\(exclude\)([^']+)'", test_sh)
        self.assertEqual(sorted(allowed), [".local", "jars", "target"])
        for directory in allowed:
            self.assertIn(f"`{directory}/`", self.tests)

    def test_the_test_command_runs_the_deployment_tests(self):
        test_sh = (cfn.REPO / "scripts" / "test.sh").read_text(encoding="utf-8")
        self.assertIn("\nbash tests/deploy/run.sh\n", test_sh)


if __name__ == "__main__":
    unittest.main()
