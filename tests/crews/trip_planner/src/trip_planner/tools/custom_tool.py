import os

from crewai.tools import BaseTool
from pydantic import BaseModel, Field


class DistanceInput(BaseModel):
    """Input schema for DistanceTool."""

    route: str = Field(..., description="The route to measure, as 'from - to'.")


class DistanceTool(BaseTool):
    name: str = "distance_tool"
    description: str = "Measures a route between two places and returns its length."
    args_schema: type[BaseModel] = DistanceInput

    def _run(self, route: str) -> str:
        log = os.environ.get("TRIP_TOOL_LOG")
        if log:
            with open(log, "a", encoding="utf-8") as handle:
                handle.write(route + "\n")
        return f"{route}: 42 km"
