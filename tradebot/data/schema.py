"""Every table of the store: importing this module registers all of them on ``Base.metadata``.

The tables are declared in one module per concern (:mod:`tradebot.data.models` and the
``*_models`` modules beside it). A command imports only the modules whose tables it uses,
each of which imports the modules of the tables its foreign keys name; declaring all of
them costs a cold process about a tenth of a second (decision 0029). What needs the whole
schema imports this module: the Alembic environment and the schema checks of the tests.
"""

from __future__ import annotations

from tradebot.data import agent_models as _agent_models  # noqa: F401
from tradebot.data import api_models as _api_models  # noqa: F401
from tradebot.data import live_guard_models as _live_guard_models  # noqa: F401
from tradebot.data import live_models as _live_models  # noqa: F401
from tradebot.data import ml_decisions as _ml_decisions  # noqa: F401
from tradebot.data import model_registry as _model_registry  # noqa: F401
from tradebot.data import models as _models  # noqa: F401
from tradebot.data import ops_models as _ops_models  # noqa: F401
from tradebot.data import portfolio_models as _portfolio_models  # noqa: F401
from tradebot.data import run_market_models as _run_market_models  # noqa: F401
from tradebot.data import selector_models as _selector_models  # noqa: F401
from tradebot.data import selector_paper_models as _selector_paper_models  # noqa: F401
from tradebot.data import study_models as _study_models  # noqa: F401
from tradebot.data.base import Base

metadata = Base.metadata

__all__ = ["Base", "metadata"]
