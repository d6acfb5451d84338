"""Writes for the campaigns app, one module per sub-domain; the public names are here."""

from campaigns.services.caller_ids import (
    caller_id_register,
    caller_id_remove,
    verify_caller_id,
)
from campaigns.services.contacts import (
    contact_add,
    contact_list_create,
    contact_list_delete,
    contact_list_import,
)
from campaigns.services.demo import campaign_seed_demo
from campaigns.services.do_not_call import dnc_add, dnc_remove
from campaigns.services.lifecycle import (
    ALLOWED_TRANSITIONS,
    Actor,
    campaign_cancel_calls,
    campaign_complete_if_finished,
    campaign_create,
    campaign_materialize_batch,
    campaign_pause,
    campaign_start,
    campaign_stop,
    campaign_transition,
)
from campaigns.services.stats import campaign_stats_rebuild

__all__ = [
    "ALLOWED_TRANSITIONS",
    "Actor",
    "caller_id_register",
    "caller_id_remove",
    "campaign_cancel_calls",
    "campaign_complete_if_finished",
    "campaign_create",
    "campaign_materialize_batch",
    "campaign_pause",
    "campaign_seed_demo",
    "campaign_start",
    "campaign_stats_rebuild",
    "campaign_stop",
    "campaign_transition",
    "contact_add",
    "contact_list_create",
    "contact_list_delete",
    "contact_list_import",
    "dnc_add",
    "dnc_remove",
    "verify_caller_id",
]
