"""Argo engine: rendered manifests (golden, schema-valid, same DAG as the local executor),
and submit / wait / stop against a contract-checked local Argo Server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from bot.adapters.argo import ArgoClient, normalize_token
from bot.catalog.layout import Catalog
from bot.cli import main
from bot.config import Settings
from bot.errors import AuthError, CatalogError, Problem, ServiceError, Severity, UsageError
from bot.logging import mask
from bot.pipeline.argo_lint import KINDS, find_argo_schema, lint_manifest, lint_path
from bot.pipeline.argo_render import PUBLISH_TEMPLATE, dag_edges, render_all, to_yaml
from bot.pipeline.argo_submit import failure_report, submit
from bot.pipeline.dag import HARVEST, PUBLISH
from tests.argo_server import ArgoTestServer
from tests.conftest import EXAMPLE

GOLDEN = Path(__file__).parent / "golden" / "argo"
TOKEN = "argo-test-token-5f1c9e"


@pytest.fixture(scope="module")
def manifests() -> dict[str, dict]:
    return render_all(Catalog.open(EXAMPLE), "prod" if False else "local", "example-org/example-catalog")


@pytest.fixture
def argo_schema(schemas_dir: Path) -> Path:
    return find_argo_schema(schemas_dir)


def test_rendered_manifests_match_golden_files(manifests: dict[str, dict]) -> None:
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.mkdir(parents=True, exist_ok=True)
        for name, manifest in manifests.items():
            (GOLDEN / name).write_text(to_yaml(manifest), encoding="utf-8")
    assert sorted(p.name for p in GOLDEN.glob("*.yaml")) == sorted(manifests)
    for name, manifest in manifests.items():
        assert (GOLDEN / name).read_text(encoding="utf-8") == to_yaml(manifest), (
            f"{name} changed: UPDATE_GOLDEN=1 on purpose"
        )


def test_every_manifest_is_valid_against_the_crd_schema(manifests: dict[str, dict], argo_schema: Path) -> None:
    assert {m["kind"] for m in manifests.values()} == {"WorkflowTemplate", "CronWorkflow"}
    for name, manifest in manifests.items():
        assert lint_manifest(manifest, argo_schema, name) == []


def test_lint_catches_typos_and_wrong_types(manifests: dict[str, dict], argo_schema: Path) -> None:
    bad = yaml.safe_load(to_yaml(manifests[f"{PUBLISH_TEMPLATE}.yaml"]))
    bad["spec"]["entrypointt"] = bad["spec"].pop("entrypoint")
    bad["spec"]["activeDeadlineSeconds"] = "six hours"
    problems = lint_manifest(bad, argo_schema)
    messages = " ".join(p.message for p in problems)
    assert "entrypointt" in messages and "six hours" in messages
    assert {p.pointer for p in problems} >= {"/spec", "/spec/activeDeadlineSeconds"}


def test_rendered_dag_equals_the_local_executor_dag(manifests: dict[str, dict]) -> None:
    """Same steps and edges; on Argo convert is fed by its map (plan-sources -> convert-file per item)."""
    names, edges = dag_edges(manifests["catalog-bot-harvest.yaml"])
    assert names == HARVEST.names() and edges == HARVEST.edges()
    names, edges = dag_edges(manifests[f"{PUBLISH_TEMPLATE}.yaml"])
    assert names == ["plan-sources", "convert-file", *PUBLISH.names()]
    assert edges == PUBLISH.edges() | {("plan-sources", "convert-file"), ("convert-file", "convert")}


def test_template_has_the_operational_settings(manifests: dict[str, dict]) -> None:
    spec = manifests[f"{PUBLISH_TEMPLATE}.yaml"]["spec"]
    assert spec["synchronization"]["mutexes"][0]["name"] == "catalog-bot-{{workflow.parameters.dataset}}"
    assert spec["onExit"] == "report-status" and spec["activeDeadlineSeconds"] > 0 and spec["podGC"]
    steps = {t["name"]: t for t in spec["templates"] if "container" in t}
    assert steps["upload-arco-data"]["retryStrategy"]["backoff"]["factor"] == 2
    # convert fetches remote sources (https, s3, OPeNDAP, THREDDS): a transient fault there is retried too
    assert steps["convert"]["retryStrategy"]["retryPolicy"] == "OnError"
    assert {n for n, t in steps.items() if "retryStrategy" not in t} == {s.name for s in PUBLISH if not s.network}
    assert steps["convert"]["container"]["args"][:2] == ["step", "convert"]
    assert "--data-refs" in steps["convert"]["container"]["args"]
    assert steps["convert"]["container"]["resources"]["limits"]["memory"] == "4Gi"
    # a step mounts only the work artifacts it reads (references and small metadata), not every ancestor's
    mounted = {a["name"] for a in steps["upload-arco-data"]["inputs"]["artifacts"]}
    assert mounted == {"work-convert", "catalog", "catalog-data"}  # configuration commit + data commit
    for step in PUBLISH:
        names = {a["name"] for a in steps[step.name]["inputs"]["artifacts"]} - {"catalog", "catalog-data"}
        combine = {"work-plan-sources"} if step.name == "convert" else set()  # finds the parts by the plan
        assert names == {f"work-{n}" for n in PUBLISH.inputs(step.name)} | combine
        assert set(PUBLISH.inputs(step.name)) <= set(PUBLISH.ancestors(step.name))


def test_convert_fans_out_over_the_planned_source_files(manifests: dict[str, dict]) -> None:
    spec = manifests[f"{PUBLISH_TEMPLATE}.yaml"]["spec"]
    tasks = {t["name"]: t for t in next(t for t in spec["templates"] if t["name"] == "publish")["dag"]["tasks"]}
    steps = {t["name"]: t for t in spec["templates"]}
    assert tasks["convert-file"]["withParam"] == "{{tasks.plan-sources.outputs.parameters.files}}"
    assert tasks["convert-file"]["arguments"]["parameters"] == [{"name": "item", "value": "{{item}}"}]
    assert steps["plan-sources"]["outputs"]["parameters"] == [
        {"name": "files", "valueFrom": {"path": "/work/plan-sources/items.json"}}
    ]
    each = steps["convert-file"]
    assert each["container"]["args"][-2:] == ["--item", "{{inputs.parameters.item}}"]
    assert each["inputs"]["parameters"] == [{"name": "item"}] and "outputs" not in each
    assert each["retryStrategy"] and each["container"]["resources"]["limits"]["memory"] == "4Gi"
    assert tasks["convert"]["dependencies"] == ["convert-file"]


def test_cron_workflow_per_scheduled_dataset(manifests: dict[str, dict]) -> None:
    catalog = Catalog.open(EXAMPLE)
    scheduled = {d.id for d in catalog.datasets() if d.pipeline().schedule}
    crons = {
        m["metadata"]["name"].removeprefix("catalog-bot-"): m for m in manifests.values() if m["kind"] == "CronWorkflow"
    }
    # reef-temperature-daily is published only in dev-sources: no CronWorkflow for "local".
    assert set(crons) == scheduled - {"reef-temperature-daily"} and scheduled
    dev_sources = render_all(catalog, "dev-sources", "example-org/example-catalog")
    assert "cron-reef-temperature-daily.yaml" in dev_sources
    spec = crons["reef-temperature"]["spec"]
    assert spec["schedules"] == ["0 3 * * 1"] and spec["timezone"] == "Australia/Brisbane"
    assert spec["concurrencyPolicy"] == "Replace"
    assert spec["workflowSpec"]["workflowTemplateRef"]["name"] == PUBLISH_TEMPLATE


def test_invalid_cron_is_a_catalog_error(example_catalog: Path) -> None:
    path = example_catalog / "datasets" / "reef-temperature" / "pipeline.yaml"
    path.write_text(path.read_text().replace('"0 3 * * 1"', '"0 3 * * monday-ish"'))
    with pytest.raises(CatalogError, match="schedule"):
        Catalog.open(example_catalog).dataset("reef-temperature").pipeline()


def test_cli_render_then_lint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["argo", "render", "--out", str(tmp_path / "flux"), "--catalog", str(EXAMPLE), "--env", "local"])
    assert info.value.code in (0, None)
    with pytest.raises(SystemExit) as info:
        main(["argo", "lint", str(tmp_path / "flux")])
    assert info.value.code in (0, None)
    (tmp_path / "flux" / "broken.yaml").write_text(
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nspec: {entrypoint: 3}\n"
    )
    with pytest.raises(SystemExit) as info:
        main(["argo", "lint", str(tmp_path / "flux")])
    assert info.value.code == 1
    assert "broken.yaml" in capsys.readouterr().out


# ---- lint on upstream-example-shaped manifests ----------------------------------------

ARGO_FIXTURES = Path(__file__).parent / "fixtures" / "argo"


def _errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == Severity.ERROR]


def test_upstream_shaped_manifests_lint_clean(argo_schema: Path) -> None:
    problems = lint_path(ARGO_FIXTURES, argo_schema)
    assert _errors(problems) == [], "\n".join(p.format() for p in problems)
    kinds = {
        d["kind"] for f in ARGO_FIXTURES.glob("*.yaml") for d in yaml.safe_load_all(f.read_text(encoding="utf-8")) if d
    }
    assert set(KINDS) <= kinds  # every Argo Workflows kind is exercised
    notes = [(Path(p.file or "").name, p.line, p.message) for p in problems]
    assert notes == [
        ("resource-and-neighbours.yaml", 5, "skipped ConfigMap (v1): not an Argo Workflows kind"),
        ("resource-and-neighbours.yaml", 14, "skipped PersistentVolumeClaim (v1): not an Argo Workflows kind"),
        ("resource-and-neighbours.yaml", 24, "skipped Sensor (argoproj.io/v1alpha1): not an Argo Workflows kind"),
    ]


def _lint_text(tmp_path: Path, argo_schema: Path, fixture: str, old: str, new: str) -> list[Problem]:
    text = (ARGO_FIXTURES / fixture).read_text(encoding="utf-8")
    assert old in text
    bad = tmp_path / fixture
    bad.write_text(text.replace(old, new, 1), encoding="utf-8")
    return _errors(lint_path(bad, argo_schema))


@pytest.mark.parametrize(
    ("fixture", "old", "new", "needle", "message", "hint"),
    [
        # a typo inside an inline template is still an unknown field, reported at its own line
        ("templates-and-refs.yaml", "inline:\n              container:", "inline:\n              containr:",
         "containr:", "'containr' was unexpected", "did you mean 'container'?"),
        # a templateRef to a WorkflowTemplate linted alongside must name one of its templates
        ("templates-and-refs.yaml", "template: print-message\n            arguments:\n              parameters: [{name: message, value: a}]",
         "template: print-mesage\n            arguments:\n              parameters: [{name: message, value: a}]",
         "template: print-mesage", "names template 'print-mesage', which is not defined", "did you mean 'print-message'?"),
        # Argo v4 dropped the singular `schedule`
        ("cron.yaml", 'schedules: ["30 1 * * *"]', 'schedule: "30 1 * * *"', "schedule:",
         "'schedule' was unexpected", "did you mean 'schedules'?"),
        ("dag-diamond.yaml", 'depends: "A && C.Failed"', 'depends: "A && Q.Failed"', "depends:",
         "depends names unknown task 'Q'", "name a task of this DAG"),
        ("dag-diamond.yaml", 'depends: "A && C.Failed"', 'depends: "A && C.Finished"', "depends:",
         "unknown result 'Finished' of task 'C'", "AnySucceeded"),
        ("exit-handler.yaml", "onExit: exit-handler", "onExit: exit-handlr", "onExit:",
         "spec.onExit names template 'exit-handlr'", "did you mean 'exit-handler'?"),
        ("event-binding.yaml", "kind: WorkflowEventBinding", "kind: WorkflowEventBindin", "kind: WorkflowEventBindin",
         "unsupported kind 'WorkflowEventBindin'", "did you mean 'WorkflowEventBinding'?"),
        ("steps.yaml", "- - name: hello1\n            template: print-message", "- - name: hello1",
         "- - name: hello1", "step 'hello1' names no template", "templateRef"),
    ],
)  # fmt: skip
def test_lint_still_catches_mistakes_with_line_numbers(
    tmp_path: Path, argo_schema: Path, fixture: str, old: str, new: str, needle: str, message: str, hint: str
) -> None:
    problems = _lint_text(tmp_path, argo_schema, fixture, old, new)
    assert len(problems) == 1, "\n".join(p.format() for p in problems)
    (problem,) = problems
    assert message in problem.message and hint in (problem.hint or "")
    text = (tmp_path / fixture).read_text(encoding="utf-8").splitlines()
    assert needle in text[(problem.line or 0) - 1], problem.format()


def test_template_ref_outside_the_linted_files_is_accepted(argo_schema: Path) -> None:
    """A reference to a template installed elsewhere cannot be checked offline: no false error."""
    docs = list(yaml.safe_load_all((ARGO_FIXTURES / "templates-and-refs.yaml").read_text(encoding="utf-8")))
    by_name = {(d["metadata"].get("name") or d["metadata"]["generateName"]): d for d in docs}
    for name in ("workflow-template-ref-", "cluster-workflow-template-ref-", "mixed-refs-"):
        assert lint_manifest(by_name[name], argo_schema, name) == []


def test_cli_lint_prints_notes_and_passes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["argo", "lint", str(ARGO_FIXTURES)])
    assert info.value.code in (0, None)
    out = capsys.readouterr().out
    assert "resource-and-neighbours.yaml:5: notice [argo-kind] skipped ConfigMap" in out
    assert f"{ARGO_FIXTURES}: ok" in out.replace("\n", "")


# ---- against the local Argo Server -------------------------------------------------


@pytest.fixture
def argo(schemas_dir: Path, manifests: dict[str, dict]):
    swagger = schemas_dir / "argo-workflows-v4.1.2" / "api" / "openapi-spec" / "swagger.json"
    with ArgoTestServer(swagger, TOKEN) as server:
        client = ArgoClient(server.url, token=TOKEN, attempts=3, poll_initial=0.0)
        client.apply_template(manifests[f"{PUBLISH_TEMPLATE}.yaml"])
        yield server, client
        assert server.state.violations == []


def _settings() -> Settings:
    return Settings.from_env({"ARGO_TOKEN": TOKEN, "GITHUB_REPOSITORY": "example-org/example-catalog"})


def test_submit_wait_and_report_progress(argo) -> None:
    server, client = argo
    seen: list[tuple[str, str]] = []
    runs = submit(
        Catalog.open(EXAMPLE),
        ["reef-temperature", "sea-surface-temperature"],
        env_name="local",
        settings=_settings(),
        sha="a" * 40,
        pr=7,
        client=client,
        wait=True,
        on_update=lambda d, s: seen.append((d, s.phase)),
    )
    assert [r.dataset for r in runs] == ["reef-temperature", "sea-surface-temperature"]
    assert all(r.status == "Succeeded" and r.url.endswith(r.run_id) for r in runs)
    assert ("reef-temperature", "Running") in seen  # progress was shown while it ran
    wf = server.state.workflows[runs[0].run_id]
    params = {p["name"]: p["value"] for p in wf["spec"]["arguments"]["parameters"]}
    assert params == {
        "dataset": "reef-temperature",
        "sha": "a" * 40,
        "config-sha": "a" * 40,  # a default-branch commit is its own configuration
        "environment": "local",
        "pr": "7",
        "repository": "example-org/example-catalog",
    }
    assert wf["metadata"]["labels"]["catalog-bot.io/pr"] == "7"
    # every task of the rendered DAG ran (nodes advance per GET here: withParam is not expanded)
    assert sorted(n["displayName"] for n in wf["status"]["nodes"].values()) == sorted(
        ["plan-sources", "convert-file", *PUBLISH.names()]
    )


def test_limited_dataset_runs_under_the_limited_service_account(argo, example_catalog: Path) -> None:
    server, client = argo
    path = example_catalog / "datasets" / "sea-surface-temperature" / "pipeline.yaml"
    path.write_text(path.read_text().replace("access: public", "access: limited"))
    runs = submit(
        Catalog.open(example_catalog),
        ["sea-surface-temperature"],
        env_name="local",
        settings=_settings(),
        sha="b" * 40,
        client=client,
    )
    assert server.state.workflows[runs[0].run_id]["spec"]["serviceAccountName"] == "catalog-bot-limited"


def test_failed_workflow_names_the_step_and_message(argo) -> None:
    server, client = argo
    server.state.fail_step = "schema-gate"
    runs = submit(
        Catalog.open(EXAMPLE),
        ["reef-temperature"],
        env_name="local",
        settings=_settings(),
        sha="c" * 40,
        client=client,
        wait=True,
    )
    assert runs[0].status == "Failed"
    status = client.get(runs[0].run_id)
    failed = status.failed_nodes()
    assert [n.display_name for n in failed] == ["schema-gate"]
    import json

    failures = json.dumps(
        [{"displayName": n.display_name, "message": n.message, "podName": n.pod_name} for n in failed]
    )
    report = failure_report("Failed", failures, runs[0].run_id, runs[0].url)
    assert "`schema-gate` failed" in report and "data schema changed" in report and "tab=logs" in report


def test_stop_a_running_workflow(argo) -> None:
    _, client = argo
    runs = submit(
        Catalog.open(EXAMPLE), ["reef-temperature"], env_name="local", settings=_settings(), sha="d" * 40, client=client
    )
    stopped = client.stop(runs[0].run_id)
    assert stopped.phase == "Failed" and stopped.finished


def test_unknown_dataset_is_rejected_before_submission(argo) -> None:
    server, client = argo
    before = len(server.state.requests)
    with pytest.raises(UsageError, match="unknown dataset"):
        submit(
            Catalog.open(EXAMPLE),
            ["reef-temperature", "no-such-set"],
            env_name="local",
            settings=_settings(),
            sha="e" * 40,
            client=client,
        )
    with pytest.raises(UsageError, match="unknown workflow parameter"):
        submit(
            Catalog.open(EXAMPLE),
            ["reef-temperature"],
            env_name="local",
            settings=_settings(),
            sha="e" * 40,
            client=client,
            extra_parameters={"image": "evil"},
        )
    assert len(server.state.requests) == before


def test_bad_token_is_a_clear_error_without_the_token(argo) -> None:
    server, _ = argo
    wrong = "wrong-token-abcdef123"
    bad_client = ArgoClient(server.url, token=wrong, attempts=3)
    before = len(server.state.requests)
    with pytest.raises(AuthError) as info:
        bad_client.get("anything")
    text = str(info.value)
    assert "401" in text and "ARGO_TOKEN" in text
    assert wrong not in text and TOKEN not in text
    assert wrong not in mask(f"leak {wrong}")  # registered with the masker as well
    assert len(server.state.requests) == before + 1  # auth errors are not retried


def test_server_errors_are_retried_then_reported(argo) -> None:
    server, client = argo
    server.state.fail_next = [502, 503]
    runs = submit(
        Catalog.open(EXAMPLE), ["reef-temperature"], env_name="local", settings=_settings(), sha="f" * 40, client=client
    )
    assert runs[0].status == "Running"
    server.state.fail_next = [502, 502, 502, 502]
    with pytest.raises(ServiceError) as info:
        client.get(runs[0].run_id)
    assert "HTTP 502" in str(info.value) and "Argo Server" in str(info.value)


def test_connection_refused_is_a_clear_error() -> None:
    client = ArgoClient("http://127.0.0.1:9", token=TOKEN, attempts=2)
    with pytest.raises(ServiceError, match="cannot connect"):
        client.get("x")


def test_token_prefix_is_optional() -> None:
    assert normalize_token("abc") == "Bearer abc"
    assert normalize_token("Bearer abc") == "Bearer abc"


def test_cancel_stops_only_the_running_publishes_of_a_dataset(argo, tmp_path: Path) -> None:
    from bot.events.publisher import ArgoPublisher

    server, client = argo
    catalog = Catalog.open(EXAMPLE)
    submit(catalog, ["reef-temperature"], env_name="local", settings=_settings(), sha="1" * 40, client=client)
    done = submit(
        catalog, ["reef-temperature"], env_name="local", settings=_settings(), sha="2" * 40, client=client, wait=True
    )
    other = submit(
        catalog, ["sea-surface-temperature"], env_name="local", settings=_settings(), sha="3" * 40, client=client
    )
    running = client.list_workflows({"catalog-bot.io/dataset": "reef-temperature"})
    assert len(running) == 1 and running[0].name != done[0].run_id
    cfg = tmp_path / "catalog"
    import shutil

    shutil.copytree(EXAMPLE, cfg)
    config = yaml.safe_load((cfg / "catalog-bot.yaml").read_text())
    config["environments"]["argo"] = {"engine": "argo", "argo": {"url": server.url}}
    (cfg / "catalog-bot.yaml").write_text(yaml.safe_dump(config))
    publisher = ArgoPublisher(cfg, _settings())
    cancelled = publisher.cancel("reef-temperature", "argo")
    assert [r.run_id for r in cancelled] == [running[0].name] and cancelled[0].status == "cancelled"
    assert client.get(running[0].name).phase == "Failed"
    assert client.get(other[0].run_id).phase == "Running"  # another dataset is untouched


def test_exit_handler_reports_to_github(tmp_path: Path) -> None:
    from bot.events.argo_report import report_run
    from tests.github_server import TOKEN as GH_TOKEN
    from tests.github_server import make_client, running

    gen = running(tmp_path)
    server = next(gen)
    try:
        repo_dir = tmp_path / "src"
        repo_dir.mkdir()
        from tests.conftest import git

        (repo_dir / "README.md").write_text("x")
        git(repo_dir, "init", "-q", "-b", "main")
        git(repo_dir, "add", "-A")
        git(repo_dir, "commit", "-qm", "c")
        server.add_repo("octo/catalog", repo_dir)
        pr = server.open_pr("octo/catalog", "main", "main")
        sha = server.rev("octo/catalog", "main")
        gh = make_client(server, "octo/catalog")
        settings = Settings.from_env({"GITHUB_TOKEN": GH_TOKEN})
        failures = '[{"displayName": "upload-arco-data", "message": "S3 HTTP 503", "podName": "p-1"}]'
        body = failure_report(
            "Failed", failures, "publish-reef-abc", "https://argo.example.org/workflows/argo/publish-reef-abc"
        )
        report_run(
            settings,
            "octo/catalog",
            sha=sha,
            pr=pr["number"],
            dataset="reef-temperature",
            state="Failed",
            body=body,
            url="https://argo.example.org",
            gh=gh,
        )
        statuses = gh.statuses(sha)
        assert statuses[0]["state"] == "failure" and statuses[0]["context"] == "catalog-bot/publish/reef-temperature"
        comments = server.issue_comments("octo/catalog", pr["number"])
        assert len(comments) == 1 and "`upload-arco-data` failed: S3 HTTP 503" in comments[0]["body"]
        report_run(
            settings,
            "octo/catalog",
            sha=sha,
            pr=pr["number"],
            dataset="reef-temperature",
            state="Succeeded",
            body="ok",
            url=None,
            gh=gh,
        )
        assert len(server.issue_comments("octo/catalog", pr["number"])) == 1  # sticky per dataset
    finally:
        gen.close()


def test_harvest_workflow_is_submitted_from_its_own_template(argo, manifests: dict[str, dict]) -> None:
    server, client = argo
    client.apply_template(manifests["catalog-bot-harvest.yaml"])
    runs = submit(
        Catalog.open(EXAMPLE),
        ["reef-temperature"],
        env_name="local",
        settings=_settings(),
        sha="9" * 40,
        client=client,
        workflow="harvest",
        wait=True,
    )
    wf = server.state.workflows[runs[0].run_id]
    assert wf["spec"]["workflowTemplateRef"]["name"] == "catalog-bot-harvest"
    assert runs[0].run_id.startswith("harvest-reef-temperature-") and runs[0].status == "Succeeded"
    assert sorted(n["displayName"] for n in wf["status"]["nodes"].values()) == sorted(HARVEST.names())


def test_git_url_is_configurable_for_github_enterprise(tmp_path: Path) -> None:
    import shutil

    cat = tmp_path / "c"
    shutil.copytree(EXAMPLE, cat)
    config = yaml.safe_load((cat / "catalog-bot.yaml").read_text())
    config["environments"]["ghe"] = {
        "engine": "argo",
        "argo": {"git_url": "https://git.example.org/marine/catalog.git"},
    }
    (cat / "catalog-bot.yaml").write_text(yaml.safe_dump(config))
    out = render_all(Catalog.open(cat), "ghe", "marine/catalog")
    steps = [
        t
        for t in out[f"{PUBLISH_TEMPLATE}.yaml"]["spec"]["templates"]
        if "container" in t and t["name"] != "report-status"
    ]
    assert {a["git"]["repo"] for t in steps for a in t["inputs"]["artifacts"] if "git" in a} == {
        "https://git.example.org/marine/catalog.git"
    }


def test_server_side_lint_of_a_template(argo, manifests: dict[str, dict]) -> None:
    server, client = argo
    linted = client.lint_template(manifests[f"{PUBLISH_TEMPLATE}.yaml"])
    assert linted["metadata"]["name"] == PUBLISH_TEMPLATE
    bad = yaml.safe_load(to_yaml(manifests[f"{PUBLISH_TEMPLATE}.yaml"]))
    bad["spec"]["entrypointt"] = "publish"
    with pytest.raises(ServiceError, match="HTTP 400"):
        client.lint_template(bad)
    server.state.violations.clear()  # the bad body was rejected on purpose
