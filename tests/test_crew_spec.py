"""Crew definitions in CrewAI's YAML and the placeholder rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from crew_hitl.spec import CrewLoadError, CrewRegistry, interpolate, load_crew

ROOT = Path(__file__).resolve().parent.parent


def write_crew(base: Path, agents: str, tasks: str) -> Path:
    base.mkdir(parents=True, exist_ok=True)
    (base / "agents.yaml").write_text(agents)
    (base / "tasks.yaml").write_text(tasks)
    return base


def test_the_research_crew_loads_in_file_order():
    crew = load_crew("research", ROOT / "crews" / "research")
    assert [t.name for t in crew.tasks] == ["research_task", "reporting_task"]
    assert [t.human_input for t in crew.tasks] == [True, False]
    assert crew.tasks[0].max_review_rounds == 10
    assert crew.placeholders() == ["topic"]
    assert not crew.tasks[0].description.endswith("\n")


def test_interpolation_replaces_only_identifiers():
    text = 'Study {topic} for {n} days; keep {"json": 1} and { spaced } and {missing}.'
    result = interpolate(text, {"topic": "tides", "n": 3})
    assert result == 'Study tides for 3 days; keep {"json": 1} and { spaced } and {missing}.'


def test_values_of_other_types_are_inserted_as_text():
    assert interpolate("{a}|{b}|{c}|{d}", {"a": True, "b": 1.5, "c": [1, "x"], "d": {"k": 1}}) == (
        'True|1.5|[1, "x"]|{"k": 1}'
    )


def test_interpolated_spec_covers_agents_and_tasks():
    crew = load_crew("research", ROOT / "crews" / "research").interpolated({"topic": "Bees"})
    assert crew.agents["researcher"].role == "Bees Senior Data Researcher"
    assert "about Bees" in crew.tasks[0].description
    assert crew.missing_inputs({}) == []
    assert load_crew("research", ROOT / "crews" / "research").missing_inputs({}) == ["topic"]


def test_unknown_context_task_is_an_error_at_load(tmp_path):
    crew_dir = write_crew(
        tmp_path / "bad",
        "a:\n  role: r\n",
        "t1:\n  description: d\n  agent: a\n  context: [nowhere]\n",
    )
    with pytest.raises(CrewLoadError, match="nowhere"):
        load_crew("bad", crew_dir)


def test_unknown_agent_is_an_error_at_load(tmp_path):
    crew_dir = write_crew(tmp_path / "bad", "a:\n  role: r\n", "t1:\n  agent: b\n")
    with pytest.raises(CrewLoadError, match="unknown agent 'b'"):
        load_crew("bad", crew_dir)


def test_broken_yaml_names_file_and_line_and_spares_other_crews(tmp_path):
    write_crew(tmp_path / "good", "a:\n  role: r\n", "t1:\n  agent: a\n")
    write_crew(tmp_path / "broken", "a:\n  role: r\n", "t1:\n  agent: a\n   bad: [\n")
    registry = CrewRegistry.load(tmp_path)
    assert list(registry.crews) == ["good"]
    assert "tasks.yaml:" in registry.errors["broken"]


def test_a_crewai_project_config_dir_is_found(tmp_path):
    write_crew(tmp_path / "proj" / "config", "a:\n  role: r\n", "t1:\n  agent: a\n")
    registry = CrewRegistry.load(tmp_path)
    assert [t.name for t in registry.crews["proj"].tasks] == ["t1"]


CREW_PY = """
from crewai import Agent, Crew, Task
from crewai.project import CrewBase, agent, crew, task


@CrewBase
class Writers:
    @agent
    def writer(self) -> Agent: ...

    @task
    def draft_task(self) -> Task: ...

    @task
    def polish_task(self) -> Task: ...

    @crew
    def crew(self) -> Crew: ...
"""
AGENTS = "writer:\n  role: Writer of {subject}\n  llm: openai/gpt-4o-mini\n"
TASKS = (
    "polish_task:\n  description: Polish.\n  agent: writer\n"
    "draft_task:\n  description: Draft on {subject}.\n  agent: writer\n  human_input: true\n"
)


def write_project(base: Path, crew_py: str = CREW_PY, tasks: str = TASKS) -> Path:
    write_crew(base / "config", AGENTS, tasks)
    (base / "crew.py").write_text(crew_py)
    return base


def test_a_crewai_project_loads_in_its_class_order_with_crewai_as_executor(tmp_path):
    crew = load_crew("writers", write_project(tmp_path / "writers"))
    assert crew.kind == "crewai"
    assert [t.name for t in crew.tasks] == ["draft_task", "polish_task"]
    assert crew.tasks[0].human_input is True
    assert crew.agents["writer"].executor == "crewai"
    assert crew.placeholders() == ["subject"]


def test_a_crew_py_without_a_crewbase_class_is_refused_naming_the_file(tmp_path):
    base = write_project(tmp_path / "plain", CREW_PY.replace("@CrewBase\n", ""))
    with pytest.raises(CrewLoadError, match=r"plain/crew\.py: expected one class decorated"):
        load_crew("plain", base)


def test_a_task_the_class_does_not_define_is_refused_and_the_others_load(tmp_path):
    write_project(tmp_path / "extra", tasks=TASKS + "review_task:\n  agent: writer\n")
    write_project(tmp_path / "fine")
    registry = CrewRegistry.load(tmp_path)
    assert "'review_task'" in registry.errors["extra"]
    assert "no @task method" in registry.errors["extra"]
    assert list(registry.crews) == ["fine"]
    assert registry.projects["fine"].crew_py == (tmp_path / "fine" / "crew.py").resolve()


def test_a_task_method_tasks_yaml_does_not_describe_is_refused(tmp_path):
    base = write_project(tmp_path / "short", tasks=TASKS.split("draft_task:")[0])
    with pytest.raises(CrewLoadError, match=r"defines @task 'draft_task', which tasks\.yaml"):
        load_crew("short", base)


@pytest.mark.parametrize(
    "review,reason",
    [
        ("{reviewers: [alice, bob], approvals: 3}", "approvals: 3 needed but only 2 reviewers"),
        (
            "{remind_after: 3d, decide_within: 2d, on_timeout: reject}",
            "remind_after is not before decide_within (2d)",
        ),
        ("{decide_within: 2d, on_timeout: later}", "review.on_timeout: Input should be"),
        ("{decide_within: 2d}", "decide_within and on_timeout go together"),
        ("{escalate_after: 4h}", "escalate_after and escalate_to go together"),
        ("{remind_after: soon}", "'soon' is not a duration"),
        ("{reviewers: [alice], owner: bob}", "review.owner: Extra inputs are not permitted"),
    ],
)
def test_a_review_policy_that_cannot_work_is_refused_naming_file_task_and_reason(
    tmp_path, review, reason
):
    tasks = f"t1:\n  agent: a\n  human_input: true\n  review: {review}\n"
    crew_dir = write_crew(tmp_path / "policy", "a:\n  role: r\n", tasks)
    with pytest.raises(CrewLoadError) as refused:
        load_crew("policy", crew_dir)
    assert "policy/tasks.yaml: task 't1': " in str(refused.value)
    assert reason in str(refused.value)


def test_a_review_policy_loads_with_its_durations(tmp_path):
    review = (
        "{reviewers: [alice, bob, carol], approvals: 2, remind_after: 30m, "
        "escalate_after: 4h, escalate_to: [dave], decide_within: 2d, on_timeout: reject}"
    )
    tasks = f"t1:\n  agent: a\n  human_input: true\n  review: {review}\n"
    crew = load_crew("policy", write_crew(tmp_path / "policy", "a:\n  role: r\n", tasks))
    policy = crew.tasks[0].review
    assert policy is not None
    assert (policy.approvals, policy.decide_within_seconds) == (2, 172800.0)
    assert policy.seconds("remind_after") == 1800.0
    assert policy.deciders(escalated=True) == ["alice", "bob", "carol", "dave"]
    assert policy.deciders(escalated=False) == ["alice", "bob", "carol"]


def test_a_review_policy_on_a_task_without_human_input_is_refused(tmp_path):
    tasks = "t1:\n  agent: a\n  review: {reviewers: [alice]}\n"
    crew_dir = write_crew(tmp_path / "policy", "a:\n  role: r\n", tasks)
    with pytest.raises(CrewLoadError, match="task 't1': review: a policy needs human_input: true"):
        load_crew("policy", crew_dir)
