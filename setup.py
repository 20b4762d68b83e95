"""Packaging for pulp_registry."""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
requirements = [
    line.strip()
    for line in (HERE / "requirements.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
]

setup(
    name="pulp-registry",
    version="0.1.0.dev0",
    description="An OCI Distribution / Docker registry built as a pulpcore plugin",
    long_description=(HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    license="GPLv2+",
    python_requires=">=3.11,<3.12",
    packages=find_packages(exclude=["tests", "tests.*", "benchmarks"]),
    include_package_data=True,
    install_requires=requirements,
    entry_points={
        "pulpcore.plugin": ["pulp_registry = pulp_registry:default_app_config"],
        "console_scripts": ["pulp-registry = pulp_registry.launcher.__main__:main"],
    },
    classifiers=[
        "Framework :: Django",
        "Programming Language :: Python :: 3.11",
    ],
)
