"""Prometheus metrics, scraped from the API and the worker of a real stack after real runs: each
value moves as the run does. The stack is shared, so each test compares before and after."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from crew_hitl import metrics as m
from runner.stack import Stack, on_free_ports
from support import (
    ROOT,
    TOKEN,
    client_for,
    extra_api,
    human_input_request,
    kickoff,
    resume,
    scrape,
    state_is,
    wait_for_metric,
    wait_status,
)

DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "crew-hitl.json"
WAITING = "crew_hitl_runs_waiting_for_input"
DECISIONS = "crew_hitl_review_decision_seconds_count"
METRICS_TOKEN = "metrics-token-6b1d"


def api_metrics(stack: Stack) -> str:
    return f"{stack.settings.api_url}/metrics"


def worker_metrics(stack: Stack) -> str:
    url = stack.settings.worker_metrics_url
    assert url is not None
    return url


def test_a_paused_run_is_in_the_gauge_until_its_decision(stack, api, receiver, tmp_path_factory):
    """strict_review has two tasks that wait for a person: the run moves from one to the
    other, and the gauge with it."""
    draft = {"crew": "strict_review", "task": "draft_task"}
    polish = {"crew": "strict_review", "task": "polish_task"}
    before = scrape(api_metrics(stack))
    drafts, polishes = before.value(WAITING, **draft), before.value(WAITING, **polish)
    inputs = {"subject": "gauges", "audience": "operators"}
    kickoff_id = kickoff(api, receiver, inputs=inputs, crew="strict_review")
    human_input_request(receiver, kickoff_id, 1)
    wait_for_metric(api_metrics(stack), lambda s: s.value(WAITING, **draft) == drafts + 1)

    # Counted from Temporal's visibility, not remembered: an API started now sees it too.
    fresh = extra_api(stack, tmp_path_factory)
    fresh_api = next(fresh)
    try:
        assert (
            scrape(str(fresh_api.base_url.join("/metrics"))).value(WAITING, **draft) == drafts + 1
        )
    finally:
        fresh.close()

    assert resume(api, kickoff_id, "draft_task", True).status_code == 200
    wait_for_metric(
        api_metrics(stack),
        lambda s: (s.value(WAITING, **draft), s.value(WAITING, **polish)) == (drafts, polishes + 1),
    )
    assert resume(api, kickoff_id, "polish_task", True).status_code == 200
    wait_status(api, kickoff_id, state_is("SUCCESS"))
    wait_for_metric(api_metrics(stack), lambda s: s.value(WAITING, **polish) == polishes)


def test_a_decision_adds_to_the_histogram_and_an_approval_records_its_rounds(stack, api, receiver):
    crew, task = "research", "research_task"
    before = scrape(worker_metrics(stack))
    kickoff_id = kickoff(api, receiver, inputs={"topic": "histograms"})
    human_input_request(receiver, kickoff_id, 1)
    assert resume(api, kickoff_id, task, False, "more").status_code == 200
    human_input_request(receiver, kickoff_id, 2)
    assert resume(api, kickoff_id, task, True).status_code == 200
    wait_status(api, kickoff_id, state_is("SUCCESS"))

    after = wait_for_metric(
        worker_metrics(stack),
        lambda s: (
            s.value("crew_hitl_runs_finished_total", crew=crew, outcome="completed")
            > before.value("crew_hitl_runs_finished_total", crew=crew, outcome="completed")
        ),
    )
    for verdict in ("rejected", "approved"):
        moved = after.value(DECISIONS, crew=crew, task=task, verdict=verdict)
        assert moved == before.value(DECISIONS, crew=crew, task=task, verdict=verdict) + 1
    rounds = {"crew": crew, "task": task}
    assert after.value("crew_hitl_review_rounds_count", **rounds) == (
        before.value("crew_hitl_review_rounds_count", **rounds) + 1
    )
    assert after.value("crew_hitl_review_rounds_sum", **rounds) == (
        before.value("crew_hitl_review_rounds_sum", **rounds) + 2
    )
    started = "crew_hitl_runs_started_total"
    assert after.value(started, crew=crew) == before.value(started, crew=crew) + 1
    # The workflow's metrics carry only their own labels, not the meter's.
    assert set(after.labels_of(started)[0]) == {"crew"}


def test_a_receiver_answering_500_counts_as_failed_then_gave_up(stack, api, receiver):
    receiver.answers["/broken"] = [500]
    event = {"event": "human_input_requested"}
    deliveries = "crew_hitl_webhook_deliveries_total"
    before = scrape(worker_metrics(stack))
    kickoff_id = kickoff(api, receiver, humanInputWebhook={"url": receiver.url("/broken")})
    status = wait_status(
        api,
        kickoff_id,
        lambda s: any(d["state"] == "gave_up" for d in s["deliveries"]),
        timeout=20,
    )
    [row] = [d for d in status["deliveries"] if d["event"] == event["event"]]
    after = scrape(worker_metrics(stack))

    def moved(name: str, **labels: str) -> float:
        return after.value(name, **event, **labels) - before.value(name, **event, **labels)

    assert moved(deliveries, outcome="failed") == row["attempts"] - 1
    assert moved(deliveries, outcome="gave_up") == 1
    assert moved(deliveries, outcome="delivered") == 0
    assert moved("crew_hitl_webhook_delivery_attempts_count") == 1
    assert moved("crew_hitl_webhook_delivery_attempts_sum") == row["attempts"] == 5
    assert resume(api, kickoff_id, "research_task", True).status_code == 200


def test_a_model_call_counts_its_tokens_by_model(stack, api, receiver, model_server):
    model = {"model": "metrics-test-model"}  # tests/crews/metrics_llm's alone
    subject = "metrics-tokens"
    before = scrape(worker_metrics(stack))
    kickoff_id = kickoff(api, receiver, inputs={"subject": subject}, crew="metrics_llm")
    human_input_request(receiver, kickoff_id, 1)
    after = scrape(worker_metrics(stack))

    def moved(name: str, **labels: str) -> float:
        return after.value(name, **model, **labels) - before.value(name, **model, **labels)

    tokens = "crew_hitl_model_tokens_total"
    assert moved(tokens, kind="prompt") + moved(tokens, kind="completion") == (
        model_server.tokens_for(subject)
    )
    assert moved(tokens, kind="completion") == 10
    assert moved("crew_hitl_model_calls_total", outcome="ok") == 1
    assert moved("crew_hitl_model_call_duration_seconds_count") == 1
    assert api.post(f"/stop/{kickoff_id}").status_code == 200


def test_a_crewai_projects_model_calls_are_counted(stack, api, receiver, model_server):
    """CrewAI's event bus reports each call of a crewai project (other runs of its crews may
    still be calling, hence at least)."""
    topic = "metrics-crewai-5e"
    calls, tokens = "crew_hitl_model_calls_total", "crew_hitl_model_tokens_total"
    before = scrape(worker_metrics(stack))
    kickoff_id = kickoff(api, receiver, {"topic": topic}, crew="research_crewai")
    human_input_request(receiver, kickoff_id, 1, timeout=90)
    after = scrape(worker_metrics(stack))
    assert api.post(f"/stop/{kickoff_id}").status_code == 200

    models = {labels["model"] for labels in after.labels_of(calls)} - {"test-model"}
    assert "unnamed" not in models

    def moved(name: str, **labels: str) -> float:
        return sum(
            after.value(name, model=model, **labels) - before.value(name, model=model, **labels)
            for model in models
        )

    assert moved(calls, outcome="ok") >= len(model_server.for_subject(topic)) > 0
    assert moved(tokens) >= model_server.tokens_for(topic) > 0
    assert moved("crew_hitl_model_call_duration_seconds_count") >= 1


def test_http_requests_are_counted_by_route_template(stack, api, receiver):
    kickoff_id = kickoff(api, receiver)
    route = {"method": "GET", "route": "/status/{kickoff_id}"}
    requests = "crew_hitl_http_requests_total"
    before = scrape(api_metrics(stack))
    assert api.get(f"/status/{kickoff_id}").status_code == 200
    assert api.get("/status/no-such-run-9f").status_code == 404
    assert httpx.get(f"{stack.settings.api_url}/status/{kickoff_id}").status_code == 401
    assert api.get("/no/such/path").status_code == 404
    after = scrape(api_metrics(stack))

    def moved(**labels: str) -> float:
        return after.value(requests, **labels) - before.value(requests, **labels)

    assert moved(**route, status="200") >= 1
    assert moved(**route, status="404") == 1
    assert moved(**route, status="401") == 1
    assert moved(route="(unmatched)", status="404") == 1
    assert after.value("crew_hitl_http_request_duration_seconds_count", **route) > 0
    routes = {labels["route"] for labels in after.labels_of(requests)}
    assert not any(kickoff_id in r or "no-such" in r for r in routes), routes
    assert all(r.startswith("/") or r == "(unmatched)" for r in routes), routes


def test_the_temporal_sdk_metrics_the_dashboard_reads_are_exported(stack, api, receiver):
    kickoff_id = kickoff(api, receiver, inputs={"topic": "sdk metrics"})
    human_input_request(receiver, kickoff_id, 1)  # after a workflow task and an activity
    names = scrape(worker_metrics(stack)).names()
    for name in m.SDK_METRICS_ON_DASHBOARD:
        assert name in names or f"{name}_count" in names, name


# ------------------------------------------------------------ a stack of its own


@pytest.fixture(scope="module")
def guarded_stack(settings, tmp_path_factory) -> Iterator[Stack]:
    """Metrics behind CREW_HITL_METRICS_TOKEN; the dev server suggests continue-as-new early."""
    tmp = tmp_path_factory.mktemp("metrics-token")
    mine = on_free_ports(settings, tmp / "data").model_copy(update={"metrics_token": METRICS_TOKEN})
    early = ["--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=40"]
    with Stack(mine, log_dir=tmp / "logs", temporal_args=early, throwaway=True) as running:
        yield running


@pytest.mark.parametrize("where", [api_metrics, worker_metrics])
def test_the_metrics_token_protects_both_endpoints(guarded_stack, where):
    url = where(guarded_stack)
    refused = [httpx.get(url), httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"})]
    for answer in refused:
        assert answer.status_code == 401
        assert answer.json()["error"] == "unauthorized"
        assert answer.headers["www-authenticate"] == "Bearer"
    assert METRICS_TOKEN not in refused[0].text
    names = scrape(url, METRICS_TOKEN).names()
    assert any(name.startswith(("crew_hitl_", "temporal_")) for name in names), names


def test_the_metrics_token_opens_nothing_else(guarded_stack):
    answer = httpx.get(
        f"{guarded_stack.settings.api_url}/executions",
        headers={"Authorization": f"Bearer {METRICS_TOKEN}"},
    )
    assert answer.status_code == 401


def test_a_run_that_continues_as_new_counts_one_start(guarded_stack, receiver):
    rejects = 6
    with client_for(guarded_stack) as api:
        body = {
            "crew": "long_review",
            "inputs": {"subject": "counting"},
            "humanInputWebhook": {"url": receiver.url("/long-metrics")},
        }
        kickoff_id = api.post("/kickoff", json=body).json()["kickoff_id"]
        for number in range(1, rejects + 2):
            human_input_request(receiver, kickoff_id, number, timeout=30)
            # The run continues between rounds only with no delivery under way: let the
            # request's delivery be recorded first, as a reviewer reading it would.
            wait_status(api, kickoff_id, lambda s: s["deliveries"][-1]["state"] == "delivered")
            approve = number > rejects
            answer = resume(api, kickoff_id, "draft_task", approve, "again", round=number)
            assert answer.status_code == 200, answer.text
        status = wait_status(api, kickoff_id, state_is("SUCCESS"), timeout=30)
    assert status["continued"] >= 1, "the run never continued as new"
    samples = scrape(worker_metrics(guarded_stack), METRICS_TOKEN)
    crew = {"crew": "long_review"}
    assert samples.value("crew_hitl_runs_started_total", **crew) == 1
    assert samples.value("crew_hitl_runs_finished_total", **crew, outcome="completed") == 1
    assert samples.value(DECISIONS, **crew, verdict="rejected") == rejects
    assert samples.value("crew_hitl_review_rounds_sum", **crew, task="draft_task") == rejects + 1


# ------------------------------------------------------------ the dashboard and deploy files


def exported_sample_names() -> set[str]:
    names = set()
    for spec in m.ALL:
        if spec.kind == "histogram":
            names |= {f"{spec.name}_bucket", f"{spec.name}_sum", f"{spec.name}_count"}
        else:
            names.add(spec.name)
    for name in m.SDK_METRICS_ON_DASHBOARD:
        names |= {name, f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    return names


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


METRIC_NAME = re.compile(r"\b(?:crew_hitl|temporal)_[a-z0-9_]+\b")


def test_the_dashboard_reads_only_metrics_the_service_exports():
    exprs = dashboard_exprs()
    used = {name for expr in exprs for name in METRIC_NAME.findall(expr)}
    assert used, "no metric found in the dashboard"
    assert used <= exported_sample_names(), used - exported_sample_names()
    # ... and shows every metric of the catalog.
    for spec in m.ALL:
        assert any(name.startswith(spec.name) for name in used), spec.name


def test_the_dashboards_labels_are_the_metrics_own():
    known = {label for spec in m.ALL for label in spec.labels} | {"le", "worker_type"}
    for expr in dashboard_exprs():
        for group in re.findall(r"by \(([^)]*)\)", expr):
            labels = {label.strip() for label in group.split(",")}
            assert labels <= known, (expr, labels - known)


def test_compose_runs_prometheus_and_grafana_under_the_observability_profile():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    for name in ("prometheus", "grafana"):
        assert services[name]["profiles"] == ["observability"]
    assert all("profiles" not in services[name] for name in ("api", "worker"))
    mounted = [volume.split(":")[0] for volume in services["prometheus"]["volumes"]]
    assert "./deploy/prometheus.yml" in mounted
    for volume in services["prometheus"]["volumes"] + services["grafana"]["volumes"]:
        source = volume.split(":")[0]
        assert not source.startswith("./") or (ROOT / source).exists(), source

    worker_env = services["worker"]["environment"]
    assert worker_env["CREW_HITL_WORKER_METRICS_HOST"] == "0.0.0.0"
    prometheus = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in prometheus["scrape_configs"]}
    [worker_sd] = jobs["crew-hitl-worker"]["dns_sd_configs"]
    assert worker_sd["names"] == ["worker"]
    assert worker_sd["port"] == int(worker_env["CREW_HITL_WORKER_METRICS_PORT"])
    [api_targets] = jobs["crew-hitl-api"]["static_configs"]
    assert api_targets["targets"] == [f"api:{services['api']['environment']['CREW_HITL_API_PORT']}"]


def test_grafana_provisions_the_datasource_the_dashboard_names():
    provisioning = ROOT / "deploy" / "grafana" / "provisioning"
    sources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    uids = {source["uid"] for source in sources["datasources"]}
    dashboard = json.loads(DASHBOARD.read_text())
    used = {
        target["datasource"]["uid"]
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    }
    assert used == uids
    providers = yaml.safe_load((provisioning / "dashboards" / "crew-hitl.yml").read_text())
    [provider] = providers["providers"]
    assert Path(provider["options"]["path"]).name == "dashboards"
