"""The carrier side of a call: placing it exactly once (`placement`, after the `dial_gate`),
and applying what the carrier reports about it (`status`: status, AMD and recording webhooks)."""
