"""The context every event handler receives, and the names handlers share.

Why one context object: handlers are plain functions registered on routers;
everything that touches the outside world (GitHub client, local clone,
publisher, metadata sources, the check engine) hangs off :class:`BotContext`,
so tests inject real local services or doubles at one seam.
"""

from __future__ import annotations

import dataclasses
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.adapters.git import GitRepo
from bot.adapters.github import GitHub
from bot.catalog.layout import DATASETS_DIR, LIB_DIR, PROFILES_DIR
from bot.config import CONFIG_FILE, CatalogConfig, Settings, load_catalog_config
from bot.errors import UsageError
from bot.events.publisher import OVERLAY_SUBJECT, Publisher, fetch_commit, publisher_for
from bot.logging import get_logger

log = get_logger("events")


CHECK_MARKER = "<!-- catalog-bot:check -->"
PUBLISH_MARKER = "<!-- catalog-bot:publish -->"
STATUS_PREFIX = "catalog-bot/publish"
PR_ACTIONS = ("opened", "synchronize", "reopened", "ready_for_review")
ANY_MARKER = re.compile(r"<!--\s*catalog-bot:[^>]*-->")

Checker = Callable[[Path, str, str, Settings, str], Any]

CONFIGURATION = (CONFIG_FILE, LIB_DIR + "/", PROFILES_DIR + "/", "pygeoapi/")
"""Catalog-relative files and folders that configure checks and publishes (the default branch's apply)."""


def is_configuration(path: str) -> bool:
    """Whether a changed path is configuration the privileged side takes from the default branch.

    Why a positive list: the notice "this PR changes configuration" must
    name what the check replaced by the default branch's version, not a
    README, docs or workflow edit that no check reads.
    """
    return any(path == c or (c.endswith("/") and path.startswith(c)) for c in CONFIGURATION)


def _default_checker(root: Path, base: str, head: str, settings: Settings, env: str) -> Any:
    """The real check: git trees read through the git adapter, rendering sandboxed."""
    from bot.adapters.git import GitRepo
    from bot.catalog.check import run_check

    return run_check(GitRepo(root), base, head, settings, env, label=str(root))


@dataclass
class BotContext:
    """Everything a handler needs; built once per event by ``catalog-bot event``.

    ``gh`` is None in the unprivileged job (no token): handlers then only
    write files (artifact, job summary).  ``repo_dir`` is the local clone (the
    catalog root inside it).  ``publisher_factory`` and ``checker`` are the
    seams for engines and tests.
    """

    settings: Settings
    repo_dir: Path
    gh: GitHub | None = None
    run_url: str = ""
    artifact_out: Path | None = None
    artifact_in: Path | None = None
    publisher_factory: Callable[[str], Publisher] | None = None
    checker: Checker = _default_checker
    record_sources: Callable[[str], Any] | None = None
    environment: str | None = None
    # Which /catalog commands this job answers (the preview job holds other credentials than the command job).
    only_commands: frozenset[str] | None = None
    skip_commands: frozenset[str] = frozenset()
    _config: CatalogConfig | None = field(default=None, repr=False)

    def github(self) -> GitHub:
        """The GitHub client; a clear error in the job that has none."""
        if self.gh is None:
            raise UsageError("this event needs GitHub access", hint="set GITHUB_TOKEN for the privileged job")
        return self.gh

    def prefix(self) -> str:
        """The catalog's folder inside the repository (``""`` at the root)."""
        return GitRepo(self.repo_dir).prefix

    def config(self, default_branch: str) -> CatalogConfig:
        """``catalog-bot.yaml`` from the DEFAULT branch (via the API), never from a PR."""
        if self._config is not None:
            return self._config
        if self.gh is None:
            self._config = load_catalog_config(self.repo_dir)
            return self._config
        data = self.gh.get_file(self.prefix() + CONFIG_FILE, ref=default_branch)
        with tempfile.TemporaryDirectory() as tmp:
            if data is not None:
                (Path(tmp) / CONFIG_FILE).write_bytes(data)
            self._config = load_catalog_config(Path(tmp))
        return self._config

    def publisher(self, engine: str) -> Publisher:
        """The publisher for an engine (injected in tests)."""
        if self.publisher_factory is not None:
            return self.publisher_factory(engine)
        repo = self.gh.repo if self.gh else (self.settings.github_repository or "")
        return publisher_for(engine, self.repo_dir, self.settings, run_url=self.run_url, repository=repo)

    def record_source(self, url: str) -> Any:
        """The metadata source (CSW or URL) for ``url`` (injected in tests)."""
        if self.record_sources is not None:
            return self.record_sources(url)
        from bot.adapters.csw import MetadataSource

        return MetadataSource(url)

    def fetch(self, sha: str, refspec: str | None = None) -> None:
        """Make a commit available in the local clone (authenticated, nothing persisted)."""
        token = self.settings.github_token.get_secret_value() if self.settings.github_token else None
        fetch_commit(self.repo_dir, sha, refspec, token)

    def publish_env(self, config: CatalogConfig) -> str:
        """The environment merges and dispatches publish to (``--environment`` or the default)."""
        return self.environment or config.default_environment

    def check(self, base: str, head: str, env: str) -> Any:
        """Run ``catalog-bot check`` between two commits of the local clone."""
        return self.checker(self.repo_dir, base, head, self.settings, env)

    def trusted(self, config_sha: str, data_sha: str) -> str:
        """The commit a privileged action acts on for a pull request.

        Everything outside ``datasets/`` (``catalog-bot.yaml``, ``lib/``,
        ``profiles/``, ``pygeoapi/header.yaml``...) comes from ``config_sha``, a
        commit of the default branch; only ``datasets/`` comes from the PR
        head ``data_sha``, read as git objects (never checked out).  A local
        commit; both commits must be present (see :meth:`fetch`).
        """
        if config_sha == data_sha:
            return data_sha
        return GitRepo(self.repo_dir).overlay_commit(
            config_sha,
            data_sha,
            DATASETS_DIR,
            f"{OVERLAY_SUBJECT}{data_sha} with the configuration of {config_sha}",
        )

    def check_pr(self, base: str, head: str, env: str) -> Any:
        """The PR check as the privileged side computes it: ``base`` .. trusted(``base``, ``head``).

        The report names ``head`` (check runs and comments belong to the PR's
        commit); configuration the PR changes is listed as a notice, because
        its effect is shown only by the unprivileged check job.
        """
        report = self.check(base, self.trusted(base, head), env)
        outside = sorted(
            {p for c in GitRepo(self.repo_dir).changed_files(base, head) for p in c.paths()}
            - {p for p in report.changed_files}
        )
        outside = [p for p in outside if is_configuration(p)]
        notices = list(report.notices)
        if outside:
            shown = ", ".join(f"`{p}`" for p in outside[:10]) + (" ..." if len(outside) > 10 else "")
            notices.append(
                f"this pull request changes configuration ({shown}): this check uses the default branch's "
                "configuration, templates and profiles; the unprivileged check job shows the effect of the change"
            )
        return dataclasses.replace(report, head_sha=head, head_ref=head, notices=notices)

    def summary(self, markdown: str) -> None:
        """Append to the job summary when running under Actions."""
        if self.settings.step_summary is not None:
            from bot.catalog.report import write_step_summary
            from bot.events.sanitize import neutralise

            write_step_summary(self.settings.step_summary, neutralise(markdown))
