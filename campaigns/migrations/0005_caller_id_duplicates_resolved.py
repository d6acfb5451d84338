"""Before a number may belong to one organization only: resolve numbers registered by several.

The earliest registration keeps the number (first come: in the case the security probe found,
the later registration was the intruder). A later one that no campaign uses is deleted; one a
campaign uses cannot be (the campaign protects it), so it keeps its row but loses the number:
`phone_number` becomes `dup-<id>`, which is not a number (the carrier refuses to call from it),
and the label says what happened so its organization can register its own number. Nothing is
lost silently: the migration prints how many rows it changed.

A separate migration from the constraint: on PostgreSQL the deletes leave deferred foreign-key
checks pending, and a table with pending trigger events cannot be altered in the same
transaction.
"""

from django.db import migrations
from django.db.models import Count


def resolve_duplicate_caller_ids(apps, schema_editor):
    CallerId = apps.get_model("campaigns", "CallerId")
    Campaign = apps.get_model("campaigns", "Campaign")
    duplicated = list(
        CallerId.objects.values("phone_number")
        .annotate(registrations=Count("id"))
        .filter(registrations__gt=1)
        .values_list("phone_number", flat=True)
    )
    deleted = detached = 0
    for number in duplicated:
        later = list(CallerId.objects.filter(phone_number=number).order_by("created_at", "id"))[1:]
        for row in later:
            if Campaign.objects.filter(caller_id=row.pk).exists():
                row.phone_number = f"dup-{row.pk}"
                row.label = f"{number} is registered to another organization"[:100]
                row.is_default = False
                row.carrier_sid = ""
                row.save(update_fields=["phone_number", "label", "is_default", "carrier_sid"])
                detached += 1
            else:
                row.delete()
                deleted += 1
    if deleted or detached:
        print(
            f"\n  caller IDs registered by several organizations: {len(duplicated)} numbers; "
            f"{deleted} later registrations deleted, {detached} kept without their number "
            "(campaigns use them)."
        )


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0004_campaign_dialling_state"),
    ]

    operations = [
        migrations.RunPython(resolve_duplicate_caller_ids, migrations.RunPython.noop),
    ]
