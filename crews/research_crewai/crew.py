"""A CrewAI project as `crewai create crew` would have it (flat layout): it runs unchanged under
plain CrewAI (`crewai run`) and as the crew `research_crewai` under crew-hitl, where
`human_input: true` on research_task is the pause for a reviewer."""

from crewai import Agent, Crew, Process, Task
from crewai.agents.agent_builder.base_agent import BaseAgent
from crewai.project import CrewBase, agent, crew, task
from tools.notes import save_note


@CrewBase
class ResearchCrew:
    """Research a topic, keep notes with a tool, and write a report."""

    agents: list[BaseAgent]
    tasks: list[Task]

    @agent
    def researcher(self) -> Agent:
        return Agent(config=self.agents_config["researcher"], tools=[save_note])

    @agent
    def reporting_analyst(self) -> Agent:
        return Agent(config=self.agents_config["reporting_analyst"])

    @task
    def research_task(self) -> Task:
        return Task(config=self.tasks_config["research_task"])

    @task
    def reporting_task(self) -> Task:
        return Task(config=self.tasks_config["reporting_task"])

    @crew
    def crew(self) -> Crew:
        return Crew(agents=self.agents, tasks=self.tasks, process=Process.sequential)
