"""Every service's declared surface (`consortium.apps.surface`): the API, console and docs
are built from these declarations."""

from __future__ import annotations

from consortium.apps.credit.surface import CREDIT
from consortium.apps.forum.surface import FORUM
from consortium.apps.governance_surface import GOVERNANCE
from consortium.apps.invoices.surface import INVOICES
from consortium.apps.registry.surface import REGISTRY
from consortium.apps.securities.surface import CASH, SECURITIES
from consortium.apps.surface import Service

SERVICES: tuple[Service, ...] = (REGISTRY, CREDIT, INVOICES, SECURITIES, CASH, FORUM)
# what the API serves: governance's reads (its consortium_* methods and /api/v1 routes) too
SURFACES: tuple[Service, ...] = (GOVERNANCE, *SERVICES)
