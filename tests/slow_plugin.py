"""A plugin module (``MEDFUSE_PLUGINS=tests.slow_plugin``) that registers the strategies of
:mod:`tests.slow_strategies` in a ``medfuse`` command started by a test."""

from tests.slow_strategies import register_all

register_all()
