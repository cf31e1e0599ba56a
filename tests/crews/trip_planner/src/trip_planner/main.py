from trip_planner.crew import TripPlanner


def run():
    TripPlanner().crew().kickoff(inputs={"city": "Lisbon"})
