"""The README shows the two commands first and its zoo table matches the registry."""

from pathlib import Path

from edgezoo.readme import zoo_table

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_readme_zoo_table_is_current():
    assert zoo_table() in README, "README's zoo table is stale: run `python -m edgezoo.readme`"


def test_two_commands_come_first():
    first_block = README.split("```")[1]
    assert "make demo" in first_block and "make test" in first_block
