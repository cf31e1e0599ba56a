"""CrewRunWorkflow's handlers by name, and the error types its `decide` update refuses with:
what the workflow declares and the API calls. The API names them from here rather than
through the workflow class, so it does not import the workflow and the activities behind
it (aiohttp, the executors: 10 MB of the API's resident memory)."""

RESUME_SIGNAL = "resume"
DECIDE_UPDATE = "decide"
STATUS_QUERY = "status"
DECISION_QUERY = "decision"
EVENTS_QUERY = "events"

# The error type of a `decide` update its validator refused.
DECISION_REFUSED = "DecisionRefused"
# ... and of one by a reviewer the task's review policy does not name.
NOT_ASSIGNED = "NotAssigned"
# ... and of an edited output the task's policy does not take.
EDIT_REFUSED = "EditRefused"
