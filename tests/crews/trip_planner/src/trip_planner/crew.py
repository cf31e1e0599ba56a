from crewai import Agent, Crew, Process, Task
from crewai.agents.agent_builder.base_agent import BaseAgent
from crewai.project import CrewBase, agent, crew, task

from trip_planner.tools.custom_tool import DistanceTool


@CrewBase
class TripPlanner:
    """TripPlanner crew"""

    agents: list[BaseAgent]
    tasks: list[Task]

    @agent
    def scout(self) -> Agent:
        return Agent(config=self.agents_config["scout"], tools=[DistanceTool()], verbose=False)

    @agent
    def planner(self) -> Agent:
        return Agent(config=self.agents_config["planner"], verbose=False)

    @task
    def route_task(self) -> Task:
        return Task(config=self.tasks_config["route_task"])

    @task
    def plan_task(self) -> Task:
        return Task(config=self.tasks_config["plan_task"])

    @crew
    def crew(self) -> Crew:
        return Crew(agents=self.agents, tasks=self.tasks, process=Process.sequential, verbose=False)
