"""A CrewAI project whose tool takes a few seconds: long enough to kill the worker running it.
The tool writes which worker process started it to SLOW_TOOL_LOG."""

import os
import time

from crewai import Agent, Crew, Task
from crewai.project import CrewBase, agent, crew, task
from crewai.tools import tool


@tool("slow_tool")
def slow_tool(subject: str) -> str:
    """Look a subject up, slowly."""
    with open(os.environ["SLOW_TOOL_LOG"], "a", encoding="utf-8") as log:
        log.write(f"{os.getpid()}\n")
    time.sleep(float(os.environ.get("SLOW_TOOL_SECONDS", "4")))
    return f"looked up by pid {os.getpid()}"


@CrewBase
class SlowCrew:
    @agent
    def looker(self) -> Agent:
        return Agent(config=self.agents_config["looker"], tools=[slow_tool])

    @task
    def look_task(self) -> Task:
        return Task(config=self.tasks_config["look_task"])

    @crew
    def crew(self) -> Crew:
        return Crew(agents=self.agents, tasks=self.tasks)
