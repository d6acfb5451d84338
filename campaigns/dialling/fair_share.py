"""How one dispatcher tick splits the carrier account's calls between tenants (issue 15, item 3).

Every organization's campaigns and callbacks dial through one carrier account, whose CPS cap is
`CAMPAIGNS_ACCOUNT_CALLS_PER_SECOND`. Handing its tokens to campaigns one after another let one
tenant starve the others (with several campaigns it took most turns, and a turn took the whole
second). Each tick now plans first, then claims:

1. the tick's budget is what the account bucket can grant now, and no more than the
   deployment's free live calls (so capacity, when it is what is short, is shared the same way);
2. the budget is split between organizations by max-min fairness (water-filling): each gets an
   equal share, an organization that needs less than its share (few due contacts, its campaigns'
   own CPS, its operator-set cap) keeps only what it needs, and the rest is shared again among
   the others;
3. an organization's share goes to its due callbacks first (each was promised for a time), then
   to its running campaigns, split between them the same way (each within its own CPS, free
   concurrency and due contacts).

Shares are whole calls. When they do not divide evenly, the spare calls go one each in the
order the caller gives: `dispatch` puts first whoever dialled longest ago (so a slot that frees
under short capacity goes round the tenants) and rotates ties with the tick's second (so with
3 tenants sharing 10 CPS, the extra call goes round and each gets 3.33 a second over time).

The plan only decides how much each claim *asks* for. The buckets (`pacing.take_tokens`, with
the account's, the organization's and the campaign's) are what enforces every cap, so a second
dispatcher planning at the same time can never make a cap overflow; at worst it leaves a token
for the next tick.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

_NEVER = datetime.min.replace(tzinfo=UTC)


def water_fill[Key: Hashable](*, budget: int, demands: Mapping[Key, int]) -> dict[Key, int]:
    """Split `budget` whole calls between `demands` by max-min fairness.

    Nobody gets more than it asked for; whatever someone does not need goes to the others; the
    calls left when equal shares no longer divide go one each to the first in `demands`' order.
    """
    shares: dict[Key, int] = {key: 0 for key in demands}
    budget = max(0, budget)
    wanting = [key for key, demand in demands.items() if demand > 0]
    while budget > 0 and wanting:
        equal = budget // len(wanting)
        if equal == 0:
            for key in wanting[:budget]:
                shares[key] += 1
            break
        for key in wanting:
            given = min(equal, demands[key] - shares[key])
            shares[key] += given
            budget -= given
        wanting = [key for key in wanting if shares[key] < demands[key]]
    return shares


@dataclass
class OrganizationDemand:
    """What one organization could dial this tick."""

    callbacks: int = 0
    # campaign id -> calls it could place now (own CPS bucket, free concurrency, due contacts)
    campaigns: dict[int, int] = field(default_factory=dict)
    # What the organization's own bucket can grant now; None: no cap beyond the account's.
    cap: int | None = None

    @property
    def total(self) -> int:
        wanted = self.callbacks + sum(self.campaigns.values())
        return wanted if self.cap is None else min(wanted, self.cap)


@dataclass
class Plan:
    """Calls each organization's callbacks and each campaign may claim this tick."""

    callbacks: dict[int, int] = field(default_factory=dict)  # organization id -> calls
    campaigns: dict[int, int] = field(default_factory=dict)  # campaign id -> calls
    budget: int = 0  # the calls the tick had to split
    wanted: dict[int, int] = field(default_factory=dict)  # campaign id -> its demand

    def held_back(self, campaign_id: int) -> bool:
        """True when the campaign's share was less than it could have dialled."""
        return self.campaign_share(campaign_id) < self.wanted.get(campaign_id, 0)

    @property
    def unshared(self) -> int:
        """Calls of the budget nobody wanted (everyone's demand was met)."""
        return self.budget - sum(self.callbacks.values()) - sum(self.campaigns.values())

    def campaign_share(self, campaign_id: int) -> int:
        return self.campaigns.get(campaign_id, 0)


def plan_tick(*, budget: int, organizations: Mapping[int, OrganizationDemand]) -> Plan:
    """Split the tick's `budget` between organizations, then inside each one (spare calls go
    to the first in the mappings' order, organizations and campaigns alike)."""
    organization_shares = water_fill(
        budget=budget, demands={org: demand.total for org, demand in organizations.items()}
    )
    plan = Plan(budget=max(0, budget))
    for org, share in organization_shares.items():
        demand = organizations[org]
        callbacks = min(share, demand.callbacks)
        plan.callbacks[org] = callbacks
        plan.campaigns.update(water_fill(budget=share - callbacks, demands=demand.campaigns))
        plan.wanted.update(demand.campaigns)
    return plan


def turn_order(last_served: Mapping[int, datetime | None], *, turn: int) -> list[int]:
    """`last_served`'s keys, the one served longest ago (or never) first; ties in a rotation
    that `turn` moves on by one each tick."""
    keys = sorted(last_served)
    rank = {key: (index - turn) % len(keys) for index, key in enumerate(keys)}
    return sorted(keys, key=lambda key: (last_served[key] or _NEVER, rank[key]))
