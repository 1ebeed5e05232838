"""Packaging beyond pyproject.toml: the editable prompt files live in the top-level prompts/
folder (users edit them there); the wheel ships them inside the package as
hawk_core/prompts_data/, where hawk_core.language.prompts.prompts_dir finds them."""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["hawk_core*", "hawk_cli*"]) + ["hawk_core.prompts_data"],
    package_dir={"hawk_core.prompts_data": "prompts"},
)
