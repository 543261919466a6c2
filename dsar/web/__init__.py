"""The web surfaces: one blueprint per audience (``public``, ``backoffice``, ``tasks``, ``systems``), plus what
every page shares (``common``). The blueprints are put together by ``dsar.web.app.register_web``: this file imports
nothing, so that a module importing ``dsar.web.common`` loads no blueprint (and the API, which uses ``common``,
closes no cycle with the web layer that registers it)."""
