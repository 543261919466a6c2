"""How autogenerate renders dsar's own column types and what it leaves out (loaded by env.py and by the drift test)."""


def render_item(type_, obj, autogen_context):
    from dsar.models.base import UTCDateTime

    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def include_object(obj, name, type_, reflected, compare_to):
    """Leave out of autogenerate what it cannot compare: the sweep's expression indexes (models/people.py)."""
    from dsar.models.people import SWEEP_RULE_INDEXES

    return not (type_ == "index" and name in {index.name for index in SWEEP_RULE_INDEXES})
