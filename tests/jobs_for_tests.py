"""Jobs used only by the tests of the job interface."""
from dsar import audit
from dsar.actors import Actor
from dsar.extensions import db
from dsar.jobs import job


@job
def record_run(token: str) -> None:
    """Leave a trace in the database, visible whichever backend ran the job."""
    audit.record(Actor.system("test-job"), "job_ran", stream=f"test:{token}")
    db.session.commit()
