"""How autogenerate renders dsar's own column types (shared by env.py and the drift test)."""


def render_item(type_, obj, autogen_context):
    from dsar.models.base import UTCDateTime

    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False
